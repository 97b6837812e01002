"""Tiled super-resolution x4 of a 1000x750 photo with an imported Real-ESRGAN SRVGGNetCompact.

The network has the published general-x4v3 size (64 features, 32 body convolutions, PReLU, x4) but RANDOM
weights (scaled so that its output stays in range): the timings are those of the real model, the pictures
are not. It goes through the import path a user takes: a state dict in Real-ESRGAN's layout (``params``)
saved as a .pth and opened with ``ganforge.load``. The photo is Set14's monarch (768x512), enlarged with
bicubic to 1125x750 and centre-cropped to 1000x750.

Measured, on ``--threads`` cores: ``model.apply`` with ganforge's default tiling (512-px tiles, a quarter
overlap, blended) in fp32 and under ``torch.autocast("cpu", bfloat16)``, each the median of ``--repeats``
runs (without native bf16 on the CPU, bf16 is emulated and far slower: both are then timed on a centre
crop, ``--bf16-crop``); and the PSNR between the tiled and the untiled (one piece) fp32 outputs, on the 8-bit images a user
gets. Run under the shared CPU lock:

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/import_sr_tiling.py
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ganforge  # noqa: E402
from record import DATA, append_result, cpu_flags, machine_facts  # noqa: E402
from ganforge.metrics.quality import psnr  # noqa: E402
from ganforge.nets.esrgan import SRVGGNetCompact  # noqa: E402


def photo(width: int, height: int) -> np.ndarray:
    from PIL import Image

    im = Image.open(DATA / "set14" / "monarch.png").convert("RGB")
    s = max(width / im.width, height / im.height)
    im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.BICUBIC)
    x, y = (im.width - width) // 2, (im.height - height) // 2
    return np.asarray(im.crop((x, y, x + width, y + height)))


def general_x4v3_sized(path: Path, seed: int) -> None:
    """A random state dict in the layout of realesr-general-x4v3.pth ({"params": {"body.N.weight": ...}})."""
    torch.manual_seed(seed)
    state = {}
    for k, v in SRVGGNetCompact(upscale=4, num_feat=64, num_conv=32).state_dict().items():
        if v.ndim == 1 and k.endswith("weight"):          # PReLU slopes
            state[k] = torch.full_like(v, 0.25)
        elif v.ndim == 1:
            state[k] = torch.zeros_like(v)
        else:                                             # variance-keeping for PReLU(0.25)
            state[k] = torch.randn_like(v) * ((2 / 1.0625) ** 0.5 / v[0].numel() ** 0.5)
    state["body.66.weight"] *= 0.5  # a residual of about the image's own spread: a real signal, few clipped pixels
    torch.save({"params": state}, path)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--height", type=int, default=750)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16-crop", type=int, nargs=2, default=(160, 120), metavar=("W", "H"),
                    help="where the CPU has no native bf16: time bf16 (and fp32 again) on this centre crop")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    image = photo(args.width, args.height)
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "realesr-general-x4v3-sized.pth"
        general_x4v3_sized(weights, args.seed)
        model = ganforge.load(weights)
    print(f"{args.width}x{args.height} -> x4, {model.meta['imported']['detected']}, {args.threads} threads", flush=True)

    model.apply(image[:64, :64])  # warm-up
    fp32_s, tiled = timed(lambda: model.apply(image, tile=args.tile), args.repeats)
    print(f"tiled fp32: {fp32_s:.1f} s", flush=True)

    # without native bf16 (avx512_bf16 / AMX) autocast emulates it about 17x slower than fp32: then both
    # precisions are timed on a centre crop (--bf16-crop) and the full-size bf16 figure is not measured
    native = any(v for k, v in cpu_flags().items() if "bf16" in k)
    part = image
    if not native:
        h, w = args.bf16_crop[1], args.bf16_crop[0]
        y, x = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
        part = image[y:y + h, x:x + w]

    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model.apply(part, tile=args.tile)
    bf16_s, tiled_bf16 = timed(bf16, args.repeats)
    part_fp32_s = fp32_s if native else timed(lambda: model.apply(part, tile=args.tile), args.repeats)[0]
    where = "full image" if native else f"{part.shape[1]}x{part.shape[0]} crop (no native bf16)"
    print(f"tiled bf16 on the {where}: {bf16_s:.1f} s vs fp32 {part_fp32_s:.1f} s ({part_fp32_s / bf16_s:.2f}x)",
          flush=True)

    whole_s, whole = timed(lambda: model.apply(image, tile=max(args.width, args.height)), 1)
    print(f"untiled fp32: {whole_s:.1f} s", flush=True)
    p_tiled = psnr(tiled[None], whole[None]).mean
    full = whole if native else whole[4 * y:4 * (y + h), 4 * x:4 * (x + w)]
    p_bf16 = psnr(tiled_bf16[None], full[None]).mean
    changed = float((tiled != whole).any(axis=2).mean())
    print(f"PSNR tiled vs untiled (fp32, 8-bit): {p_tiled:.2f} dB ({100 * changed:.3f}% of pixels differ); "
          f"bf16 tiled vs fp32 untiled ({where}): {p_bf16:.2f} dB; output spread (std) {whole.std():.1f}", flush=True)

    record = machine_facts("import_sr_tiling")
    record.update(config=vars(args), weights="random, general-x4v3 size (64 features, 32 convolutions, x4)",
                  photo="set14/monarch.png, bicubic to cover, centre crop",
                  tiled_fp32_s=round(fp32_s, 2), untiled_fp32_s=round(whole_s, 2), bf16_measured_on=where,
                  bf16_s=round(bf16_s, 2), fp32_same_input_s=round(part_fp32_s, 2),
                  bf16_speedup=round(part_fp32_s / bf16_s, 3), psnr_tiled_vs_untiled_db=round(float(p_tiled), 2),
                  pixels_differing=round(changed, 6), psnr_bf16_tiled_vs_fp32_untiled_db=round(float(p_bf16), 2),
                  loadavg_end=round(os.getloadavg()[0], 2))
    append_result(record)


if __name__ == "__main__":
    main()
