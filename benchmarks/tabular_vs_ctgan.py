"""ganforge's table GAN side by side with the ``ctgan`` package, independent-column resampling and a real holdout.

Tables: a seeded mixed-type table (10,000 rows x 10 columns: multimodal, skewed, integer, categorical with
rare levels, a dependent column, missing values, a binary target) and scikit-learn's bundled iris and
diabetes tables. Each is split 80/20 (seeded): generators train on the 80%, the 20% is the holdout.

Per table and method: fit time, time to sample 10,000 rows, fidelity (ganforge.metrics.tabular; the
holdout's own score is the ceiling), detection score, TSTR/TRTR with gradient-boosted trees, privacy
(DCR median, exact copies, membership-inference AUC) and, for generators, the share of rows that meet a
condition on the target column. CTGAN runs first; ganforge then gets the same wall-clock budget. CTGAN refuses missing values in
continuous columns, so it gets them filled with the column mean (its output then has none).

ctgan is optional: ``pip install --target DIR --no-deps ctgan rdt Faker pandas<3 pytz tqdm`` and run with
``PYTHONPATH=DIR`` (ctgan 0.12.1 needs pandas < 3; installing it into the venv would downgrade pandas).
Without it the comparison is ganforge vs independent columns vs the holdout.

    .venv/bin/python benchmarks/tabular_vs_ctgan.py [--ctgan-epochs 30] [--threads 1] [--tables mixed,iris,diabetes]

Figures are printed and appended, with machine facts and the command, to benchmarks/results_tabular.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ganforge  # noqa: E402
from ganforge.fileio import write_json  # noqa: E402
from ganforge.metrics.tabular import column_kinds, independent_columns, report  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_tabular.json"
SAMPLE_ROWS = 10_000


def mixed_table(n: int = 10_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mode = rng.random(n) < 0.35
    bimodal = np.where(mode, rng.normal(-2, 0.5, n), rng.normal(3, 1.0, n))
    city = np.where(bimodal > 0, rng.choice(["north", "south", "east"], n, p=[0.6, 0.3, 0.1]),
                    rng.choice(["west", "centre"], n, p=[0.7, 0.3]))
    levels = [f"L{i:02d}" for i in range(12)]
    p = 1 / np.arange(1, 13) ** 1.6
    p[-3:] = [0.004, 0.003, 0.002]
    age = rng.integers(18, 91, n)
    skew = rng.lognormal(1.0, 0.8, n)
    target = (0.8 * bimodal + 0.03 * (age - 50) + (city == "east") * 1.5 + rng.logistic(size=n) > 1.2).astype(int)
    return pd.DataFrame({
        "bimodal": bimodal,
        "skewed": skew,
        "count": rng.poisson(3 + 2 * mode, n),
        "age": age,
        "category": rng.choice(levels, n, p=p / p.sum()),
        "city": city,
        "flag": rng.random(n) < 0.2,
        "dependent": 1.5 * bimodal + 0.3 * skew + rng.normal(0, 0.5, n),
        "with_missing": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
        "target": target,
    })


def load_tables(names: list[str]) -> dict[str, tuple[pd.DataFrame, str]]:
    from sklearn.datasets import load_diabetes, load_iris

    out = {}
    if "mixed" in names:
        out["mixed10k"] = (mixed_table(), "target")
    if "iris" in names:
        out["iris"] = (load_iris(as_frame=True).frame, "target")
    if "diabetes" in names:
        out["diabetes"] = (load_diabetes(as_frame=True, scaled=False).frame, "target")
    return out


def summarise(rep: dict) -> dict:
    out = {"fidelity": round(rep["fidelity"]["score"], 4),
           "column_shapes": round(rep["fidelity"]["column_shapes"], 4),
           "pair_trends": round(rep["fidelity"]["pair_trends"], 4),
           "detection": round(rep["detection"]["score"], 4),
           "dcr_median": round(rep["privacy"]["dcr_median"]["synthetic"], 4),
           "dcr_median_holdout": round(rep["privacy"]["dcr_median"]["holdout"], 4),
           "exact_copies": round(rep["privacy"]["exact_copy_rate"]["synthetic"], 4),
           "mia_auc": round(rep["privacy"]["membership_inference_auc"], 4)}
    u = rep.get("utility")
    if u:
        key = "f1_macro" if u["task"] == "classification" else "r2"
        out["tstr_trees"] = round(u["boosted_trees"]["tstr"][key], 4)
        out["trtr_trees"] = round(u["boosted_trees"]["trtr"][key], 4)
        out["utility_metric"] = key
    return out


def run_table(name: str, df: pd.DataFrame, target: str, args, tmp: Path) -> dict:
    holdout = df.sample(frac=0.2, random_state=0)
    train = df.drop(holdout.index).reset_index(drop=True)
    holdout = holdout.reset_index(drop=True)
    kinds = column_kinds(train)
    discrete = [c for c, k in kinds.items() if k == "discrete"]
    level = train[target].value_counts().index[-1] if kinds[target] == "discrete" else None
    rows: dict[str, dict] = {}

    def evaluate(label: str, synth: pd.DataFrame, extra: dict) -> None:
        rep = report(train, synth, target=target, holdout=holdout, seed=0)
        rows[label] = {**extra, **summarise(rep)}
        if label == "holdout":  # utility and privacy of the holdout against itself mean nothing
            for k in ("tstr_trees", "dcr_median", "exact_copies", "mia_auc"):
                rows[label].pop(k, None)
        print(f"  {label:<12} " + "  ".join(f"{k}={v}" for k, v in rows[label].items()), flush=True)

    print(f"{name}: {len(train)} train rows, {len(holdout)} holdout, {df.shape[1]} columns; discrete {discrete}",
          flush=True)
    evaluate("holdout", holdout, {})
    evaluate("independent", independent_columns(train, SAMPLE_ROWS, seed=0), {})

    budget_s = args.budget_s
    try:
        from ctgan import CTGAN
    except ImportError:
        CTGAN = None
    if CTGAN is not None:
        epochs = args.ctgan_epochs if len(train) > 2000 else 300
        model = CTGAN(epochs=epochs, verbose=False)
        # CTGAN refuses missing values in continuous columns: they are filled with the column mean for it
        filled = train.fillna({c: train[c].mean() for c in train.columns
                               if kinds[c] == "numeric" and train[c].isna().any()})
        t = time.perf_counter()
        model.fit(filled, discrete_columns=discrete)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        synth = model.sample(SAMPLE_ROWS)
        sample_s = time.perf_counter() - t
        extra = {"fit_s": round(fit_s, 1), "sample_10k_s": round(sample_s, 2), "epochs": epochs}
        if level is not None:
            cond = model.sample(1000, condition_column=target, condition_value=level)
            extra["condition_met"] = round(float((cond[target] == level).mean()), 3)
        num = [c for c, k in kinds.items() if k == "numeric"]
        extra["outside_range"] = round(float(np.mean([((synth[c] < train[c].min()) | (synth[c] > train[c].max())).mean()
                                                     for c in num])), 4) if num else 0.0
        evaluate("ctgan", synth, extra)
        budget_s = fit_s
    t = time.perf_counter()
    model = ganforge.train("table", data=train, out=tmp / name, minutes=budget_s * args.share / 60, batch=500,
                           precision="fp32", threads=args.threads, progress=False, eval_every=args.eval_every,
                           checkpoint_every=10**9, log_every=100, overwrite=True)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    synth = model.sample(SAMPLE_ROWS, seed=0)
    sample_s = time.perf_counter() - t
    extra = {"fit_s": round(fit_s, 1), "sample_10k_s": round(sample_s, 2), "steps": model.meta["step"],
             "best_step": (model.meta.get("best") or {}).get("step")}
    if level is not None:
        t = time.perf_counter()
        cond = model.sample(1000, condition=f"{target}={level}", seed=1)
        extra["condition_met"] = round(float((cond[target] == level).mean()), 3)
        extra["condition_1k_s"] = round(time.perf_counter() - t, 2)
    num = [c for c, k in kinds.items() if k == "numeric"]
    extra["outside_range"] = round(float(np.mean([((synth[c] < train[c].min()) | (synth[c] > train[c].max())).mean()
                                                 for c in num])), 4) if num else 0.0
    evaluate("ganforge", synth, extra)
    return {"rows": len(train), "columns": df.shape[1], "target": target, "results": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="mixed,iris,diabetes")
    ap.add_argument("--ctgan-epochs", type=int, default=30, help="CTGAN epochs on tables over 2,000 rows (300 below)")
    ap.add_argument("--budget-s", type=float, default=60.0, help="ganforge's budget when ctgan is absent")
    ap.add_argument("--share", type=float, default=1.0, help="ganforge's training minutes as a share of CTGAN's fit time")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    start_load = os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (df, target) in load_tables(args.tables.split(",")).items():
            results[name] = run_table(name, df, target, args, Path(tmp))
    try:
        import ctgan
        peer = f"ctgan {ctgan.__version__}"
    except ImportError:
        peer = "ctgan not installed"
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "ganforge"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip())
    record = {"benchmark": "tabular_vs_ctgan", "command": "python " + " ".join(sys.argv), "config": vars(args),
              "peer": peer, "pandas": pd.__version__, "torch": torch.__version__, "threads": args.threads,
              "cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
              "loadavg_start": round(start_load, 2), "loadavg_end": round(os.getloadavg()[0], 2),
              "git_commit": commit, "git_dirty": dirty,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "tables": results}
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    write_json(RESULTS, old + [record])
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
