"""ganforge's series GAN on the TimeGAN sines (10,000 series, 5 features, length 24) in the TimeGAN protocol.

Reports the discriminative score (|accuracy - 0.5| of a post-hoc GRU, lower is better), the predictive score
(MAE of a GRU trained on synthetic data, tested on real, lower is better) and the autocorrelation gap, for
ganforge and for fresh real sines (the floor), beside the TimeGAN paper's published figures
(0.011 discriminative, 0.093 predictive). Results are appended to benchmarks/results_tabular.json.

    .venv/bin/python benchmarks/series_sines.py [--minutes 2] [--threads 1]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ganforge  # noqa: E402
from ganforge.data.series import sines  # noqa: E402
from ganforge.fileio import write_json  # noqa: E402
from ganforge.metrics.series import autocorrelation_gap, discriminative_score, predictive_score  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_tabular.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    real = sines(args.n, seed=1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        model = ganforge.train("series", data=f"builtin:sines?n={args.n}&seed=0", out=Path(tmp) / "run",
                               minutes=args.minutes, batch=128, precision="fp32", threads=args.threads,
                               progress=False, eval_every=10**9, checkpoint_every=10**9, log_every=100)
        fit_s = time.perf_counter() - t
        synth, _, _ = model.sample_arrays(args.n, seed=0)
        steps = model.meta["step"]
    for name, data in (("ganforge", synth), ("real_fresh", sines(args.n, seed=2))):
        t = time.perf_counter()
        out[name] = {"discriminative": round(discriminative_score(real, data), 4),
                     "predictive": round(predictive_score(real, data), 4),
                     "acf_gap": round(autocorrelation_gap(real, data), 4), "score_s": round(time.perf_counter() - t, 1)}
        print(name, out[name], flush=True)
    out["ganforge"].update(fit_s=round(fit_s, 1), steps=steps)
    record = {"benchmark": "series_sines", "command": "python " + " ".join(sys.argv), "config": vars(args),
              "threads": args.threads, "cpus": os.cpu_count(), "loadavg_end": round(os.getloadavg()[0], 2),
              "timegan_paper": {"discriminative": 0.011, "predictive": 0.093},
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "results": out}
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    write_json(RESULTS, old + [record])
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
