"""Super-resolution x4 on Set5 and Set14: bicubic vs ganforge's pixel-loss model vs its GAN model.

PSNR / SSIM on the Y channel (BT.601) with a border crop equal to the scale, the SR papers' protocol
(ganforge/metrics/quality.py). The small test images are made from the mod-cropped originals with
ganforge's own bicubic degradation (PIL's antialiased bicubic, as MATLAB's imresize).

Training uses other photos only (default ../shared/data/bsd68_color, never Set5/Set14): a pixel-loss
(L1) phase of ``--pixel-minutes``, then ``--gan-minutes`` of adversarial fine-tuning in the same run
(the run is resumed with the pixel phase ending where it stopped). Run under the shared CPU lock:

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/restore_sr.py --pixel-minutes 5 --gan-minutes 2
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ganforge  # noqa: E402
from record import DATA, append_result, machine_facts  # noqa: E402
from ganforge.data import degrade  # noqa: E402
from ganforge.data.pairs import list_images, read_image  # noqa: E402
from ganforge.metrics.quality import psnr, ssim  # noqa: E402
from ganforge.tasks.restore import PIXEL_MODEL_FILE  # noqa: E402


def test_pairs(folder: Path, scale: int):
    out = []
    for f in list_images(folder):
        hr = read_image(f)
        h, w = hr.shape[:2]
        hr = hr[: h - h % scale, : w - w % scale]
        lr = degrade.downscale(hr, scale).round().clip(0, 255).astype(np.uint8)
        out.append((f.stem, hr, lr))
    return out


def score(pairs, upscale, scale: int) -> dict:
    p, s = [], []
    for _, hr, lr in pairs:
        sr = upscale(lr)
        p.append(psnr(sr, hr, 255, crop_border=scale, y_channel=True).mean)
        s.append(ssim(sr, hr, 255, crop_border=scale, y_channel=True).mean)
    return {"psnr_y": round(float(np.mean(p)), 3), "ssim_y": round(float(np.mean(s)), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", default=str(DATA / "bsd68_color"))
    ap.add_argument("--pixel-minutes", type=float, default=5.0)
    ap.add_argument("--gan-minutes", type=float, default=2.0)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--keep", default=None, help="keep the run folder here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sets = {name: test_pairs(DATA / name, args.scale) for name in ("set5", "set14")}
    tmp = tempfile.mkdtemp()
    run = Path(args.keep or Path(tmp) / "run")
    common = dict(kind="superres", data=args.train, scale=args.scale, crop=args.crop, batch=args.batch,
                  width=args.width, blocks=args.blocks, lr_g=args.lr, lr_d=2e-4, beta1=0.9, beta2=0.99,
                  precision=args.precision, threads=args.threads, progress=False, eval_every=500,
                  checkpoint_every=10**9, log_every=50)
    t = time.perf_counter()
    ganforge.train("restore", out=run, overwrite=True, minutes=args.pixel_minutes, pretrain_steps=10**9, **common)
    pixel_s = time.perf_counter() - t
    pixel_steps = ganforge.load(run / PIXEL_MODEL_FILE).meta["step"]
    # the adversarial phase: same run, the pixel phase now ends at the step reached
    cfg = json.loads((run / "config.json").read_text())
    cfg["options"]["pretrain_steps"] = pixel_steps
    (run / "config.json").write_text(json.dumps(cfg))
    t = time.perf_counter()
    ganforge.resume(run, minutes=args.pixel_minutes + args.gan_minutes, progress=False)
    gan_s = time.perf_counter() - t
    models = {"pixel": ganforge.load(run / PIXEL_MODEL_FILE), "gan": ganforge.load(run)}
    gan_steps = models["gan"].meta["step"] - pixel_steps
    results = {}
    for name, pairs in sets.items():
        results[name] = {"bicubic": score(pairs, lambda lr: degrade.upscale_bicubic(lr, args.scale)
                                          .round().clip(0, 255).astype(np.uint8), args.scale)}
        for key, m in models.items():
            results[name][f"ganforge_{key}"] = score(pairs, m.apply, args.scale)
        print(name, json.dumps(results[name]), flush=True)
    gain = results["set5"]["ganforge_pixel"]["psnr_y"] - results["set5"]["bicubic"]["psnr_y"]
    print(f"set5 pixel model vs bicubic: {gain:+.2f} dB (goal +1.5 dB); pixel phase {pixel_steps} steps in "
          f"{pixel_s / 60:.1f} min, GAN phase {gan_steps} steps in {gan_s / 60:.1f} min")
    record = machine_facts("restore_sr")
    record.update(config=vars(args), results=results, set5_pixel_gain_db=round(gain, 3),
                  pixel_steps=pixel_steps, gan_steps=gan_steps, pixel_s=round(pixel_s, 1), gan_s=round(gan_s, 1),
                  loadavg_end=round(os.getloadavg()[0], 2))
    append_result(record)


if __name__ == "__main__":
    main()
