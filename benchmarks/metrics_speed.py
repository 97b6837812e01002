"""Feature-extraction speed for metrics: the FID Inception-v3 in fp32 eager against ganforge's default path.

- **fp32**: the pytorch-fid computation (NCHW, batch norms as separate ops, float32), through
  ``load_features(..., precision="fp32")``;
- **default**: what ``load_features("inception", weights=...)`` gives on this machine (bf16 autocast,
  batch norms folded into the convolutions, channels_last, where the CPU has bf16 units);
- in a full run also **bf16 NCHW** (bf16 without channels_last), to show what the layout buys;
- and the same comparison for a domain CNN (MNIST-sized, 28 x 28 grey), which is what FID on digits uses.

Variants run in interleaved rounds on the same images (CIFAR-10 test images when present, else random),
so that load from other processes falls on all of them alike; each figure is the median over rounds.
The weights are random unless ``--weights`` gives the real FID file (nothing is downloaded); the batch
norms are first calibrated on images so that activations have a realistic scale. Speed does not depend
on the weight values; the reported bf16-vs-fp32 feature error does, and random networks amplify
rounding more than trained ones, so read it as a pessimistic figure.

    .venv/bin/python benchmarks/metrics_speed.py             # full run, about 3 minutes on 2 cores
    .venv/bin/python benchmarks/metrics_speed.py --quick     # smoke run, well under a minute

Figures are printed and appended, with machine facts and the command, to benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import DATA, RESULTS, append_result, machine_facts  # noqa: E402

from ganforge.metrics.features import FeatureExtractor, load_features  # noqa: E402
from ganforge.metrics.features.domain import DomainCNN  # noqa: E402
from ganforge.metrics.features.inception import FIDInceptionV3  # noqa: E402

CIFAR_TEST = DATA / "cifar10" / "test.zip"
TARGET_N = 10_000
GOAL_S = 300.0


def test_images(n: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    if CIFAR_TEST.is_file():
        from ganforge.data import load_images

        return load_images(CIFAR_TEST, 32, channels=3, limit=n).images, f"CIFAR-10 test ({CIFAR_TEST.name}), 32x32"
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8), "random uint8, 32x32"


def random_fid_weights(path: Path, calibration: torch.Tensor) -> None:
    """A weight file in the FID layout with random convolutions and batch norms calibrated on images."""
    torch.manual_seed(0)
    net = FIDInceptionV3()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # running statistics = the calibration batch's statistics
    with torch.no_grad():
        net.train()(calibration.float() / 255)
    torch.save({k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}, path)


def domain_extractor(precision: str, channels_last: bool) -> FeatureExtractor:
    torch.manual_seed(0)
    net = DomainCNN(in_channels=1, input_size=28, feature_dim=256, num_outputs=10)
    return FeatureExtractor(net, name="domain:random", dim=256, input_size=28, channels=1, checksum="random",
                            num_classes=10, precision=precision, channels_last=channels_last, batch=256)


def gflop_per_image(extractor: FeatureExtractor, image: torch.Tensor) -> float:
    """Convolution and matmul GFLOP of one image through the network (torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        extractor(image[:1])
    return counter.get_total_flops() / 1e9


def relative_error(f: np.ndarray, ref: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(f - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-12)))


def input_rounding_sensitivity(fp32: FeatureExtractor, images: torch.Tensor) -> float:
    """Feature error of the fp32 network when only its resized input is rounded to bf16 once: how much
    this network amplifies one rounding. When it is close to the bf16 path's error, that error says more
    about the (random) weights than about bf16."""
    x = torch.nn.functional.interpolate(images.float() / 255, size=(299, 299), mode="bilinear", align_corners=False)
    with torch.inference_mode():
        ref = fp32.network(x)[0].numpy()
        rounded = fp32.network(x.bfloat16().float())[0].numpy()
    return relative_error(rounded, ref)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=64, help="Inception images per variant per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--weights", type=Path, default=None, help="the real FID weight file, if you have it")
    p.add_argument("--quick", action="store_true", help="smoke run: 16 images, 1 round, 2 variants")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    n_img, rounds = (16, 1) if args.quick else (args.images, args.rounds)
    t_start, load_start = time.perf_counter(), os.getloadavg()

    images, image_desc = test_images(max(n_img, 32))
    images = images[:n_img]
    digits = images[:, :1].repeat(16, 1, 1, 1)[:, :, 2:30, 2:30].contiguous()  # 28x28 grey stand-ins, 16x as many

    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if weights is None:
            weights = Path(tmp) / "fid-layout-random.pth"
            t = time.perf_counter()
            random_fid_weights(weights, test_images(32)[0])
            print(f"random FID-layout weights, batch norms calibrated on 32 images ({time.perf_counter() - t:.0f} s)")
        variants: dict[str, tuple[str, FeatureExtractor, torch.Tensor]] = {
            "inception_fp32": ("Inception fp32 eager (NCHW, BN unfused)",
                               load_features("inception", weights=weights, precision="fp32"), images),
            "inception_default": ("Inception ganforge default", load_features("inception", weights=weights), images),
        }
        if not args.quick:
            variants["inception_bf16_nchw"] = ("Inception bf16, BN folded, NCHW",
                                               load_features("inception", weights=weights, precision="bf16",
                                                             channels_last=False), images)
        variants["domain_fp32"] = ("domain CNN 28x28 fp32 NCHW", domain_extractor("fp32", False), digits)
        default_domain = domain_extractor(variants["inception_default"][1].precision, True)
        variants["domain_default"] = ("domain CNN 28x28 ganforge default", default_domain, digits)

        for key, (_, ex, x) in variants.items():  # warm-up: first-call allocations and kernel choices
            ex.extract(x[: args.batch], batch=args.batch)
        times: dict[str, list[float]] = {k: [] for k in variants}
        feats: dict[str, np.ndarray] = {}
        for r in range(rounds):
            for key, (_, ex, x) in variants.items():
                t = time.perf_counter()
                feats[key] = ex.extract(x, batch=args.batch if key.startswith("inception") else 256)
                times[key].append(time.perf_counter() - t)
            print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {len(variants[k][2]) / times[k][-1]:.1f}/s"
                                                         for k in variants), flush=True)

    gflop = {"inception": gflop_per_image(variants["inception_fp32"][1], images),
             "domain": gflop_per_image(variants["domain_fp32"][1], digits)}
    results = {}
    for key, (label, ex, x) in variants.items():
        per_round = [len(x) / t for t in times[key]]
        ips = statistics.median(per_round)
        results[key] = {"label": label, "precision": ex.precision, "channels_last": ex.channels_last,
                        "images_per_round": len(x), "imgs_per_s": round(ips, 2),
                        "gflops": round(ips * gflop[key.split("_")[0]], 1),
                        "round_imgs_per_s": [round(v, 2) for v in per_round],
                        "spread": round((max(per_round) - min(per_round)) / ips, 3)}
        if key.startswith("inception"):
            results[key]["seconds_for_10k"] = round(TARGET_N / ips, 1)
    for base, other in (("inception_fp32", "inception_default"), ("inception_fp32", "inception_bf16_nchw"),
                        ("domain_fp32", "domain_default")):
        if other in results:
            results[other]["speedup_over_fp32"] = round(results[other]["imgs_per_s"] / results[base]["imgs_per_s"], 2)
            results[other]["feature_rel_error_vs_fp32"] = round(relative_error(feats[other], feats[base]), 5)

    sensitivity = input_rounding_sensitivity(variants["inception_fp32"][1], images[:8])
    wall = time.perf_counter() - t_start
    print(f"\n{'variant':44s} {'imgs/s':>8s} {'GFLOP/s':>8s} {'spread':>7s} {'10k imgs':>9s} {'x fp32':>7s} "
          f"{'rel.err':>8s}")
    for key, r in results.items():
        t10k = f"{r['seconds_for_10k'] / 60:.1f} min" if "seconds_for_10k" in r else ""
        print(f"{r['label']:44s} {r['imgs_per_s']:8.1f} {r['gflops']:8.1f} {r['spread']:7.0%} {t10k:>9s} "
              f"{r.get('speedup_over_fp32', 1.0):7.2f} {r.get('feature_rel_error_vs_fp32', 0.0):8.4f}")
    print(f"Inception: {gflop['inception']:.2f} GFLOP per image; {TARGET_N} images are "
          f"{gflop['inception'] * TARGET_N / 1e3:.0f} TFLOP, so the time for them is bounded below by that over the "
          "bf16 peak (see train_throughput's peak_gflops)")
    print(f"Inception fp32 with only its input rounded to bf16 once: relative feature error {sensitivity:.4f} "
          "(the network's own sensitivity; compare with the rel.err column)")
    d = results["inception_default"]
    verdict = "meets" if d["seconds_for_10k"] < GOAL_S else "misses"
    print(f"Inception features of {TARGET_N} images: {d['seconds_for_10k'] / 60:.1f} min with the default path "
          f"({verdict} the {GOAL_S / 60:.0f}-minute goal), "
          f"{results['inception_fp32']['seconds_for_10k'] / 60:.1f} min in fp32")
    print(f"load average {load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end; {wall:.0f} s in all")

    record = machine_facts("metrics_speed", argv)
    record.update({
        "loadavg_start": round(load_start[0], 2), "loadavg_end": round(os.getloadavg()[0], 2), "wall_s": round(wall, 1),
        "config": {"images": n_img, "rounds": rounds, "batch": args.batch, "quick": args.quick, "input": image_desc,
                   "weights": "given" if args.weights else "random, batch norms calibrated"},
        "results": results, "goal_seconds_for_10k": GOAL_S,
        "inception_input_bf16_rounding_rel_error": round(sensitivity, 5),
        "gflop_per_image": {k: round(v, 4) for k, v in gflop.items()},
    })
    if not args.no_save:
        append_result(record, args.results)
        print(f"appended to {args.results}")
    return record


if __name__ == "__main__":
    main()
