"""Domain feature network recipes: train on MNIST and CIFAR-10, report held-out and test accuracy and time.

Each recipe trains ``train_domain_features`` on the data set's training split (10% of it held out for
validation), scores the official test split, saves the network to ``--out`` (default ``runs/features/``,
where ``ganforge evaluate --features runs/features/mnist.safetensors`` can use it) and appends one record
to benchmarks/results.json. Budgets are set for a 2-core CPU: MNIST ~2-3 minutes (goal: >= 98% test
accuracy), CIFAR-10 ~5 minutes (a small VGG-style network, so expect well below state-of-the-art).

    .venv/bin/python benchmarks/features_recipes.py mnist
    .venv/bin/python benchmarks/features_recipes.py cifar10
    .venv/bin/python benchmarks/features_recipes.py all --threads 2
    .venv/bin/python benchmarks/features_recipes.py mnist --epochs 0.2 --no-save     # smoke run
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import DATA, RESULTS, ROOT, append_result, machine_facts  # noqa: E402

from ganforge.metrics.features import train_domain_features  # noqa: E402

RECIPES: dict[str, dict] = {
    "mnist": {
        "data": DATA / "mnist",  # the IDX folder: the train split is picked
        "test_data": DATA / "mnist" / "t10k-images-idx3-ubyte.gz",
        "size": 28, "epochs": 3, "minutes": 5, "batch": 128, "lr": 3e-3,
        "stages": ((32, 1), (64, 2), (128, 2)), "feature_dim": 256,
        "goal_test_accuracy": 0.98,
    },
    "cifar10": {
        "data": DATA / "cifar10" / "train.zip",
        "test_data": DATA / "cifar10" / "test.zip",
        "size": 32, "epochs": 12, "minutes": 4.5, "batch": 128, "lr": 3e-3,
        "stages": ((32, 2), (64, 2), (128, 2)), "feature_dim": 256,
        "goal_test_accuracy": None,
    },
}


def run_recipe(name: str, out_dir: Path, epochs: float | None, minutes: float | None, seed: int) -> dict:
    recipe = dict(RECIPES[name])
    goal = recipe.pop("goal_test_accuracy")
    if epochs is not None:
        recipe["epochs"] = epochs
    if minutes is not None:
        recipe["minutes"] = minutes
    for key in ("data", "test_data"):
        if not Path(recipe[key]).exists():
            sys.exit(f"{name}: {recipe[key]} not found (shared data: ../shared/data or $GANFORGE_SHARED_DATA)")
    t0 = time.perf_counter()
    options = {k: v for k, v in recipe.items() if k not in ("data", "test_data")}
    result = train_domain_features(str(recipe["data"]), out_dir / f"{name}.safetensors",
                                   test_data=str(recipe["test_data"]), name=name, seed=seed, **options)
    wall = time.perf_counter() - t0
    meta = result.meta
    record = {
        "recipe": name, "mode": result.mode, "val_accuracy": round(result.val_accuracy, 4),
        "test_accuracy": round(result.test_accuracy, 4), "goal_test_accuracy": goal,
        "meets_goal": None if goal is None else result.test_accuracy >= goal,
        "train_seconds": meta["training"]["seconds"], "total_seconds": round(wall, 1),
        "epochs_done": round(result.epochs, 2), "steps": result.steps,
        "train_imgs_per_s": round(result.images_per_s, 1),
        "n_train": meta["data"]["n"] - meta["data"]["held_out"], "n_val": meta["data"]["held_out"],
        "n_test": meta["test_data"]["n"], "data_fingerprint": meta["data"]["fingerprint"],
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in recipe.items()},
        "precision": meta["training"]["precision"], "file": str(result.path),
    }
    goal_text = "" if goal is None else f" (goal {goal:.0%}: {'met' if record['meets_goal'] else 'MISSED'})"
    print(f"{name}: test accuracy {result.test_accuracy:.4f}{goal_text}, held-out {result.val_accuracy:.4f}; "
          f"{result.epochs:.2f} epochs in {meta['training']['seconds']:.0f} s of training "
          f"({result.images_per_s:.0f} imgs/s), {wall:.0f} s with loading; saved {result.path}", flush=True)
    return record


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe", choices=[*RECIPES, "all"])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "features", help="folder for the .safetensors files")
    p.add_argument("--epochs", type=float, default=None, help="override the recipe's epochs")
    p.add_argument("--minutes", type=float, default=None, help="override the recipe's time cap")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--no-save", action="store_true", help="do not append to the results file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.threads:
        torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    names = list(RECIPES) if args.recipe == "all" else [args.recipe]
    runs = [run_recipe(n, args.out, args.epochs, args.minutes, args.seed) for n in names]
    record = machine_facts("features_recipes", argv)
    record.update({"loadavg_start": round(load_start[0], 2), "loadavg_end": round(os.getloadavg()[0], 2),
                   "results": {r["recipe"]: r for r in runs}})
    print(f"load average {load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    if not args.no_save:
        append_result(record, args.results)
        print(f"appended to {args.results}")
    return record


if __name__ == "__main__":
    main()
