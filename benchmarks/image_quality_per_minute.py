"""Image quality per CPU-minute on MNIST and CIFAR-10 at 32 px: the plain DCGAN baseline, ganforge's default, and
each new architecture/loss combination, as curves over training time.

For each data set and method (``--methods``, see ``image_methods.METHODS``) ONE training run of
``max(--budgets)`` CPU-minutes (``budget_clock="cpu"``, ``--threads`` threads) writes a model snapshot when its
clock passes each budget (default 5, 10, 20, 40 CPU-minutes). After training, every snapshot is scored with the
data set's domain feature network (``features_recipes.py``; trained first when its file is missing) against the
test split: FID, KID and precision/recall (``--eval-n`` generated vs ``--eval-n`` real images, default 10,000).

It prints the curves as a table, draws them (FID and recall against CPU-minutes, one panel per data set) as a
PNG (``--figure``), and reports for each method the CPU-minutes it needed to reach the FID the plain DCGAN had at
its last budget (the first snapshot at or below it, and a log-linear interpolation between snapshots).

    .venv/bin/python benchmarks/image_quality_per_minute.py                      # everything: ~11 h on one core
    .venv/bin/python benchmarks/image_quality_per_minute.py --datasets mnist --methods dcgan-plain,default,r3+rpgan
    .venv/bin/python benchmarks/image_quality_per_minute.py --datasets mnist --budgets 0.1,0.2 --eval-n 200 \\
        --features-dir /tmp/feat --features-epochs 0.05 --work /tmp/qpm --no-save           # smoke run

Training takes len(methods) x max(budgets) CPU-minutes per data set; scoring ~1 minute per snapshot at 10k.
Figures are appended, with machine facts and the command, to benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_recipes import RECIPES  # noqa: E402
from image_methods import METHODS, features_for, parse_list, train_with_snapshots  # noqa: E402
from record import RESULTS, ROOT, append_result, machine_facts  # noqa: E402

import ganforge  # noqa: E402
from ganforge.metrics.evaluate import evaluate  # noqa: E402
from ganforge.metrics.features import load_features  # noqa: E402

BASELINE = "dcgan-plain"


def minutes_to_reach(curve: list[tuple[float, float]], target: float) -> tuple[float | None, float | None]:
    """(first budget whose FID <= target, log-linear estimate between the snapshots around it); None when never."""
    first = next((m for m, fid in curve if fid <= target), None)
    if first is None:
        return None, None
    prev = [(m, f) for m, f in curve if m < first]
    if not prev:
        return first, first
    (m0, f0), f1 = prev[-1], dict(curve)[first]
    if f0 == f1:
        return first, first
    t = (f0 - target) / (f0 - f1)   # fraction of the way from m0 to first, in log-minutes
    return first, round(math.exp(math.log(m0) + t * (math.log(first) - math.log(m0))), 2)


def run_dataset(name: str, args: argparse.Namespace) -> dict:
    recipe = RECIPES[name]
    train_data, test_data = str(recipe["data"]), str(recipe["test_data"])
    extractor = load_features(str(features_for(name, args.features_dir, args.seed, args.features_epochs)))
    out: dict = {"features": {"name": extractor.name, "checksum": extractor.checksum}, "eval_n": args.eval_n,
                 "budgets_cpu_minutes": args.budgets, "threads": args.threads, "methods": {}}
    cache = None
    for method in args.methods:
        info = train_with_snapshots(f"{name}/{method}", train_data, args.work / name / method, args.budgets,
                                    args.threads, args.seed, METHODS[method], size=32)
        curve = {}
        for minutes, snap in info["snapshots"].items():
            model = ganforge.load(snap["file"])
            result = evaluate(model, test_data, ("fid", "kid", "pr"), n=args.eval_n, n_real=args.eval_n,
                              features=extractor, size=32, seed=args.seed, real_stats=cache)
            cache = result.get("real_cache", cache)
            scores = {k: round(float(v), 5) for k, v in result["scores"].items()}
            curve[minutes] = {**scores, "step": snap["step"]}
            print(f"{name}/{method} @ {minutes} CPU-min (step {snap['step']}): {json.dumps(scores)}", flush=True)
        out["methods"][method] = {**info, "curve": curve}
    base = out["methods"].get(BASELINE)
    if base and base["curve"]:
        target = base["curve"][max(base["curve"], key=float)]["fid"]
        out["baseline_final_fid"] = target
        for method, r in out["methods"].items():
            pts = sorted((float(m), c["fid"]) for m, c in r["curve"].items())
            first, estimate = minutes_to_reach(pts, target)
            r["cpu_minutes_to_baseline_fid"] = {"first_snapshot": first, "interpolated": estimate}
    return out


def table(results: dict, budgets: list[float]) -> str:
    cols = [f"{b:g}" for b in budgets]
    lines = [f"{'data':8s} {'method':14s} " + " ".join(f"{'FID@' + c:>10s}" for c in cols)
             + f" {'recall@' + cols[-1]:>11s} {'min->base':>10s}"]
    for name, r in results.items():
        for method, m in r["methods"].items():
            fids = [m["curve"].get(c, {}).get("fid") for c in cols]
            last = m["curve"].get(cols[-1], {})
            reach = m.get("cpu_minutes_to_baseline_fid", {}).get("interpolated")
            lines.append(f"{name:8s} {method:14s} " + " ".join(f"{f:10.2f}" if f is not None else f"{'-':>10s}"
                                                             for f in fids)
                         + f" {last.get('recall', float('nan')):11.3f} {reach if reach is not None else '-':>10}")
    return "\n".join(lines)


def figure(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from ganforge.imaging.media import save_figure

    fig, axes = plt.subplots(2, len(results), figsize=(5.5 * len(results), 7), squeeze=False)
    for col, (name, r) in enumerate(results.items()):
        for method, m in r["methods"].items():
            pts = sorted((float(k), v) for k, v in m["curve"].items())
            if not pts:
                continue
            xs = [p[0] for p in pts]
            style = dict(marker="o", linewidth=1.4, label=method, linestyle="--" if method == BASELINE else "-")
            axes[0][col].plot(xs, [p[1]["fid"] for p in pts], **style)
            axes[1][col].plot(xs, [p[1]["recall"] for p in pts], **style)
        for row, what in enumerate(("FID (domain features, lower is better)", "recall (mode coverage)")):
            ax = axes[row][col]
            ax.set_xscale("log")
            ax.set_xticks(r["budgets_cpu_minutes"])
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("CPU-minutes of training")
            ax.set_title(f"{name}: {what}", fontsize=10)
            ax.grid(alpha=0.3)
        if "baseline_final_fid" in r:
            axes[0][col].axhline(r["baseline_final_fid"], color="grey", linewidth=0.8)
        axes[0][col].set_yscale("log")
        axes[0][col].yaxis.set_major_formatter(ScalarFormatter())
        axes[0][col].yaxis.set_minor_formatter(NullFormatter())
        axes[0][col].legend(fontsize=7)
    return save_figure(fig, path, dpi=100)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="mnist,cifar10", help="comma list of mnist, cifar10")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    p.add_argument("--budgets", default="5,10,20,40", help="snapshot marks in CPU-minutes (the run lasts the largest)")
    p.add_argument("--eval-n", type=int, default=10_000, help="generated and real images per score")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features-dir", type=Path, default=ROOT / "runs" / "features")
    p.add_argument("--features-epochs", type=float, default=None, help="a shorter feature recipe (smoke runs only)")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_quality_per_minute")
    p.add_argument("--figure", type=Path, default=None, help="PNG of the curves (default: WORK/quality_per_minute.png)")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--no-save", action="store_true", help="do not append to the results file")
    args = p.parse_args(argv)
    args.datasets = parse_list(args.datasets)
    args.methods = parse_list(args.methods)
    args.budgets = sorted(parse_list(args.budgets, float))
    unknown = [m for m in args.methods if m not in METHODS] + [d for d in args.datasets if d not in RECIPES]
    if unknown:
        p.error(f"unknown method or data set {unknown[0]!r}")
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    results = {name: run_dataset(name, args) for name in args.datasets}
    print(table(results, args.budgets))
    for name, r in results.items():
        if "baseline_final_fid" in r:
            print(f"{name}: CPU-minutes to reach the plain DCGAN's final FID {r['baseline_final_fid']:.2f}: " +
                  ", ".join(f"{m} {v['cpu_minutes_to_baseline_fid']['interpolated']}"
                            for m, v in r["methods"].items()))
    fig = figure(results, args.figure or args.work / "quality_per_minute.png")
    print(f"wrote {fig}")
    record = machine_facts("image_quality_per_minute", argv)
    record.update({"loadavg_start": round(load_start, 2), "loadavg_end": round(os.getloadavg()[0], 2),
                   "figure": str(fig), "results": results})
    if not args.no_save:
        append_result(record, args.results)
        print(f"appended to {args.results}")
    return record


if __name__ == "__main__":
    main()
