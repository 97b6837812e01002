"""A short CUDA check of every image architecture: a few real training steps with bf16 autocast, their throughput,
peak memory, finite losses, and samples from the EMA generator.

For each architecture (``--archs``, default all) and side (``--sizes``, default 64 and 256) it builds the real
``Trainer`` on synthetic images with the options the budget-aware rule picks on CUDA (r3: rpgan, two blocks per
resolution; light: hinge + reconstruction; widths of the CUDA column), runs ``--warmup`` steps, then times
``--steps`` steps (``torch.cuda.synchronize`` around them) and reports imgs/s and peak memory. Lazy R1/R2 steps fall
inside the timed window at their own rate. Without CUDA it says so and exits with status 0.

    .venv/bin/python benchmarks/gpu_check.py                         # ~2-4 minutes on one GPU
    .venv/bin/python benchmarks/gpu_check.py --sizes 32,128 --archs r3,light --steps 30

Figures are printed and appended, with machine facts and the command, to benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import RESULTS, append_result, machine_facts  # noqa: E402

from ganforge import nets  # noqa: E402
from ganforge.config import RunConfig  # noqa: E402
from ganforge.data.imageset import ImageSet  # noqa: E402
from ganforge.engine import Trainer  # noqa: E402
from ganforge.tasks.generate import ImageGeneration, ImageOptions  # noqa: E402

NEVER = 10**9


def check(arch: str, size: int, batch: int, steps: int, warmup: int, precision: str, folder: Path,
          device: str = "cuda") -> dict:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (max(4 * batch, 256), 3, size, size), dtype=torch.uint8, generator=gen)
    run = RunConfig(out=str(folder), steps=1, batch=batch, device=device, precision=precision, log_every=1,
                    eval_every=NEVER, checkpoint_every=NEVER)
    task = ImageGeneration(ImageOptions(data="synthetic", size=size, arch=arch, augment="off"),
                           data=ImageSet(images, source="synthetic:uniform-noise"), run=run)
    trainer = Trainer(task, run, folder)
    trainer._setup()
    trainer.callbacks = []
    opt = task.options

    def steps_of(n: int) -> None:
        trainer.run.steps = trainer.step + n
        trainer._loop()

    steps_of(warmup)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    steps_of(steps)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t
    record = trainer.last_record
    losses = {k: round(float(v), 4) for k, v in record.items() if k.startswith("loss/")}
    with torch.no_grad():
        G = task.standing(trainer.ema.shadow)
        z = torch.randn(8, opt.z_dim, device=trainer.device)
        sample = G(z)
    return {"arch": arch, "size": size, "batch": batch, "loss": opt.loss, "width": opt.width, "blocks": opt.blocks,
            "precision": trainer.rt.precision, "steps": steps, "imgs_per_s": round(steps * batch / dt, 1),
            "ms_per_step": round(dt / steps * 1e3, 1),
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "losses": losses, "losses_finite": all(math.isfinite(v) for v in losses.values()),
            "sample_finite": bool(torch.isfinite(sample).all()), "sample_range": [round(float(sample.min()), 3),
                                                                                 round(float(sample.max()), 3)]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", default=",".join(nets.archs()))
    p.add_argument("--sizes", default="64,256")
    p.add_argument("--batch", type=int, default=None, help="batch (default: 64 up to 64 px, 32 above)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--precision", default="bf16", choices=("bf16", "fp16", "fp32"))
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing to check")
        return 0
    archs = [a for a in args.archs.split(",") if a]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    device = torch.cuda.get_device_name(0)
    print(f"{device} | torch {torch.__version__} | {args.precision} autocast | {args.steps} timed steps")
    rows, failures = [], []
    with tempfile.TemporaryDirectory(prefix="ganforge-gpu-") as tmp:
        for size in sizes:
            for arch in archs:
                batch = args.batch or (64 if size <= 64 else 32)
                try:
                    row = check(arch, size, batch, args.steps, args.warmup, args.precision, Path(tmp) / f"{arch}{size}")
                except Exception as e:  # report and go on: one architecture failing must not hide the others
                    row = {"arch": arch, "size": size, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
                    failures.append(row)
                rows.append(row)
                if "error" in row:
                    print(f"{arch:7s} {size:4d}px  FAILED {row['error']}", flush=True)
                else:
                    print(f"{arch:7s} {size:4d}px  batch {row['batch']:3d}  {row['loss']:6s} width {row['width']:4d}  "
                          f"{row['imgs_per_s']:9.1f} imgs/s  {row['ms_per_step']:8.1f} ms/step  "
                          f"{row['peak_mem_gib']:6.2f} GiB  losses {'ok' if row['losses_finite'] else 'NOT FINITE'}  "
                          f"samples {'ok' if row['sample_finite'] else 'NOT FINITE'}", flush=True)
                torch.cuda.empty_cache()
    record = {**machine_facts("gpu_check", argv), "gpu": device, "precision": args.precision, "results": rows}
    if not args.no_save:
        append_result(record, args.results)
        print(f"appended to {args.results}")
    bad = failures or [r for r in rows if not (r.get("losses_finite") and r.get("sample_finite"))]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
