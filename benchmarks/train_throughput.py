"""Training throughput: ganforge's DCGAN step against the classic PyTorch DCGAN loop, in one process.

One step is one D update and one G update. The baseline is the pytorch/examples DCGAN written inline
(BatchNorm in G and D, sigmoid + BCE, Adam(2e-4, 0.5, 0.999), fp32, G run once per step). ganforge
runs its real training loop (``Trainer._loop``: batch draw, phases, autocast, EMA, log record) with
checkpoints, samples and evaluation pushed out of the timed window. Variants run in interleaved
rounds so that load from other processes on a shared machine falls on all of them alike; each
figure is the median over rounds of the mean step time in that round.

    .venv/bin/python benchmarks/train_throughput.py            # full run, about 2-3 minutes
    .venv/bin/python benchmarks/train_throughput.py --quick    # a smoke run, well under a minute

Figures are printed and appended, with machine facts and the command, to benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from ganforge.config import RunConfig
from ganforge.data.imageset import ImageSet
from ganforge.engine import Trainer
from ganforge.tasks.generate import ImageGeneration, ImageOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import RESULTS, append_result, cpu_model, machine_facts  # noqa: E402

Z_DIM, WIDTH, N_IMAGES = 100, 64, 1024  # below 10k images, so the default config augments
NEVER = 10**9  # log/eval/checkpoint interval that the timed steps never reach
NOISY = 0.25  # a spread of round means above this marks the run as disturbed by other processes


# ---------------------------------------------------------------- the baseline, written the classic way
class ClassicGenerator(nn.Module):
    def __init__(self, size: int, nz: int = Z_DIM, ngf: int = WIDTH, nc: int = 3):
        super().__init__()
        n = int(math.log2(size)) - 2
        ch = [min(ngf * 2 ** (n - 1 - i), 512) for i in range(n)]
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, ch[0], 4, 1, 0, bias=False), nn.BatchNorm2d(ch[0]),
                                   nn.ReLU(True)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class ClassicDiscriminator(nn.Module):
    def __init__(self, size: int, ndf: int = WIDTH, nc: int = 3):
        super().__init__()
        n = int(math.log2(size)) - 2
        ch = [min(ndf * 2**i, 512) for i in range(n)]
        layers: list[nn.Module] = [nn.Conv2d(nc, ch[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ch[-1], 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


def _dcgan_init(m: nn.Module) -> None:
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def baseline(images: torch.Tensor, batch: int, size: int) -> Callable[[], None]:
    """One classic DCGAN iteration (pytorch/examples dcgan/main.py) as a closure."""
    netG, netD = ClassicGenerator(size), ClassicDiscriminator(size)
    netG.apply(_dcgan_init)
    netD.apply(_dcgan_init)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        idx = torch.randint(len(images), (batch,), generator=gen)
        real = images[idx].float().div_(127.5).sub_(1.0)
        netD.zero_grad()
        criterion(netD(real), ones).backward()
        fake = netG(torch.randn(batch, Z_DIM, 1, 1, generator=gen))
        criterion(netD(fake.detach()), zeros).backward()
        optD.step()
        netG.zero_grad()
        criterion(netD(fake), ones).backward()
        optG.step()

    return step


# ---------------------------------------------------------------- ganforge through its real Trainer
def ganforge_trainer(images: torch.Tensor, batch: int, size: int, threads: int | None, run_dir: Path,
                     default_config: bool, **run_kwargs) -> Trainer:
    """A set-up Trainer whose ``_loop`` runs the real steps; nothing is written while timing."""
    if default_config:  # DCGAN with what `ganforge train image` adds by default: augmentation, lazy R1 (the
        # budget-aware rule would pick the light networks for 1,024 images at 64 px: arch_throughput.py times those)
        options = ImageOptions(data="synthetic", size=size, z_dim=Z_DIM, width=WIDTH, arch="dcgan", loss="ns")
    else:  # comparable with the baseline: no augmentation, no R1
        options = ImageOptions(data="synthetic", size=size, z_dim=Z_DIM, width=WIDTH, arch="dcgan",
                               augment=False, r1_gamma=0.0)
        run_kwargs = {"beta1": 0.5, "beta2": 0.999, **run_kwargs}
    task = ImageGeneration(options, data=ImageSet(images, source="synthetic:uniform-noise"))
    run = RunConfig(out=str(run_dir), steps=1, batch=batch, threads=threads, log_every=NEVER,
                    eval_every=NEVER, checkpoint_every=NEVER, **run_kwargs)
    trainer = Trainer(task, run, run_dir)
    trainer._setup()
    trainer.callbacks = []  # sample grids and the end-of-run walk are outputs, not training
    return trainer


def trainer_steps(trainer: Trainer, n: int) -> None:
    trainer.run.steps = trainer.step + n
    trainer._loop()


# ---------------------------------------------------------------- measurement
@dataclass
class Variant:
    name: str
    label: str
    step: Callable[[], None]          # one training step
    r1_interval: int | None = None    # lazy R1 every so many steps (timed separately, then amortised)
    trainer: Trainer | None = None
    round_means: list[float] = field(default_factory=list)
    r1_steps: list[float] = field(default_factory=list)
    flops: float = 0.0

    def run_round(self, steps: int) -> None:
        if self.r1_interval is None:
            t = time.perf_counter()
            for _ in range(steps):
                self.step()
            self.round_means.append((time.perf_counter() - t) / steps)
            return
        # start on an R1 step, time it alone, then the plain steps after it
        self.trainer.step = -(-self.trainer.step // self.r1_interval) * self.r1_interval
        t = time.perf_counter()
        self.step()
        self.r1_steps.append(time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(max(1, steps - 1)):
            self.step()
        self.round_means.append((time.perf_counter() - t) / max(1, steps - 1))

    def seconds(self) -> float:
        """Median step time; with lazy R1, the plain step plus 1/interval of the R1 step's extra cost."""
        plain = statistics.median(self.round_means)
        if self.r1_interval is None:
            return plain
        return plain + (statistics.median(self.r1_steps) - plain) / self.r1_interval

    def best_seconds(self) -> float:
        """As ``seconds`` from the fastest round: the least disturbed figure on a shared machine."""
        plain = min(self.round_means)
        return plain if self.r1_interval is None else plain + (min(self.r1_steps) - plain) / self.r1_interval

    def spread(self) -> float:
        """(max - min) / median of the round means: how noisy the machine was."""
        return (max(self.round_means) - min(self.round_means)) / statistics.median(self.round_means)


class _GlobalOnly:
    """Stands in for FlopCounterMode's per-module tracker, whose backward hooks make
    ``autograd.grad`` on a leaf input (the R1 penalty) fail; we only need the total."""

    parents = ("Global",)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def count_flops(step: Callable[[], None]) -> float:
    """FLOPs of one step as FlopCounterMode counts them (matmuls and convolutions, forward and backward)."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    with counter:
        step()
    return float(counter.get_total_flops())


def matmul_peak(dtype: torch.dtype, n: int, reps: int) -> float:
    """Best FLOP/s of an n x n x n matmul over ``reps`` tries."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, help="timed steps per variant per round (default 4; quick 2)")
    p.add_argument("--rounds", type=int, help="interleaved rounds; the median is reported (default 5; quick 3)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=64, choices=(16, 32, 64, 128, 256))
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--quick", action="store_true", help="fewer steps and rounds, smaller matmul, no extra variants")
    p.add_argument("--results", type=Path, default=RESULTS, help="JSON list to append to")
    p.add_argument("--no-save", action="store_true", help="print only")
    args = p.parse_args(argv)
    steps = args.steps or (2 if args.quick else 4)
    rounds = args.rounds or (3 if args.quick else 5)
    if steps < 2 or rounds < 1:
        p.error("--steps must be at least 2 and --rounds at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    load_start = os.getloadavg()
    t_start = time.perf_counter()

    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (N_IMAGES, 3, args.size, args.size), dtype=torch.uint8, generator=gen)
    tmp = tempfile.TemporaryDirectory(prefix="ganforge-bench-")
    torch.manual_seed(0)
    variants = [Variant("baseline", "baseline: classic DCGAN, fp32", baseline(images, args.batch, args.size))]

    def add(name: str, default_config: bool = False, **run_kwargs) -> None:
        tr = ganforge_trainer(images, args.batch, args.size, args.threads, Path(tmp.name) / name, default_config,
                              **run_kwargs)
        layout = "channels_last" if tr.run.channels_last else "NCHW"
        what = "default config: augment + lazy R1" if default_config else "no augment, no R1"
        v = Variant(name, f"ganforge {tr.rt.precision} {layout}, {what}", lambda: trainer_steps(tr, 1), trainer=tr)
        if default_config:
            reg = next((ph for ph in tr.task.phases if ph.name == "D_reg"), None)
            v.r1_interval = reg.interval if reg else None
        variants.append(v)

    add("ganforge")
    add("ganforge_default", default_config=True)
    if not args.quick:  # where the time goes: the same path in fp32, and the other memory layout
        add("ganforge_fp32", precision="fp32")
        add("ganforge_channels_last", channels_last=True)

    for v in variants:  # warm-up: oneDNN primitives, allocator, first R1 step (step 0)
        for _ in range(2):
            v.step()
    for v in variants:  # after warm-up, so that one-off setup is not counted as work
        v.flops = count_flops(v.step)
        if v.r1_interval:  # the step above was a plain one (warm-up began on the R1 step 0)
            v.trainer.step = -(-v.trainer.step // v.r1_interval) * v.r1_interval
            v.flops += (count_flops(v.step) - v.flops) / v.r1_interval

    n_mm = 2048 if args.quick else 4096
    peaks = {"bf16": matmul_peak(torch.bfloat16, n_mm, 5), "fp32": matmul_peak(torch.float32, n_mm, 3)}
    for r in range(rounds):  # interleaved; the starting variant rotates so no one always runs first
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            v.run_round(steps)
    peaks = {"bf16": max(peaks["bf16"], matmul_peak(torch.bfloat16, n_mm, 5)),
             "fp32": max(peaks["fp32"], matmul_peak(torch.float32, n_mm, 3))}
    tmp.cleanup()

    results = {}
    for v in variants:
        s = v.seconds()
        results[v.name] = {
            "label": v.label, "ms_per_step": round(s * 1e3, 1), "imgs_per_s": round(args.batch / s, 2),
            "ms_per_step_best_round": round(v.best_seconds() * 1e3, 1),
            "spread": round(v.spread(), 3), "gflop_per_step": round(v.flops / 1e9, 2),
            "gflops": round(v.flops / s / 1e9, 1),
            "of_bf16_peak": round(v.flops / s / peaks["bf16"], 3),
            "of_fp32_peak": round(v.flops / s / peaks["fp32"], 3),
            "round_ms": [round(x * 1e3, 1) for x in v.round_means],
        }
        if v.r1_interval:
            results[v.name]["r1_interval"] = v.r1_interval
            results[v.name]["r1_step_ms"] = round(statistics.median(v.r1_steps) * 1e3, 1)
    ratio = results["ganforge"]["imgs_per_s"] / results["baseline"]["imgs_per_s"]
    # the same ratio taken within each round, where both saw the same background load
    base, gf = variants[0], variants[1]
    paired = statistics.median(b / g for b, g in zip(base.round_means, gf.round_means))
    best = base.best_seconds() / gf.best_seconds()
    wall = time.perf_counter() - t_start

    print(f"{cpu_model()} | torch {torch.__version__} | {threads} threads | batch {args.batch} | "
          f"{args.size}x{args.size} RGB | z {Z_DIM} | {rounds} rounds x {steps} steps, median of round means")
    print(f"matmul peak ({n_mm}^3, best of several): bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s, "
          f"fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s (x{peaks['bf16'] / peaks['fp32']:.2f})")
    w = max(len(v.label) for v in variants)
    print(f"{'':{w}} {'ms/step':>8} {'imgs/s':>7} {'spread':>7} {'GFLOP/step':>10} {'GFLOP/s':>8} "
          f"{'%bf16pk':>8} {'%fp32pk':>8}")
    for v in variants:
        r = results[v.name]
        print(f"{r['label']:{w}} {r['ms_per_step']:8.1f} {r['imgs_per_s']:7.1f} {r['spread']:7.0%} "
              f"{r['gflop_per_step']:10.1f} {r['gflops']:8.1f} {r['of_bf16_peak']:8.0%} {r['of_fp32_peak']:8.0%}")
    d = results["ganforge_default"]
    if "r1_step_ms" in d:
        print(f"  (default config: R1 step {d['r1_step_ms']:.0f} ms every {d['r1_interval']} steps, amortised above)")
    print(f"ganforge / baseline: {ratio:.2f}x imgs/s (median of per-round ratios {paired:.2f}x, "
          f"fastest rounds {best:.2f}x; goal >= 2x)")
    print(f"load average {load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end; {wall:.0f} s in all")
    noisy = max(base.spread(), gf.spread()) > NOISY
    if noisy:
        print(f"warning: rounds differ by more than {NOISY:.0%}: other processes were busy; trust the fastest "
              "rounds' ratio more, and a rerun on a quiet machine most")

    record = {
        **machine_facts("train_throughput", argv),
        "threads": threads,
        "loadavg_start": round(load_start[0], 2), "loadavg_end": round(os.getloadavg()[0], 2), "wall_s": round(wall, 1),
        "config": {"batch": args.batch, "size": args.size, "z_dim": Z_DIM, "width": WIDTH, "steps": steps,
                   "rounds": rounds, "quick": args.quick, "matmul_n": n_mm},
        "peak_gflops": {k: round(v / 1e9, 1) for k, v in peaks.items()},
        "results": results, "ratio_ganforge_over_baseline": round(ratio, 3),
        "ratio_per_round_median": round(paired, 3), "ratio_fastest_rounds": round(best, 3), "noisy": noisy,
    }
    if not args.no_save:
        append_result(record, args.results)
        print(f"appended to {args.results}")
    return record


if __name__ == "__main__":
    main()
