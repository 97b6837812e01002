"""Mode coverage on Stacked MNIST (1,000 modes): ns + R1 against rpgan + R1 + R2, same architecture and budget.

Stacked MNIST (Metz et al. 2017; the protocol of VEEGAN and PacGAN): each training image is three MNIST training
digits drawn at random (seeded), one per RGB channel, at 32 px, so there are 10 x 10 x 10 = 1,000 modes. Each
method trains ``--minutes`` CPU-minutes (``budget_clock="cpu"``, ``--threads`` threads) on ``--n-train`` such
images with the same architecture (``--arch``, default dcgan), width and batch; augmentation off.

Then ``--n`` samples (default 26,000, as in PacGAN) are generated; each channel is classified by the MNIST domain
classifier (``features_recipes.py``'s mnist network, trained first when its file is missing), which makes a mode
(100 x red + 10 x green + blue). Reported: modes covered (at least one sample) out of 1,000, and KL(p || uniform)
of the mode histogram (0 is perfect coverage; log 1000 = 6.9 is one mode), plus the classifier's confidence
(the share of channels it classifies with probability > 0.5: low values mean unreadable digits).

    .venv/bin/python benchmarks/stacked_mnist_modes.py --minutes 20               # ~45 min on one core
    .venv/bin/python benchmarks/stacked_mnist_modes.py --minutes 0.2 --n 500 --n-train 2000 \\
        --features-dir /tmp/feat --features-epochs 0.05 --work /tmp/smm --no-save   # smoke run

Figures are appended, with machine facts and the command, to benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_methods import features_for, parse_list  # noqa: E402
from record import DATA, RESULTS, ROOT, append_result, machine_facts  # noqa: E402

import ganforge  # noqa: E402
from ganforge.imaging import media  # noqa: E402
from ganforge.metrics.features import load_features  # noqa: E402

METHODS = {"ns+R1": dict(loss="ns"), "rpgan+R1+R2": dict(loss="rpgan")}


def stacked_mnist(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``n`` stacked images (uint8 NHWC, 3 channels) and their modes (0..999)."""
    from ganforge.data import load_images

    digits = load_images(str(DATA / "mnist"), size, progress=None)
    gen = np.random.default_rng(seed)
    idx = gen.integers(0, len(digits), (n, 3))
    grey = digits.images[:, 0].numpy()   # [N, size, size]
    images = np.stack([grey[idx[:, k]] for k in range(3)], axis=-1)
    labels = digits.labels.numpy()[idx]
    return images, labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]


def modes_of(images: np.ndarray, logits_fn) -> tuple[np.ndarray, float]:
    """The mode of each NHWC RGB image (its three channels classified as digits) and the share of channels the
    classifier is confident about (max probability > 0.5)."""
    digits, confident = [], []
    for k in range(3):
        probs = torch.softmax(logits_fn(images[..., k:k + 1]).float(), 1)
        digits.append(probs.argmax(1).numpy())
        confident.append((probs.max(1).values > 0.5).float().mean().item())
    return digits[0] * 100 + digits[1] * 10 + digits[2], float(np.mean(confident))


def coverage(modes: np.ndarray) -> dict:
    counts = np.bincount(modes, minlength=1000).astype(float)
    p = counts / counts.sum()
    nz = p > 0
    return {"modes_covered": int(nz.sum()), "kl_to_uniform": round(float((p[nz] * np.log(p[nz] * 1000)).sum()), 4),
            "largest_mode_share": round(float(p.max()), 4)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20.0, help="training budget per method, CPU-minutes")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--arch", default="dcgan", help="the architecture both methods use")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--n-train", type=int, default=60_000, help="stacked training images")
    p.add_argument("--n", type=int, default=26_000, help="generated images classified")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features-dir", type=Path, default=ROOT / "runs" / "features")
    p.add_argument("--features-epochs", type=float, default=None, help="a shorter feature recipe (smoke runs only)")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_stacked_mnist")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    methods = parse_list(args.methods)
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    extractor = load_features(str(features_for("mnist", args.features_dir, args.seed, args.features_epochs)))

    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / f"stacked-{args.n_train}-{args.seed}.npz"
    images, modes = stacked_mnist(args.n_train, args.seed)
    np.savez(data, images=images)
    real_modes, real_conf = modes_of(images[: min(len(images), args.n)], extractor.logits)
    truth = coverage(modes)
    read = coverage(real_modes)
    read["classifier_agrees_with_labels"] = round(float(np.mean(real_modes == modes[: len(real_modes)])), 4)
    read["confident_channels"] = round(real_conf, 4)
    print(f"training set: {truth['modes_covered']} modes present; the classifier reads {read}", flush=True)

    out: dict = {"config": {"arch": args.arch, "width": args.width, "batch": args.batch, "n_train": args.n_train,
                            "n_generated": args.n, "budget_cpu_minutes": args.minutes, "threads": args.threads,
                            "features": extractor.name, "features_checksum": extractor.checksum},
                 "real": {"labels": truth, "classified": read}, "methods": {}}
    for name in methods:
        t0, cpu0 = time.perf_counter(), time.process_time()
        model = ganforge.train("image", data=str(data), out=args.work / name, overwrite=True, progress=False,
                               size=32, arch=args.arch, width=args.width, batch=args.batch, augment="off",
                               minutes=args.minutes, budget_clock="cpu", threads=args.threads, seed=args.seed,
                               eval_every=10**9, checkpoint_every=10**9, **METHODS[name])
        fake = model.sample(args.n, seed=args.seed + 1)
        fake_modes, conf = modes_of(fake, extractor.logits)
        row = {**coverage(fake_modes), "confident_channels": round(conf, 4), "steps": model.meta["step"],
               "wall_seconds": round(time.perf_counter() - t0, 1),
               "process_cpu_seconds": round(time.process_time() - cpu0, 1),
               "r1_gamma": model.meta["options"]["r1_gamma"], "loss": model.meta["options"]["loss"]}
        out["methods"][name] = row
        media.save_image(args.work / f"{name}-samples.png", media.grid(fake[:64], nrow=8))
        print(f"{name}: {json.dumps(row)}", flush=True)

    print(f"{'method':14s} {'modes':>6s} {'KL':>7s} {'top mode':>9s} {'confident':>9s} {'steps':>6s}")
    for name, r in out["methods"].items():
        print(f"{name:14s} {r['modes_covered']:6d} {r['kl_to_uniform']:7.3f} {r['largest_mode_share']:9.4f} "
              f"{r['confident_channels']:9.3f} {r['steps']:6d}")
    print(f"(out of 1000 modes; KL 0 = uniform, {math.log(1000):.2f} = a single mode; {args.n} samples)")
    record = machine_facts("stacked_mnist_modes", argv)
    record.update({"loadavg_start": round(load_start, 2), "loadavg_end": round(os.getloadavg()[0], 2), **out})
    if not args.no_save:
        append_result(record, args.results)
        print(f"appended to {args.results}")
    return record


if __name__ == "__main__":
    main()
