"""Denoising (sigma 25) on BSD68 colour and inpainting (centre and free-form masks): ganforge vs classical.

Denoising: PSNR (RGB, 8-bit scale) of the noisy input, scikit-image's total variation (Chambolle) and
non-local means (given the true sigma, fast mode), and ganforge's denoise model, on all 68 bsd68_color images with
the same seeded noise (clipped to [0, 255], as ganforge's degradation).
Inpainting: masked-region PSNR (over the missing pixels only) on 128x128 centre crops of bsd68_color for a
centred 64x64 hole and seeded free-form strokes: scikit-image's biharmonic inpainting vs ganforge.

Both models train on the facades *photos* (train split, left halves; never on BSD68) for ``--minutes`` each.

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/restore_denoise_inpaint.py --minutes 4
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ganforge  # noqa: E402
from record import DATA, append_result, machine_facts  # noqa: E402
from ganforge.data import degrade  # noqa: E402
from ganforge.data.pairs import list_images, read_image, read_side_by_side  # noqa: E402
from ganforge.metrics.quality import psnr  # noqa: E402


def facade_photos(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pairs = read_side_by_side(DATA / "facades" / "train")
    for name, a in zip(pairs.a.names, pairs.a.images):
        Image.fromarray(a).save(folder / (Path(name).stem + ".png"))
    return folder


def masked_psnr(out: np.ndarray, ref: np.ndarray, m: np.ndarray) -> float:
    err = ((out.astype(np.float64) - ref.astype(np.float64)) ** 2)[m > 0.5].mean()
    return float(10 * np.log10(255.0 ** 2 / err))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0, help="training time of each model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--inpaint-n", type=int, default=34, help="bsd68 images for inpainting (x2 mask kinds)")
    ap.add_argument("--only", choices=["denoise", "inpaint"], default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from skimage.restoration import inpaint_biharmonic
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    tmp = Path(tempfile.mkdtemp())
    photos = facade_photos(tmp / "photos")
    test = [read_image(f) for f in list_images(DATA / "bsd68_color")]
    common = dict(data=str(photos), batch=args.batch, width=args.width, minutes=args.minutes, lr_g=5e-4,
                  beta1=0.9, beta2=0.99, precision="bf16", threads=args.threads, progress=False, eval_every=10**6,
                  checkpoint_every=10**9, log_every=50)
    results: dict = {}
    if args.only in (None, "denoise"):
        t = time.perf_counter()
        model = ganforge.train("restore", kind="denoise", level=25, out=tmp / "dn", **common)
        fit_s = time.perf_counter() - t
        rows = {"noisy": [], "tv_chambolle": [], "nl_means": [], "ganforge": []}
        t_cls = {"tv_chambolle": 0.0, "nl_means": 0.0, "ganforge": 0.0}
        for i, clean in enumerate(test):
            noisy = degrade.gaussian_noise(clean, 25.0, np.random.default_rng(1000 + i))
            x = noisy / 255.0
            t = time.perf_counter()
            tv = denoise_tv_chambolle(x, weight=0.08, channel_axis=-1) * 255
            t_cls["tv_chambolle"] += time.perf_counter() - t
            t = time.perf_counter()
            s = 25.0 / 255  # the true noise level (an oracle setting, in favour of the baseline)
            nl = denoise_nl_means(x, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True,
                                  channel_axis=-1) * 255
            t_cls["nl_means"] += time.perf_counter() - t
            t = time.perf_counter()
            g = model.apply(noisy)
            t_cls["ganforge"] += time.perf_counter() - t
            for key, out in (("noisy", noisy), ("tv_chambolle", tv), ("nl_means", nl), ("ganforge", g)):
                rows[key].append(psnr(np.clip(out, 0, 255), clean, 255).mean)
        results["denoise_sigma25_bsd68"] = {k: round(float(np.mean(v)), 3) for k, v in rows.items()}
        results["denoise_seconds"] = {k: round(v, 1) for k, v in t_cls.items()}
        results["denoise_train"] = {"steps": model.meta["step"], "fit_s": round(fit_s, 1)}
        print(json.dumps({k: results[k] for k in results if k.startswith("denoise")}), flush=True)
    if args.only in (None, "inpaint"):
        t = time.perf_counter()
        model = ganforge.train("restore", kind="inpaint", out=tmp / "ip", **common)
        fit_s = time.perf_counter() - t
        rows = {}
        for kind in ("centre", "free"):
            rows[kind] = {"biharmonic": [], "ganforge": []}
            for i, full in enumerate(test[: args.inpaint_n]):
                h, w = full.shape[:2]
                clean = full[(h - 128) // 2:(h - 128) // 2 + 128, (w - 128) // 2:(w - 128) // 2 + 128]
                m = degrade.centre_mask(128, 128) if kind == "centre" else \
                    degrade.free_form_mask(128, 128, np.random.default_rng(2000 + i))
                holed = clean.astype(np.float64) / 255 * (1 - m[..., None])
                bh = inpaint_biharmonic(holed, m.astype(bool), channel_axis=-1) * 255
                g = model.apply(clean, mask=m)
                rows[kind]["biharmonic"].append(masked_psnr(np.clip(bh, 0, 255), clean, m))
                rows[kind]["ganforge"].append(masked_psnr(g, clean, m))
        results["inpaint_masked_psnr"] = {k: {m: round(float(np.mean(v)), 3) for m, v in r.items()}
                                          for k, r in rows.items()}
        results["inpaint_train"] = {"steps": model.meta["step"], "fit_s": round(fit_s, 1)}
        print(json.dumps({k: results[k] for k in results if k.startswith("inpaint")}), flush=True)
    record = machine_facts("restore_denoise_inpaint")
    record.update(config=vars(args), results=results, loadavg_end=round(os.getloadavg()[0], 2))
    append_result(record)


if __name__ == "__main__":
    main()
