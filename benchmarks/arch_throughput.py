"""Training throughput of every image architecture next to the classic PyTorch DCGAN, in one process.

The baseline is train_throughput.py's classic DCGAN loop (BatchNorm, BCE, fp32). Each ganforge architecture
(dcgan, resnet, style, r3, light) runs the real ``Trainer`` loop on synthetic data with the loss it is designed
with (ns; rpgan for r3, with lazy R1 + R2; hinge for light, with the reconstruction loss), lazy penalties
amortised (timed on their own steps, then spread over their interval), no augmentation, and the width the
budget-aware rule gives it on this device (``--width`` overrides). Variants run in interleaved rounds; each
figure is the median over rounds of the mean step time (imgs/s = batch / step time).

    .venv/bin/python benchmarks/arch_throughput.py --size 32 --threads 1           # ~3 minutes
    .venv/bin/python benchmarks/arch_throughput.py --size 64 --threads 1 --archs dcgan,r3,light
    .venv/bin/python benchmarks/arch_throughput.py --size 32 --steps 2 --rounds 1 --no-save   # smoke run

Figures are printed and appended, with machine facts and the command, to benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import RESULTS, append_result, cpu_model, machine_facts  # noqa: E402
from train_throughput import NEVER, N_IMAGES, Z_DIM, Variant, baseline, trainer_steps  # noqa: E402

from ganforge import nets  # noqa: E402
from ganforge.config import RunConfig  # noqa: E402
from ganforge.data.imageset import ImageSet  # noqa: E402
from ganforge.engine import Trainer  # noqa: E402
from ganforge.tasks.generate import ImageGeneration, ImageOptions  # noqa: E402

ARCHS = ("dcgan", "resnet", "style", "r3", "light")


def arch_trainer(images: torch.Tensor, batch: int, size: int, threads: int | None, run_dir: Path, arch: str,
                 width: int | None, precision: str) -> Trainer:
    """A set-up Trainer for ``arch`` at its own loss and the rule's width; nothing is written while timing."""
    run = RunConfig(out=str(run_dir), steps=1, batch=batch, threads=threads, precision=precision, device="cpu",
                    log_every=NEVER, eval_every=NEVER, checkpoint_every=NEVER)
    options = ImageOptions(data="synthetic", size=size, z_dim=Z_DIM, arch=arch, width=width, augment="off")
    task = ImageGeneration(options, data=ImageSet(images, source="synthetic:uniform-noise"), run=run)
    trainer = Trainer(task, run, run_dir)
    trainer._setup()
    trainer.callbacks = []
    return trainer


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", default=",".join(ARCHS))
    p.add_argument("--size", type=int, default=32, choices=(16, 32, 64, 128, 256))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=None, help="one width for every architecture (default: the rule's)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    p.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    unknown = [a for a in archs if a not in nets.archs()]
    if unknown:
        p.error(f"unknown architecture {unknown[0]!r}; known: {', '.join(nets.archs())}")
    if args.threads:
        torch.set_num_threads(args.threads)
    load_start, t_start = os.getloadavg()[0], time.perf_counter()
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (N_IMAGES, 3, args.size, args.size), dtype=torch.uint8, generator=gen)
    tmp = tempfile.TemporaryDirectory(prefix="ganforge-arch-bench-")
    torch.manual_seed(0)
    variants = [Variant("baseline", "classic DCGAN (pytorch/examples), fp32", baseline(images, args.batch, args.size))]
    info: dict[str, dict] = {"baseline": {"width": 64}}
    for arch in archs:
        tr = arch_trainer(images, args.batch, args.size, args.threads, Path(tmp.name) / arch, arch, args.width,
                          args.precision)
        opt = tr.task.options
        reg = next((ph for ph in tr.task.phases if ph.name == "D_reg"), None)
        v = Variant(arch, f"ganforge {arch} ({opt.loss}, width {opt.width}, {tr.rt.precision})",
                    lambda tr=tr: trainer_steps(tr, 1), r1_interval=reg.interval if reg else None, trainer=tr)
        variants.append(v)
        info[arch] = {"loss": opt.loss, "width": opt.width, "blocks": opt.blocks, "precision": tr.rt.precision,
                      "params_G": sum(q.numel() for q in tr.raw["G"].parameters()),
                      "params_D": sum(q.numel() for q in tr.raw["D"].parameters())}
    for v in variants:   # warm-up (the first ganforge step is a lazy-penalty step)
        for _ in range(2):
            v.step()
    for r in range(args.rounds):
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            v.run_round(args.steps)
    tmp.cleanup()
    base = variants[0].seconds()
    results = {}
    for v in variants:
        s = v.seconds()
        results[v.name] = {**info[v.name], "label": v.label, "ms_per_step": round(s * 1e3, 1),
                           "imgs_per_s": round(args.batch / s, 1), "vs_baseline": round(base / s, 3),
                           "spread": round(v.spread(), 3) if len(v.round_means) > 1 else 0.0}
    wall = time.perf_counter() - t_start
    print(f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads | batch {args.batch} | "
          f"{args.size}x{args.size} RGB | {args.rounds} rounds x {args.steps} steps, median of round means")
    w = max(len(v.label) for v in variants)
    print(f"{'':{w}} {'ms/step':>8} {'imgs/s':>7} {'x base':>7} {'spread':>7}")
    for v in variants:
        r = results[v.name]
        print(f"{r['label']:{w}} {r['ms_per_step']:8.1f} {r['imgs_per_s']:7.1f} {r['vs_baseline']:7.2f} "
              f"{r['spread']:7.0%}")
    print(f"load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end; {wall:.0f} s in all")
    record = {**machine_facts("arch_throughput", argv), "threads": torch.get_num_threads(),
              "config": {"size": args.size, "batch": args.batch, "steps": args.steps, "rounds": args.rounds,
                         "precision": args.precision, "width": args.width},
              "results": results, "wall_s": round(wall, 1)}
    if not args.no_save:
        append_result(record, args.results)
        print(f"appended to {args.results}")
    return record


if __name__ == "__main__":
    main()
