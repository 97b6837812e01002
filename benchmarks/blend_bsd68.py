"""Photo blending on BSD68 (colour) composites with a known answer: GP-GAN class blending vs copy-paste and
plain Poisson blending.

For each of the 68 photos (seeded): a colour-shifted copy (per-channel gain 0.7..1.3, offset -0.1..0.1) is the
truth; the composite pastes a region (rectangle or ellipse, 30-50% of each side) of the original photo into
it. A perfect blender re-colours the pasted region to match. Methods, side by side on the same composites:

- ``copy``: copy-paste;
- ``poisson``: plain Poisson blending (seamless cloning, sparse solve);
- ``gp_no_net``: the Gaussian-Poisson solve with the composite itself as the low-frequency colour (no network:
  shows what the solve alone does);
- ``gp_gan``: ganforge's blender (``ganforge train blend`` on CIFAR-10 training photos, never on BSD68), then
  the same solve with the network's colour.

PSNR / SSIM (8-bit RGB, whole image) and PSNR inside the pasted region. The training composites come from the
same family of colour shifts as these test composites (on other photos): this is the in-distribution case.

    PYTHONPATH=. python benchmarks/blend_bsd68.py [--minutes 1.5] [--threads 1]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from record import DATA, ROOT as _ROOT, append_result, machine_facts  # noqa: E402

RESULTS = _ROOT / "benchmarks" / "results_analysis.json"  # a file of its own: fewer merge conflicts
from ganforge.metrics.quality import psnr, ssim  # noqa: E402
from ganforge.imaging.poisson import gaussian_poisson  # noqa: E402
from ganforge.tasks.blend import blend  # noqa: E402


def composite(photo: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w, _ = photo.shape
    truth = np.clip(photo * rng.uniform(0.7, 1.3, 3) + rng.uniform(-0.1, 0.1, 3), 0, 1)
    mh, mw = int(h * rng.uniform(0.3, 0.5)), int(w * rng.uniform(0.3, 0.5))
    y0, x0 = rng.integers(1, h - mh - 1), rng.integers(1, w - mw - 1)
    yy, xx = np.mgrid[:h, :w]
    dy, dx = (yy - (y0 + mh / 2)) / (mh / 2), (xx - (x0 + mw / 2)) / (mw / 2)
    mask = (np.abs(dy) <= 1) & (np.abs(dx) <= 1) if rng.random() < 0.5 else dy ** 2 + dx ** 2 <= 1
    return photo, truth, mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.5, help="training budget of the blending network")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=10000, help="CIFAR-10 training photos used")
    ap.add_argument("--images", type=int, default=None, help="only the first N photos (smoke runs)")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to results.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        model = ganforge.train("blend", data=str(DATA / "cifar10" / "train.zip"), limit=args.train_limit, size=64,
                               minutes=args.minutes, batch=64, threads=args.threads, out=Path(tmp) / "blend",
                               progress=False, eval_every=10**9, checkpoint_every=10**9, log_every=100)
        train_s = time.perf_counter() - t
    print(f"blending network: {model.meta['step']} steps in {train_s:.0f} s", flush=True)
    files = sorted((DATA / "bsd68_color").glob("*.png"))[:args.images]
    rng = np.random.default_rng(0)
    scores: dict[str, dict[str, list[float]]] = {}
    t = time.perf_counter()
    for f in files:
        photo = np.asarray(Image.open(f).convert("RGB"), np.float64) / 255
        src, truth, mask = composite(photo, rng)
        truth8 = (truth * 255 + 0.5).astype(np.uint8)
        comp = np.where(mask[..., None], src, truth)
        outs = {m: blend(src, truth, mask, method=m, model=model) for m in ("copy", "poisson", "gp")}
        no_net = gaussian_poisson(src, truth, mask, comp, beta=0.05, sigma=0.5 * max(mask.shape) / model.size)
        outs["gp_no_net"] = (np.clip(no_net, 0, 1) * 255 + 0.5).astype(np.uint8)
        outs["gp_gan"] = outs.pop("gp")
        outs["gp_gan_image"] = blend(src, truth, mask, method="gp", model=model, border="image")
        for name, out in outs.items():
            s = scores.setdefault(name, {"psnr": [], "ssim": [], "psnr_region": []})
            s["psnr"].append(psnr(out, truth8)[0])
            s["ssim"].append(ssim(out, truth8)[0])
            diff = (out[mask].astype(np.float64) - truth8[mask]) ** 2
            s["psnr_region"].append(10 * np.log10(255 ** 2 / max(diff.mean(), 1e-10)))
    eval_s = time.perf_counter() - t
    means = {name: {k: round(float(np.mean(v)), 3) for k, v in s.items()} for name, s in scores.items()}
    print(f"{len(files)} BSD68 composites ({eval_s:.0f} s)")
    print(f"{'method':<14}{'PSNR':>8}{'SSIM':>8}{'PSNR in region':>16}")
    for name in ("copy", "poisson", "gp_no_net", "gp_gan_image", "gp_gan"):
        m = means[name]
        print(f"{name:<14}{m['psnr']:>8.2f}{m['ssim']:>8.4f}{m['psnr_region']:>16.2f}")
    record = dict(machine_facts("blend_bsd68"), config=vars(args), images=len(files), results=means,
                  network={"steps": model.meta["step"], "train_s": round(train_s, 1), "size": model.size},
                  eval_s=round(eval_s, 1), wall_s=round(time.perf_counter() - t_all, 1))
    if not args.no_record:
        append_result(record, RESULTS)
    print(f"total {record['wall_s']:.0f} s" + ("" if args.no_record else "; appended to benchmarks/results_analysis.json"))


if __name__ == "__main__":
    main()
