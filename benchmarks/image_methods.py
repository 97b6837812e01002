"""What the image-GAN benchmarks share: the methods compared (option sets), one training run per method that writes
model snapshots at given CPU-minute marks, and the domain feature networks they are scored with.

Every training runs through ``ganforge.train`` with ``budget_clock="cpu"`` (CPU time of the training process) and
one thread unless asked otherwise, so that methods get the same compute on a shared machine. Snapshots are model
files written from inside the training loop (``TrainState.export``) when the budget's clock passes each mark;
they are scored after training, so evaluation never eats into a training budget.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ganforge  # noqa: E402
from ganforge.engine import Callback  # noqa: E402

#: eval_baselines.py's plain DCGAN: BCE (ns), no R1, no augmentation, fp32, Adam(2e-4, 0.5, 0.999), no EMA
PLAIN_DCGAN = dict(arch="dcgan", loss="ns", r1_gamma=0.0, augment=False, precision="fp32",
                   beta1=0.5, beta2=0.999, ema_kimg=1e-6, ema_rampup=None)

#: name -> ganforge.train options; "default" is whatever the budget-aware rule picks (reported per run)
METHODS: dict[str, dict] = {
    "dcgan-plain": PLAIN_DCGAN,
    "default": {},
    "dcgan+rpgan": dict(arch="dcgan", loss="rpgan"),
    "resnet+rpgan": dict(arch="resnet", loss="rpgan"),
    "r3+rpgan": dict(arch="r3", loss="rpgan"),
    "r3+ns": dict(arch="r3", loss="ns"),
    "light+rpgan": dict(arch="light", loss="rpgan"),
    "light+hinge": dict(arch="light", loss="hinge"),
}


class Snapshots(Callback):
    """Export the model at each CPU-minute mark of the run (``snap-<minutes>.safetensors`` in ``folder``)."""

    def __init__(self, folder: Path, minutes: list[float]):
        self.folder = Path(folder)
        self.todo = sorted(minutes)
        self.done: dict[float, dict] = {}

    def on_step(self, state) -> None:
        while self.todo and state.elapsed >= self.todo[0] * 60:
            m = self.todo.pop(0)
            path = state.export(self.folder / f"snap-{m:g}.safetensors")
            self.done[m] = {"file": str(path), "step": state.step, "cpu_seconds": round(state.elapsed, 1)}


def train_with_snapshots(label: str, data: str, out: Path, budgets: list[float], threads: int, seed: int,
                         options: dict, **fixed) -> dict:
    """One training run of ``max(budgets)`` CPU-minutes; returns what it did and its snapshot files."""
    snaps = Snapshots(out / "snapshots", budgets)
    t0, cpu0 = time.perf_counter(), time.process_time()
    model = ganforge.train("image", data=data, out=out, overwrite=True, progress=False, minutes=max(budgets),
                           budget_clock="cpu", threads=threads, seed=seed, eval_every=10**9,
                           checkpoint_every=10**9, callbacks=[snaps], **fixed, **options)
    opt = model.meta["options"]
    info = {"steps": model.meta.get("step"), "wall_seconds": round(time.perf_counter() - t0, 1),
            "process_cpu_seconds": round(time.process_time() - cpu0, 1), "run": str(out),
            "given": {k: v for k, v in options.items()},
            "resolved": {k: opt[k] for k in ("arch", "loss", "width", "augment", "r1_gamma", "r1_interval")},
            "snapshots": {f"{m:g}": s for m, s in snaps.done.items()}}
    print(f"{label}: {info['steps']} steps in {info['wall_seconds']:.0f} s wall "
          f"({info['process_cpu_seconds']:.0f} CPU-s); {json.dumps(info['resolved'])}", flush=True)
    return info


def features_for(name: str, folder: Path, seed: int, epochs: float | None = None) -> Path:
    """The domain feature network of recipe ``name`` (features_recipes.py), trained now when its file is missing
    (``epochs``: a shorter recipe, for smoke runs)."""
    from features_recipes import run_recipe

    path = folder / f"{name}.safetensors"
    if not path.exists():
        print(f"training the {name} feature network into {path}", flush=True)
        run_recipe(name, folder, epochs, None, seed)
    return path


def parse_list(text: str, cast=str) -> list:
    return [cast(x.strip()) for x in text.split(",") if x.strip()]
