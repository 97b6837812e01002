"""Facades label -> photo (pix2pix) on the 106 test pairs, and the U-Net + PatchGAN step throughput.

1. Train ganforge's pix2pix (direction BtoA: label map -> photo) on facades/train for ``--minutes``
   (random 128x128 crops of the 256x256 pairs), then translate the 106 full-size test label maps.
   Reported: mean L1 to the real photo (0..255 scale), and FID / KID with a *domain* feature network
   trained here on the facades train photos (rotation pretext, 64 px), next to two references under the
   same features: train photos vs test photos (the floor: real vs real) and the label maps themselves
   vs test photos (the ceiling: no translation at all).
2. Throughput (images/s) of one full pix2pix training step (G + D phases) at 128x128, width 64, batch 4,
   fp32 vs ganforge's default path (precision auto = bf16 autocast on CPUs with fast bf16).

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/translate_facades.py --minutes 5
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
from ganforge.data.pairs import read_side_by_side  # noqa: E402
from ganforge.metrics.evaluate import evaluate  # noqa: E402
from ganforge.metrics.features import train_domain_features  # noqa: E402


def throughput(tmp: Path, precision: str, steps: int, threads: int) -> float:
    run = tmp / f"tp-{precision}"
    ganforge.train("translate", pairs=str(DATA / "facades" / "train"), limit=16, direction="BtoA", crop=128,
                   width=64, batch=4, steps=steps, log_every=steps // 2, precision=precision, threads=threads,
                   out=run, progress=False, eval_every=10**6, checkpoint_every=10**9, beta1=0.5, beta2=0.999)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return float(records[-1]["imgs_per_s"])  # the second half: warm-up excluded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--features-minutes", type=float, default=1.0)
    ap.add_argument("--throughput-steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-train", action="store_true", help="throughput only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    results: dict = {}
    results["throughput_imgs_per_s"] = {p: throughput(tmp, p, args.throughput_steps, args.threads)
                                        for p in ("fp32", "auto")}
    results["throughput_speedup"] = round(results["throughput_imgs_per_s"]["auto"]
                                          / results["throughput_imgs_per_s"]["fp32"], 2)
    print(json.dumps(results), flush=True)
    if not args.skip_train:
        t = time.perf_counter()
        model = ganforge.train("translate", pairs=str(DATA / "facades" / "train"), direction="BtoA", crop=128,
                               width=args.width, batch=args.batch, minutes=args.minutes, precision="auto",
                               threads=args.threads, out=tmp / "run", progress=False, eval_every=10**6,
                               checkpoint_every=10**9, log_every=50, beta1=0.5, beta2=0.999)
        fit_s = time.perf_counter() - t
        test = read_side_by_side(DATA / "facades" / "test")
        photos, labels = np.stack(test.a.images), np.stack(test.b.images)
        fakes = np.stack([model.apply(lab) for lab in labels])
        l1 = float(np.abs(fakes.astype(np.float64) - photos).mean())
        train = read_side_by_side(DATA / "facades" / "train")
        (tmp / "train_photos").mkdir()
        for name, a in zip(train.a.names, train.a.images):
            Image.fromarray(a).save(tmp / "train_photos" / (Path(name).stem + ".png"))
        feats = tmp / "facades_features.safetensors"
        train_domain_features(str(tmp / "train_photos"), feats, size=64, minutes=args.features_minutes,
                              threads=args.threads)
        scores = {}
        for key, images in (("ganforge_pix2pix", fakes), ("real_train_photos", np.stack(train.a.images[:106])),
                            ("label_maps_untranslated", labels)):
            r = evaluate(images, photos, "fid,kid", n=len(images), features=str(feats), size=64, kid_subset=50)
            scores[key] = {"fid": round(float(r["scores"]["fid"]), 3), "kid": round(float(r["scores"]["kid"]), 5)}
        results["facades_label_to_photo"] = {"l1_255": round(l1, 2), "scores_domain_features": scores,
                                             "steps": model.meta["step"], "fit_s": round(fit_s, 1), "n_test": 106}
        print(json.dumps(results["facades_label_to_photo"]), flush=True)
        Image.fromarray(np.concatenate([np.concatenate([labels[i], fakes[i], photos[i]], 1) for i in range(3)], 0)
                        ).save(tmp / "examples.png")
        print("examples:", tmp / "examples.png")
    record = machine_facts("translate_facades")
    record.update(config=vars(args), results=results, loadavg_end=round(os.getloadavg()[0], 2))
    append_result(record)


if __name__ == "__main__":
    main()
