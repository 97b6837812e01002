"""Few-shot image generation at a fixed CPU budget: DCGAN + DiffAugment, light (FastGAN class) + DiffAugment and
light + ADA on 100 images of one CIFAR-10 class (32 px) and on the ORL faces (64 px).

- ``cifar``: ``--cifar-n`` (100) training images of class ``--cifar-class`` (seeded choice from train.zip); the
  held-out real set is that class's 1,000 test images. Scored with the CIFAR-10 domain feature network
  (``features_recipes.py``; trained first when missing).
- ``orl``: the 400 ORL/AT&T faces (40 people x 10), 2 per person held out (seeded): 320 training, 80 held-out
  images at 64 px, grey. Scored with a domain feature network trained here on the 320 training faces (a
  40-person classifier; nothing pretrained exists for faces in this project), kept in ``--features-dir``.

Each method trains ``--minutes`` CPU-minutes (``budget_clock="cpu"``, ``--threads`` threads, the rest ganforge's
defaults for the data: loss ns for dcgan and hinge for light, R1 0.1 lazy). Reported: KID (the unbiased MMD^2
of ganforge.metrics) of ``--eval-n`` samples against the held-out real images, and against the training images
(a KID against the training set far below the held-out one suggests copying), plus FID for reference. Sample grids
(64 samples per method and the training images) are written as PNGs to ``--work`` (and ``--figures`` if given).

    .venv/bin/python benchmarks/fewshot.py --minutes 15                      # ~95 min on one core
    .venv/bin/python benchmarks/fewshot.py --sets orl --minutes 0.2 --eval-n 100 --features-dir /tmp/feat \\
        --features-epochs 0.05 --work /tmp/fewshot --no-save                 # smoke run

Figures are appended, with machine facts and the command, to benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_methods import features_for, parse_list  # noqa: E402
from record import DATA, RESULTS, ROOT, append_result, machine_facts  # noqa: E402

import ganforge  # noqa: E402
from ganforge.imaging import media  # noqa: E402
from ganforge.metrics.evaluate import evaluate  # noqa: E402
from ganforge.metrics.features import load_features  # noqa: E402

METHODS = {"dcgan+diff": dict(arch="dcgan", augment="diff"),
           "light+diff": dict(arch="light", augment="diff"),
           "light+ada": dict(arch="light", augment="ada")}


def cifar_class(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(``n`` training images of class ``name``, its 1,000 test images), uint8 NHWC, read straight from the zips."""
    from PIL import Image

    def read(zip_path: Path, split: str, pick: int | None) -> np.ndarray:
        with zipfile.ZipFile(zip_path) as zf:
            names = sorted(f for f in zf.namelist() if f.startswith(f"{split}/{name}/") and f.endswith(".jpg"))
            if not names:
                sys.exit(f"{zip_path}: no images of class {name!r}")
            if pick is not None:
                names = [names[i] for i in sorted(np.random.default_rng(seed).choice(len(names), pick, replace=False))]
            return np.stack([np.asarray(Image.open(io.BytesIO(zf.read(f))).convert("RGB")) for f in names])

    return read(DATA / "cifar10" / "train.zip", "train", n), read(DATA / "cifar10" / "test.zip", "test", None)


def orl_split(seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training faces, their person labels, held-out faces): 8 and 2 per person, uint8 NHWC."""
    from ganforge.data import load_images

    d = load_images(str(DATA / "orl_faces"), size, channels=1)
    images, labels = d.images.permute(0, 2, 3, 1).numpy(), d.labels.numpy()
    rng = np.random.default_rng(seed)
    held = np.zeros(len(images), bool)
    for person in np.unique(labels):
        held[rng.choice(np.flatnonzero(labels == person), 2, replace=False)] = True
    return images[~held], labels[~held], images[held]


def orl_features(folder: Path, train: np.ndarray, labels: np.ndarray, seed: int, epochs: float | None) -> Path:
    from ganforge.data.imageset import ImageSet
    from ganforge.metrics.features import train_domain_features

    path = folder / "orl_faces.safetensors"
    if not path.exists():
        x = torch.from_numpy(train).permute(0, 3, 1, 2).contiguous()
        names = [f"s{i + 1}" for i in range(int(labels.max()) + 1)]
        data = ImageSet(x, labels=torch.from_numpy(labels).long(), class_names=names, source="orl_faces-train")
        print(f"training the ORL face feature network into {path}", flush=True)
        train_domain_features(data, path, name="orl_faces", seed=seed, epochs=epochs, threads=1)
    return path


def run_set(name: str, args: argparse.Namespace) -> dict:
    work = args.work / name
    work.mkdir(parents=True, exist_ok=True)
    if name == "cifar":
        train, held = cifar_class(args.cifar_class, args.cifar_n, args.seed)
        size, extractor = 32, load_features(str(features_for("cifar10", args.features_dir, args.seed,
                                                             args.features_epochs)))
        np.savez(work / "train.npz", images=train)
    else:
        train, labels, held = orl_split(args.seed)
        size = 64
        extractor = load_features(str(orl_features(args.features_dir, train, labels, args.seed, args.features_epochs)))
        np.savez(work / "train.npz", images=train)
    media.save_image(work / "real.png", media.grid(train[:64], nrow=8))
    out: dict = {"n_train": len(train), "n_held_out": len(held), "size": size, "features": extractor.name,
                 "features_checksum": extractor.checksum, "budget_cpu_minutes": args.minutes, "methods": {}}
    print(f"{name}: {len(train)} training, {len(held)} held-out images at {size} px", flush=True)
    cache_held = cache_train = None
    for method in args.methods:
        t0, cpu0 = time.perf_counter(), time.process_time()
        model = ganforge.train("image", data=str(work / "train.npz"), out=work / method, overwrite=True,
                               progress=False, size=size, minutes=args.minutes, budget_clock="cpu",
                               threads=args.threads, seed=args.seed, eval_every=10**9, checkpoint_every=10**9,
                               **METHODS[method])
        opt = model.meta["options"]
        row = {"steps": model.meta["step"], "wall_seconds": round(time.perf_counter() - t0, 1),
               "process_cpu_seconds": round(time.process_time() - cpu0, 1),
               "resolved": {k: opt[k] for k in ("arch", "loss", "width", "augment", "r1_gamma", "ada_kimg")}}
        vs_held = evaluate(model, held, ("kid", "fid"), n=args.eval_n, features=extractor, size=size, seed=args.seed,
                           real_stats=cache_held)
        cache_held = vs_held.get("real_cache", cache_held)
        vs_train = evaluate(model, train, ("kid",), n=args.eval_n, features=extractor, size=size, seed=args.seed,
                            real_stats=cache_train)
        cache_train = vs_train.get("real_cache", cache_train)
        row.update({"kid_held_out": round(vs_held["scores"]["kid"], 5),
                    "kid_std": round(vs_held["scores"]["kid_std"], 5),
                    "fid_held_out": round(vs_held["scores"]["fid"], 3),
                    "kid_train": round(vs_train["scores"]["kid"], 5)})
        if opt["augment"] == "ada":
            from ganforge.engine import checkpoint
            row["ada_p_final"] = round(checkpoint.load(checkpoint.latest(work / method / "checkpoints"))
                                       ["task"]["augment"]["p"], 4)
        grid = work / f"{method}.png"
        media.save_image(grid, media.upscale(media.grid(model.sample(64, seed=1), nrow=8), 2 if size <= 32 else 1))
        if args.figures:
            media.save_image(args.figures / f"{name}-{method}.png", media.grid(model.sample(64, seed=1), nrow=8))
        row["grid"] = str(grid)
        out["methods"][method] = row
        print(f"{name}/{method}: {json.dumps(row)}", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="cifar,orl", help="comma list of cifar, orl")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    p.add_argument("--minutes", type=float, default=15.0, help="training budget per method, CPU-minutes")
    p.add_argument("--cifar-class", default="cat")
    p.add_argument("--cifar-n", type=int, default=100)
    p.add_argument("--eval-n", type=int, default=1000, help="generated images per score")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features-dir", type=Path, default=ROOT / "runs" / "features")
    p.add_argument("--features-epochs", type=float, default=None, help="shorter feature training (smoke runs only)")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_fewshot")
    p.add_argument("--figures", type=Path, default=None, help="also write the sample grids here (e.g. docs/fewshot)")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    args.methods = parse_list(args.methods)
    sets = parse_list(args.sets)
    bad = [m for m in args.methods if m not in METHODS] + [s for s in sets if s not in ("cifar", "orl")]
    if bad:
        p.error(f"unknown method or set {bad[0]!r}")
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    results = {name: run_set(name, args) for name in sets}
    print(f"{'set':6s} {'method':11s} {'KID held-out':>13s} {'KID train':>10s} {'FID held-out':>13s} {'steps':>6s}")
    for name, r in results.items():
        for method, m in r["methods"].items():
            print(f"{name:6s} {method:11s} {m['kid_held_out']:13.4f} {m['kid_train']:10.4f} {m['fid_held_out']:13.2f} "
                  f"{m['steps']:6d}")
    record = machine_facts("fewshot", argv)
    record.update({"loadavg_start": round(load_start, 2), "loadavg_end": round(os.getloadavg()[0], 2),
                   "results": results})
    if not args.no_save:
        append_result(record, args.results)
        print(f"appended to {args.results}")
    return record


if __name__ == "__main__":
    main()
