"""Inpainting on BSD68 colour: ganforge's LaMa-style inpainter vs the classical fills, at CPU-time budgets (issue 17).

Test: 128x128 centre crops of all 68 bsd68_color photos (never trained on), with a centred 64x64 hole and with
seeded free-form strokes (the masks of benchmarks/restore_denoise_inpaint.py). Methods, in the same run:
scikit-image's biharmonic inpainting, an exemplar-based fill (Criminisi et al. 2004, written below: the
highest-priority patch on the hole's front is filled from the best-matching known 9x9 patch), the harmonic
fill (ganforge/nets/inpaint.py: a multigrid solve of Laplace's equation in the holes; the fill the model starts
from and corrects) and ganforge's ``restore --task inpaint`` model. Scores: PSNR and SSIM over the missing pixels only (SSIM: the SSIM map's mean over the hole), and the
FID of the 68 filled crops against the 68 clean ones under a domain feature network trained here on the
training photos (64 px, rotation pretext; 68 images per side: compare these FIDs with each other only).

Training photos (a natural-photo mix; never BSD68): the facades train photos (left halves) and 256-px tiles of
set5, set14 and scikit-image's bundled colour photos, at full and half size. One run, one thread, CPU-time
budgets (``budget_clock="cpu"``): trained to the first of ``--minutes``, scored, resumed to the next, scored.
Appends to benchmarks/results.json.

    flock /tmp/ganforge-cpu.lock env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/inpaint_bsd68.py --minutes 10,40
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
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from ganforge.data import degrade  # noqa: E402
from ganforge.data.pairs import list_images, read_image, read_side_by_side  # noqa: E402
from ganforge.metrics.evaluate import evaluate  # noqa: E402
from ganforge.metrics.features import train_domain_features  # noqa: E402
from ganforge.metrics.quality import masked_psnr  # noqa: E402
from ganforge.nets.inpaint import harmonic_fill  # noqa: E402
from record import DATA, append_result, machine_facts, parse_options  # noqa: E402

CROP = 128


# ------------------------------------------------------------------------------------------ data
def training_photos(folder: Path) -> Path:
    """Facades train photos, and 256-px tiles (full and half size) of set5, set14 and scikit-image's photos."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = read_side_by_side(DATA / "facades" / "train")
    for name, a in zip(pairs.a.names, pairs.a.images):
        Image.fromarray(a).save(folder / f"facade-{Path(name).stem}.png")
    others = [(f.stem, read_image(f)) for d in ("set5", "set14") for f in list_images(DATA / d)]
    import skimage.data
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        others.append((name, np.asarray(getattr(skimage.data, name)())[..., :3]))
    for name, a in others:
        for half in (False, True):
            im = Image.fromarray(a)
            if half:
                im = im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC)
            b = np.asarray(im)
            for y in range(0, b.shape[0] - 255, 256):
                for x in range(0, b.shape[1] - 255, 256):
                    Image.fromarray(b[y:y + 256, x:x + 256]).save(folder / f"{name}-{int(half)}-{y}-{x}.png")
    return folder


def test_set() -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """128-px centre crops of the 68 bsd68_color photos, and the masks (centre hole, free-form) per crop."""
    crops = []
    for f in list_images(DATA / "bsd68_color"):
        a = read_image(f)
        h, w = a.shape[:2]
        crops.append(a[(h - CROP) // 2:(h - CROP) // 2 + CROP, (w - CROP) // 2:(w - CROP) // 2 + CROP])
    masks = {"centre": [degrade.centre_mask(CROP, CROP) for _ in crops],
             "free": [degrade.free_form_mask(CROP, CROP, np.random.default_rng(2000 + i)) for i in range(len(crops))]}
    return crops, masks


# ------------------------------------------------------------------------------------------ classical fills
def biharmonic(clean: np.ndarray, m: np.ndarray) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic
    holed = clean.astype(np.float64) / 255 * (1 - m[..., None])
    return np.clip(np.rint(inpaint_biharmonic(holed, m > 0.5, channel_axis=-1) * 255), 0, 255).astype(np.uint8)


def harmonic(clean: np.ndarray, m: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(clean.astype(np.float32) / 255 * (1 - m[..., None])).permute(2, 0, 1)[None]
    out = harmonic_fill(x, torch.from_numpy(1 - m)[None, None])[0].permute(1, 2, 0).numpy()
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def _box(a: np.ndarray, r: int) -> np.ndarray:
    """Sum over the (2r+1)^2 window around each pixel (zero outside)."""
    p = np.pad(a, r)
    c = p.cumsum(0).cumsum(1)
    c = np.pad(c, ((1, 0), (1, 0)))
    k = 2 * r + 1
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def criminisi(clean: np.ndarray, m: np.ndarray, patch: int = 9) -> np.ndarray:
    """Exemplar-based inpainting (Criminisi, Perez and Toyama 2004).

    Repeatedly: on the hole's front, take the pixel of highest priority (confidence x data term: how much of
    its patch is known, times how strongly an isophote flows into the hole there), find the fully known patch
    with the least squared difference on the target patch's known pixels, copy its pixels into the unknown
    ones and give them the target's confidence.
    """
    r = patch // 2
    img = np.pad(clean.astype(np.float32), ((r, r), (r, r), (0, 0)), mode="reflect")
    hole = np.pad(m > 0.5, r)                       # the border band is known (reflected)
    h, w = hole.shape
    img[hole] = 0
    conf = (~hole).astype(np.float32)
    # every fully known patch of the original image is a source
    from numpy.lib.stride_tricks import sliding_window_view
    win = sliding_window_view(img, (patch, patch, 3)).reshape(h - patch + 1, w - patch + 1, -1)
    ok = sliding_window_view(hole, (patch, patch)).reshape(h - patch + 1, w - patch + 1, -1).any(-1) == 0
    src = win[ok].copy()                            # (S, patch*patch*3)
    src_sq = (src ** 2)
    ys, xs = np.nonzero(ok)
    area = float(patch * patch)
    while hole[r:h - r, r:w - r].any():
        known = ~hole
        grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
        gy, gx = np.gradient(grey)
        both = known & np.roll(known, 1, 0) & np.roll(known, -1, 0) & np.roll(known, 1, 1) & np.roll(known, -1, 1)
        gy, gx = gy * both, gx * both
        ny, nx = np.gradient(known.astype(np.float32))   # the front's normal
        norm = np.hypot(ny, nx) + 1e-6
        # the isophote (gradient turned 90 degrees), averaged over the known pixels of each patch
        iy, ix = _box(gx, r) / area, -_box(gy, r) / area
        data = np.abs(iy * ny / norm + ix * nx / norm) / 255.0 + 1e-3
        c = _box(conf, r) / area
        front = hole & (_box(known.astype(np.float32), 1) > 0)
        front[:r], front[h - r:], front[:, :r], front[:, w - r:] = False, False, False, False
        prio = np.where(front, c * data, -1.0)
        py, px = np.unravel_index(int(np.argmax(prio)), prio.shape)
        tgt = img[py - r:py + r + 1, px - r:px + r + 1].reshape(-1)
        tk = np.repeat(known[py - r:py + r + 1, px - r:px + r + 1].reshape(-1), 3).astype(np.float32)
        # sum over known pixels of (src - tgt)^2 = src^2.k - 2 src.(tgt k) + const
        d = src_sq @ tk - 2 * (src @ (tgt * tk))
        best = src[int(np.argmin(d))].reshape(patch, patch, 3)
        sl = (slice(py - r, py + r + 1), slice(px - r, px + r + 1))
        fill = hole[sl]
        img[sl][fill] = best[fill]
        conf[sl][fill] = c[py, px]
        hole[sl] = False
    return np.clip(np.rint(img[r:h - r, r:w - r]), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ scores
def masked_ssim(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    """The SSIM map (Gaussian window 1.5, as ganforge.metrics.quality) averaged over the missing pixels."""
    from skimage.metrics import structural_similarity
    _, smap = structural_similarity(a, b, data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, full=True)
    return float(smap.mean(-1)[m > 0.5].mean())


def score(filled: dict[str, list[np.ndarray]], crops: list[np.ndarray], masks: dict[str, list[np.ndarray]],
          feats: Path) -> dict:
    out = {}
    for kind, images in filled.items():
        ps = [masked_psnr(f, c, m) for f, c, m in zip(images, crops, masks[kind])]
        ss = [masked_ssim(f, c, m) for f, c, m in zip(images, crops, masks[kind])]
        fid = evaluate(np.stack(images), np.stack(crops), "fid", n=len(images), features=str(feats), size=64)
        out[kind] = {"psnr": round(float(np.mean(ps)), 3), "ssim": round(float(np.mean(ss)), 4),
                     "fid": round(float(fid["scores"]["fid"]), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="10,40", help="CPU-minute budgets, scored in one resumed run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--n", type=int, default=68, help="bsd68 photos scored")
    ap.add_argument("--features-minutes", type=float, default=1.0)
    ap.add_argument("--option", action="append", default=[], help="task or run option key=value (repeatable)")
    ap.add_argument("--skip-exemplar", action="store_true", help="leave out the (slow) exemplar-based fill")
    ap.add_argument("--out", default=None, help="keep the run folder here")
    ap.add_argument("--results", default=None,
                    help="append the record to this JSON file (default benchmarks/results.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    budgets = sorted(float(m) for m in args.minutes.split(","))
    options = parse_options(args.option)
    tmp = Path(tempfile.mkdtemp())
    photos = training_photos(tmp / "photos")
    crops, masks = test_set()
    crops, masks = crops[:args.n], {k: v[:args.n] for k, v in masks.items()}
    feats = tmp / "features.safetensors"
    train_domain_features(str(photos), feats, size=64, minutes=args.features_minutes, threads=args.threads)

    results: dict = {"n": len(crops), "train_photos": len(list_images(photos)), "classical": {}, "seconds": {},
                     "budgets": {}}
    methods = {"biharmonic": biharmonic, "harmonic": harmonic}
    if not args.skip_exemplar:
        methods["exemplar_criminisi"] = criminisi
    for name, fn in methods.items():
        t = time.process_time()
        filled = {k: [fn(c, m) for c, m in zip(crops, masks[k])] for k in masks}
        results["seconds"][name] = round(time.process_time() - t, 1)
        results["classical"][name] = score(filled, crops, masks, feats)
        print(name, json.dumps(results["classical"][name]), flush=True)

    out = Path(args.out) if args.out else tmp / "run"
    for i, minutes in enumerate(budgets):
        t = time.process_time()
        if i == 0:
            kw = {"batch": args.batch, "width": args.width, "precision": "bf16", "lr_g": 1e-3, **options}
            model = ganforge.train("restore", kind="inpaint", data=str(photos), out=out, overwrite=True,
                                   minutes=minutes, budget_clock="cpu", threads=args.threads, progress=False,
                                   eval_every=10**6, checkpoint_every=500, log_every=50, **kw)
        else:
            model = ganforge.resume(out, minutes=minutes, progress=False)
        fit_cpu_s = time.process_time() - t
        t = time.process_time()
        filled = {k: [model.apply(c, mask=m) for c, m in zip(crops, masks[k])] for k in masks}
        apply_s = time.process_time() - t
        r = {"scores": score(filled, crops, masks, feats), "steps": model.meta["step"],
             "fit_cpu_s": round(fit_cpu_s, 1), "apply_cpu_s": round(apply_s, 1),
             "holdout_printed_by_ganforge": model.meta.get("holdout")}
        results["budgets"][f"{minutes:g}"] = r
        print(f"ganforge {minutes:g} CPU-min:", json.dumps(r), flush=True)
        grid = [np.concatenate([np.where(masks[k][j][..., None] > 0.5, 255, crops[j]).astype(np.uint8),
                                biharmonic(crops[j], masks[k][j]), filled[k][j], crops[j]], 1)
                for k in masks for j in range(3)]
        Image.fromarray(np.concatenate(grid, 0)).save(tmp / f"examples-{minutes:g}.png")

    print(f"\n{'method':>24} | {'centre PSNR / SSIM / FID':>26} | {'free-form PSNR / SSIM / FID':>28}")
    rows = list(results["classical"].items()) + [(f"ganforge {k} CPU-min", v["scores"])
                                                 for k, v in results["budgets"].items()]
    for name, s in rows:
        c, f = s["centre"], s["free"]
        print(f"{name:>24} | {c['psnr']:7.2f} / {c['ssim']:.3f} / {c['fid']:7.2f} | "
              f"{f['psnr']:7.2f} / {f['ssim']:.3f} / {f['fid']:7.2f}")
    print("examples (masked | biharmonic | ganforge | clean):", tmp)
    record = dict(machine_facts("inpaint_bsd68"), config=vars(args), options=options, results=results,
                  loadavg_end=round(os.getloadavg()[0], 2))
    if args.results:
        append_result(record, Path(args.results))
    else:
        append_result(record)


if __name__ == "__main__":
    main()
