"""Evaluation baselines on MNIST and CIFAR-10 with the domain feature networks.

For each data set, in one run and with one feature network (the recipe of ``features_recipes.py``,
trained first when its file is missing):

- **floor**: real training images vs the real test set — the FID/KID a perfect generator would get
  with this many samples (the estimators' own bias and the train/test gap);
- **ganforge**: ``ganforge.train("image", ...)`` with its defaults (bf16 autocast where the CPU has it,
  lazy R1, EMA generator, augmentation below 10k images) for a fixed time budget;
- **dcgan**: a plain DCGAN through the same engine for the same budget: the same DCGAN networks, BCE
  (non-saturating) loss, no R1, no augmentation, fp32, Adam(2e-4, 0.5, 0.999), raw generator weights
  (EMA half-life ~0).

Every generator is scored with ``n`` samples against the test split (FID, KID, precision/recall).
The budget is CPU time of the training process (``budget_clock="cpu"``), one thread each by default, so
that the two trainings get the same compute even when the shared machine's load changes between them.

    .venv/bin/python benchmarks/eval_baselines.py mnist --minutes 6
    .venv/bin/python benchmarks/eval_baselines.py all --minutes 6 --n 10000
    .venv/bin/python benchmarks/eval_baselines.py mnist --minutes 0.3 --n 500 --no-save     # smoke run
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_recipes import RECIPES, run_recipe  # noqa: E402
from record import ROOT, append_result, machine_facts  # noqa: E402

import ganforge  # noqa: E402
from ganforge.metrics.evaluate import evaluate  # noqa: E402
from ganforge.metrics.features import load_features  # noqa: E402

METRICS = ("fid", "kid", "pr")
DCGAN = dict(arch="dcgan", loss="ns", r1_gamma=0.0, augment=False, precision="fp32",
             beta1=0.5, beta2=0.999, ema_kimg=1e-6, ema_rampup=None)


def features_file(name: str, folder: Path, seed: int) -> tuple[Path, dict | None]:
    """The recipe's feature network, trained now when its file is missing (record returned then)."""
    path = folder / f"{name}.safetensors"
    if path.exists():
        return path, None
    return path, run_recipe(name, folder, None, None, seed)


def score(fake, test_data: str, extractor, n: int, seed: int, real_cache: dict | None) -> tuple[dict, dict]:
    result = evaluate(fake, test_data, METRICS, n=n, n_real=n, features=extractor, size=32, seed=seed,
                      real_stats=real_cache)
    return {k: round(float(v), 5) for k, v in result["scores"].items()}, result


def train(name: str, label: str, data: str, out: Path, minutes: float, threads: int, seed: int,
          extra: dict) -> tuple:
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    model = ganforge.train("image", data=data, out=out, overwrite=True, progress=False, size=32,
                           minutes=minutes, budget_clock="cpu", threads=threads, seed=seed, **extra)
    wall = time.perf_counter() - t0
    info = {"steps": model.meta.get("step"), "wall_seconds": round(wall, 1),
            "process_cpu_seconds": round(time.process_time() - cpu0, 1), "run": str(out),
            "options": {k: v for k, v in extra.items()}}
    print(f"{name}/{label}: {info['steps']} steps in {wall:.0f} s ({info['process_cpu_seconds']:.0f} CPU-s)",
          flush=True)
    return model, info


def run_dataset(name: str, args: argparse.Namespace) -> dict:
    recipe = RECIPES[name]
    train_data, test_data = str(recipe["data"]), str(recipe["test_data"])
    feat_path, feat_record = features_file(name, args.features_dir, args.seed)
    extractor = load_features(str(feat_path))
    out: dict = {"features": {"file": str(feat_path), "checksum": extractor.checksum,
                              "trained_now": feat_record}, "n": args.n, "budget_cpu_minutes": args.minutes,
                              "threads": args.threads}

    floor, first = score(train_data, test_data, extractor, args.n, args.seed, None)
    cache = first["real_cache"]
    out["floor"] = {"scores": floor, "protocol": first["protocol"]}
    print(f"{name}/floor (train vs test): {json.dumps(floor)}", flush=True)

    runs_dir = args.runs / name
    for label, extra in (("ganforge", {}), ("dcgan", DCGAN)):
        model, info = train(name, label, train_data, runs_dir / label, args.minutes, args.threads, args.seed,
                            extra)
        scores, _ = score(model, test_data, extractor, args.n, args.seed, cache)
        out[label] = {"scores": scores, **info}
        print(f"{name}/{label}: {json.dumps(scores)}", flush=True)
    return out


def table(results: dict) -> str:
    rows = [f"{'data':8s} {'model':9s} {'steps':>6s} {'FID':>8s} {'KID':>8s} {'prec':>6s} {'recall':>6s}"]
    for name, r in results.items():
        for label in ("floor", "ganforge", "dcgan"):
            s = r[label]["scores"]
            rows.append(f"{name:8s} {label:9s} {str(r[label].get('steps', '-')):>6s} {s['fid']:8.2f} "
                        f"{s['kid']:8.4f} {s['precision']:6.3f} {s['recall']:6.3f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", choices=[*RECIPES, "all"])
    p.add_argument("--minutes", type=float, default=6.0, help="training budget per generator, in CPU minutes")
    p.add_argument("--threads", type=int, default=1, help="torch threads per training")
    p.add_argument("--n", type=int, default=10_000, help="generated and real samples per score")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features-dir", type=Path, default=ROOT / "runs" / "features")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "eval_baselines")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results.json")
    p.add_argument("--no-save", action="store_true", help="do not append to the results file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    names = list(RECIPES) if args.dataset == "all" else [args.dataset]
    results, record = {}, {}
    for name in names:   # one record per data set, appended as soon as it is done
        load_start = os.getloadavg()[0]
        results[name] = run_dataset(name, args)
        record = machine_facts("eval_baselines", argv)
        record.update({"loadavg_start": round(load_start, 2), "loadavg_end": round(os.getloadavg()[0], 2),
                       "results": {name: results[name]}})
        if not args.no_save:
            append_result(record, args.results)
            print(f"appended to {args.results}")
    print(table(results))
    return record


if __name__ == "__main__":
    main()
