"""ganforge's series GAN on the TimeGAN sines (10,000 series, 5 features, length 24) in the TimeGAN protocol,
at a short and a long CPU-time budget (issue 19).

Trains ``series`` on ``builtin:sines?n=10000&seed=0`` with ``budget_clock="cpu"``: first for the shortest of
``--minutes``, then resumed to each longer one (one run, scored at every budget). Reports the discriminative
score (|accuracy - 0.5| of a post-hoc GRU, lower is better), the predictive score (MAE on real series of a GRU
trained on synthetic ones, lower is better) and the autocorrelation gap, against held-out real sines (seed 1),
beside fresh real sines (seed 2: the floor, and the predictive score of real data) and the TimeGAN paper's
figures (0.011 discriminative, 0.093 predictive). Appends to benchmarks/results_modalities.json.

    flock /tmp/ganforge-cpu.lock env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_sines.py \
        --minutes 5,20 [--option lr_g=2e-4 --option global_head=false ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from ganforge.data.series import sines  # noqa: E402
from ganforge.metrics.series import autocorrelation_gap, discriminative_score, predictive_score  # noqa: E402
from record import append_result, machine_facts, parse_options  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_modalities.json"


def scores(real, data) -> dict:
    t = time.process_time()
    return {"discriminative": round(discriminative_score(real, data), 4), "predictive": round(predictive_score(real, data), 4),
            "acf_gap": round(autocorrelation_gap(real, data), 4), "score_cpu_s": round(time.process_time() - t, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="5,20", help="CPU-minute budgets, scored in one resumed run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--option", action="append", default=[], help="task or run option key=value (repeatable)")
    ap.add_argument("--out", default=None, help="keep the run folder here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    budgets = sorted(float(m) for m in args.minutes.split(","))
    options = parse_options(args.option)
    real = sines(args.n, seed=1)
    results: dict = {"real_fresh": scores(real, sines(args.n, seed=2)), "budgets": {}}
    print("real_fresh", results["real_fresh"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        for i, minutes in enumerate(budgets):
            t = time.process_time()
            if i == 0:
                model = ganforge.train("series", data=f"builtin:sines?n={args.n}&seed=0", out=out, overwrite=True,
                                       minutes=minutes, budget_clock="cpu", batch=args.batch, threads=args.threads,
                                       progress=False, eval_every=10**9, checkpoint_every=10**9, log_every=100,
                                       **options)
            else:
                model = ganforge.resume(out, minutes=minutes, progress=False)
            fit_cpu_s = time.process_time() - t
            synth, _, _ = model.sample_arrays(args.n, seed=0)
            r = dict(scores(real, synth), steps=model.meta["step"], fit_cpu_s=round(fit_cpu_s, 1))
            results["budgets"][f"{minutes:g}"] = r
            print(f"ganforge {minutes:g} CPU-min: {r}", flush=True)
    print(f"{'':>22} {'discriminative':>14} {'predictive':>10} {'acf gap':>8}")
    rows = [("real (fresh)", results["real_fresh"])]
    rows += [(f"ganforge {k} CPU-min", v) for k, v in results["budgets"].items()]
    rows += [("TimeGAN paper", {"discriminative": 0.011, "predictive": 0.093, "acf_gap": float("nan")})]
    for name, r in rows:
        print(f"{name:>22} {r['discriminative']:>14.4f} {r['predictive']:>10.4f} {r['acf_gap']:>8.4f}")
    record = dict(machine_facts("series_sines"), config=vars(args), options=options,
                  timegan_paper={"discriminative": 0.011, "predictive": 0.093}, results=results)
    append_result(record, RESULTS)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
