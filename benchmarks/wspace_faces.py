"""W space end to end on a model trained here: a StyleGAN2 (--arch style) on the ORL faces at 32 px, then
truncation, style mixing, a walk in W, GANSpace directions, and the inversion of held-out faces into z, W and W+
(PSNR/SSIM of the fit). Pictures go to docs/wspace/ (shown in README); figures to results.json.

    python benchmarks/wspace_faces.py [--minutes 5] [--steps-invert 200]

The faces are 40 people x 10 images; the last image of each person is held out of training and inverted.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import DATA, ROOT, append_result, machine_facts  # noqa: E402

import ganforge  # noqa: E402

DOCS = ROOT / "docs" / "wspace"


def split_faces(src: Path, train: Path, held: Path) -> list[Path]:
    """Person folders sN/1..9.pgm to ``train``; the 10th image of every person to ``held`` (as PNG)."""
    from PIL import Image

    out = []
    for person in sorted(p for p in src.iterdir() if p.is_dir()):
        (train / person.name).mkdir(parents=True)
        for f in sorted(person.glob("*.pgm"), key=lambda p: int(p.stem)):
            if f.stem == "10":
                target = held / f"{person.name}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.open(f).save(target)
                out.append(target)
            else:
                shutil.copy(f, train / person.name / f.name)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0, help="CPU minutes of training (one thread)")
    ap.add_argument("--steps-invert", type=int, default=200)
    ap.add_argument("--held", type=int, default=4, help="held-out faces to invert")
    args = ap.parse_args()
    torch.set_num_threads(1)
    src = DATA / "orl_faces"
    if not src.is_dir():
        sys.exit(f"{src}: not found (see ../shared/data/README)")
    tmp = Path(tempfile.mkdtemp())
    held = split_faces(src, tmp / "train", tmp / "held")
    DOCS.mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    model = ganforge.train("image", data=str(tmp / "train"), out=tmp / "run", arch="style", size=32,
                           minutes=args.minutes, budget_clock="cpu", threads=1, precision="fp32", eval_every=10**6,
                           checkpoint_every=10**6, progress=False)
    train_cpu = time.process_time() - t0
    from ganforge.imaging import media

    media.save_image(DOCS / "psi.png", media.upscale(media.grid(np.concatenate(
        [model.sample(8, seed=1, psi=psi) for psi in (1.0, 0.7, 0.4)]), nrow=8), 3))
    model.mix(output=DOCS / "mix.png", rows="1-4", cols="5-8")
    model.walk(DOCS / "walk-w.gif", start="3", end="8", space="w", frames=24)
    pcs = model.directions(output=tmp / "pcs.safetensors", k=4, space="w", n=1000, preview=DOCS / "pcs.png")
    fits = {}
    for space in ("z", "w", "w+"):
        psnr, ssim = [], []
        for i, face in enumerate(held[: args.held]):
            text = model.invert(image=face, output=tmp / f"lat-{space}-{i}.safetensors", space=space,
                                steps=args.steps_invert, preview=DOCS / f"invert-{space}-{i}.png" if i == 0 else None)
            first = text.splitlines()[0].split()  # "PSNR 21.3 dB  SSIM 0.712 ..."
            psnr.append(float(first[1]))
            if "SSIM" in first:
                ssim.append(float(first[first.index("SSIM") + 1]))
        fits[space] = {"psnr_db": round(float(np.mean(psnr)), 2),
                       "ssim": round(float(np.mean(ssim)), 3) if ssim else None, "faces": len(psnr)}
        print(f"inversion into {space:>2}: PSNR {fits[space]['psnr_db']:.2f} dB  SSIM {fits[space]['ssim']}"
              f"  ({len(psnr)} held-out faces, {args.steps_invert} steps)")
    record = dict(machine_facts("wspace_faces"), train_cpu_s=round(train_cpu, 1), steps=model.meta["step"],
                  inversion=fits, directions=pcs.splitlines()[0], pictures=[str(p.relative_to(ROOT))
                                                                     for p in sorted(DOCS.iterdir())])
    append_result(record)
    print(f"trained {model.meta['step']} steps in {train_cpu:.0f} CPU-s; pictures in {DOCS}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
