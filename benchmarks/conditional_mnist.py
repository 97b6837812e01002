"""Class-conditional vs unconditional image GAN on MNIST at the same CPU budget, and the latent tools.

Stages (each reuses the model files of the previous ones in --work, so they can run separately):

- ``train``: the conditional model (projection discriminator + conditional batch norm) and the unconditional
  baseline, same architecture (DCGAN, 32 px, width 64, z 128), batch 64, the same wall-clock budget each.
- ``eval``: CAS (the domain classifier's accuracy on 10,000 conditional samples, 1,000 per class; goal >= 95%)
  and FID/KID with the domain features against the 10,000 MNIST test digits, both models side by side.
- ``latent``: inversion of 100 held-out test digits into (z, class) with the conditional model (mean PSNR/SSIM),
  and re-class edits: the inverted z regenerated with another class, share of edits that the domain classifier
  assigns to the target class (the strength of a re-class edit is a full class switch); and the same for
  supervised latent directions (InterFaceGAN-style) applied to the unconditional model at a stated strength.

The domain classifier is ``--features`` (default runs/features/mnist.safetensors; trained with
``ganforge.metrics.features.train_domain_features`` on the MNIST train split when missing).

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/conditional_mnist.py --minutes 6

Figures are printed and appended, with machine facts and the command, to benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ganforge  # noqa: E402
from record import DATA, append_result, machine_facts  # noqa: E402

MNIST = DATA / "mnist"
TEST = MNIST / "t10k-images-idx3-ubyte.gz"


def train_models(work: Path, minutes: float, threads: int | None, seed: int) -> dict:
    out = {}
    for name, conditional in (("conditional", True), ("unconditional", False)):
        run = work / name
        if (run / "model.safetensors").exists():
            print(f"{name}: reusing {run / 'model.safetensors'}")
        else:
            t0 = time.perf_counter()
            ganforge.train("image", data=str(MNIST), out=run, overwrite=True, size=32, arch="dcgan", width=64,
                           z_dim=128, batch=64, minutes=minutes, conditional=conditional, threads=threads,
                           seed=seed, eval_every=1000, checkpoint_every=100_000, progress=False)
            print(f"{name}: trained in {time.perf_counter() - t0:.0f} s")
        meta = ganforge.load(run).meta
        out[name] = {"steps": meta.get("step"), "train_s": round(meta.get("elapsed_s", 0), 1)}
    return out


def features_file(path: Path) -> Path:
    if not path.exists():
        from ganforge.metrics.features import train_domain_features
        print(f"training the domain classifier into {path}")
        train_domain_features(str(MNIST), path, test_data=str(TEST))
    return path


def evaluate_models(work: Path, features: Path, n: int) -> dict:
    from ganforge.metrics.classifier import classification_accuracy_score
    from ganforge.metrics.evaluate import evaluate
    from ganforge.metrics.features import load_features

    extractor = load_features(features)
    out = {}
    real_cache = None
    for name in ("conditional", "unconditional"):
        model = ganforge.load(work / name)
        report = evaluate(model, str(TEST), ("fid", "kid"), n=n, features=extractor, real_stats=real_cache, seed=0)
        real_cache = report.get("real_cache")
        row = {k: report["scores"][k] for k in ("fid", "kid", "kid_std")}
        if model.conditional:
            labels = np.arange(n) % 10
            images = model.sample(n, seed=1, condition=[str(c) for c in labels])
            row["cas"] = classification_accuracy_score(extractor.logits, images, labels)
        else:
            # no labels to check against; the classifier's label histogram shows how balanced the classes are
            images = model.sample(n, seed=1)
            pred = extractor.logits(images).argmax(1).numpy()
            row["class_share_min_max"] = [float(np.bincount(pred, minlength=10).min() / n),
                                          float(np.bincount(pred, minlength=10).max() / n)]
        out[name] = row
        print(f"{name:>13}: " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in row.items()))
    return out


def test_digits(n: int, size: int = 32):
    from ganforge.data import load_images

    d = load_images(str(TEST), size, limit=n)
    return d.images, d.labels


def latent_figures(work: Path, features: Path, n: int, steps: int, strength: float, figure: Path | None) -> dict:
    from ganforge.predict import latent
    from ganforge.imaging import media
    from ganforge.metrics.features import load_features

    extractor = load_features(features)
    cond = ganforge.load(work / "conditional")
    x, y = test_digits(n, cond.options.size)
    out: dict = {"n_test_digits": n, "steps": steps}

    def predicted(images_nhwc) -> np.ndarray:
        return extractor.logits(images_nhwc).argmax(1).numpy()

    # inversion into (z, class): the class searched (best fitting) vs given; pixel loss vs pixel + features
    for name, kw in (("class_searched_pixels", {}),
                     ("class_given_pixels", {"classes": [str(int(c)) for c in y]}),
                     ("class_given_pixels_features", {"classes": [str(int(c)) for c in y], "features": extractor})):
        t0 = time.perf_counter()
        lat = latent.invert(cond, x, steps=steps, **kw)
        row = {"psnr": lat.meta["psnr"], "ssim": lat.meta["ssim"], "seconds": round(time.perf_counter() - t0, 1)}
        if "classes" not in kw:
            row["class_found_accuracy"] = float((lat.y == y).float().mean())
        out[f"inversion_{name}"] = row
        print(f"inversion ({name}): " + "  ".join(f"{k}={v:.4g}" for k, v in row.items()))
        if name == "class_given_pixels_features":
            kept = lat
    # re-class edits: every inverted digit regenerated as each of the 9 other classes, z kept
    z, y_true = kept.z, y
    targets = torch.stack([(y_true + k) % 10 for k in range(1, 10)], 1)  # [n, 9]
    zz = z.repeat_interleave(9, 0)
    tt = targets.reshape(-1)
    edited = cond.generate(zz, y=tt)
    out["reclass_flip_rate"] = float(np.mean(predicted(edited) == tt.numpy()))
    print(f"re-class edits: {out['reclass_flip_rate']:.4f} classified as the target class ({len(tt)} edits)")
    if figure is not None:
        threes = [i for i in range(n) if int(y[i]) == 3][:6]
        rows = []
        for i in threes:
            as8 = cond.generate(z[i:i + 1], y=torch.tensor([8]))
            rows += [x[i].permute(1, 2, 0).numpy(), kept.reconstruction[i].permute(1, 2, 0).numpy(), as8[0]]
        media.save_image(figure, media.upscale(media.grid(np.stack(rows), nrow=3), 3))
        print(f"wrote {figure}")

    # supervised (InterFaceGAN-style) class directions on the unconditional model, labelled by the classifier
    try:
        out.update(direction_figures(work, extractor, x, y, steps, strength, predicted))
    except ganforge.GanforgeError as e:  # e.g. a collapsed model whose samples all look like one class
        out["direction_edits"] = {"error": str(e)}
        print(f"direction edits: {e}")
    return out


def direction_figures(work: Path, extractor, x, y, steps: int, strength: float, predicted) -> dict:
    from ganforge.predict import latent

    out: dict = {}
    n = len(x)
    unc = ganforge.load(work / "unconditional")
    t0 = time.perf_counter()
    dirs = latent.classifier_directions(unc, extractor.logits, n=5000, seed=0)
    lat_u = latent.invert(unc, x, steps=steps, features=extractor)
    out["inversion_unconditional_pixels_features"] = {"psnr": lat_u.meta["psnr"], "ssim": lat_u.meta["ssim"]}
    print(f"inversion (unconditional, pixels + features): psnr={lat_u.meta['psnr']:.4g} ssim={lat_u.meta['ssim']:.4g}")
    target = (y + 5) % 10
    usable = [i for i in range(n) if str(int(target[i])) in dirs.names]
    flips = {}
    for s in (0.0, 1.0, 2.0, strength, 2 * strength):
        zs = torch.cat([latent.apply_direction(lat_u.z[i:i + 1], dirs.get(str(int(target[i]))), s) for i in usable])
        flips[str(s)] = float(np.mean(predicted(unc.generate(zs)) == target[usable].numpy()))
    out["direction_edits"] = {"target": "(true class + 5) mod 10", "n": len(usable), "flip_rate_by_strength": flips,
                              "directions_train_accuracy": dirs.meta["train_accuracy"],
                              "seconds": round(time.perf_counter() - t0, 1)}
    print(f"direction edits on the unconditional model, share classified as the target by strength: {flips}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=6.0, help="training budget per model (wall clock)")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_conditional_mnist")
    p.add_argument("--features", type=Path, default=ROOT / "runs" / "features" / "mnist.safetensors")
    p.add_argument("--stages", default="train,eval,latent")
    p.add_argument("--n", type=int, default=10_000, help="generated images for CAS and FID/KID")
    p.add_argument("--invert-n", type=int, default=100, help="held-out test digits to invert")
    p.add_argument("--invert-steps", type=int, default=300)
    p.add_argument("--strength", type=float, default=3.0, help="strength of the supervised direction edits")
    p.add_argument("--figure", type=Path, default=ROOT / "docs" / "conditional" / "three_to_eight.png",
                   help="the README picture: test 3s, their inversions, and the same z as class 8")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    stages = args.stages.split(",")
    record = machine_facts("conditional_mnist")
    record.update(budget_minutes_per_model=args.minutes, n_generated=args.n)
    if "train" in stages:
        record["training"] = train_models(args.work, args.minutes, args.threads, args.seed)
    features = features_file(args.features)
    if "eval" in stages:
        record["scores"] = evaluate_models(args.work, features, args.n)
    if "latent" in stages:
        record["latent"] = latent_figures(args.work, features, args.invert_n, args.invert_steps, args.strength,
                                          args.figure)
    print(json.dumps({k: v for k, v in record.items() if k in ("training", "scores", "latent")}, indent=1))
    append_result(record)


if __name__ == "__main__":
    main()
