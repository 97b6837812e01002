"""One-class anomaly detection on MNIST or CIFAR-10: each class in turn is normal, the other nine are anomalies.

Protocol (as in GANomaly / Deep SVDD / f-AnoGAN): train on the normal class's training images only, score the
full test set (10,000 images), report AUROC per class and the mean. Side by side, in the same run and with the
same CPU-time budget per model (``--seconds``, process CPU time, one thread):

- ganforge's anomaly model (GANomaly-class encoder -> decoder -> encoder + discriminator), every score of the
  one trained model: ``latent`` (GANomaly), ``recon``, ``mixed``, ``fanogan`` (f-AnoGAN: pixel residual + kappa
  x discriminator-feature residual) and ``knn`` (nearest normal training images in the discriminator's
  features, from the feature bank in the model file);
- ``autoencoder``: the same encoder/decoder trained as a plain autoencoder (no discriminator, no second
  encoder), reconstruction error -- the baseline of the same size;
- ``pixel_nn``: distance to the nearest normal training image in pixel space (no training).

It also prints the score latency per image on CPU (one thread, batches of 256) and the held-out check that
training prints (the chosen score vs a pixel nearest neighbour on held-out normal images and synthetic
anomalies), so that one can see whether that check agrees with the real benchmark.

    PYTHONPATH=. python benchmarks/anomaly_oneclass.py --data mnist|cifar10 [--seconds 40] [--classes 0,1,...]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from record import DATA, ROOT as _ROOT, append_result, machine_facts  # noqa: E402

RESULTS = _ROOT / "benchmarks" / "results_analysis.json"  # a file of its own: fewer merge conflicts
from ganforge.data import load_images  # noqa: E402
from ganforge.tasks.anomaly import SCORES, combine, pixel_nn  # noqa: E402

SOURCES = {"mnist": ("mnist/train-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz"),
           "cifar10": ("cifar10/train.zip", "cifar10/test.zip")}


def per_image_ms(fn, x: torch.Tensor, repeats: int = 2) -> float:
    """Best of ``repeats`` timings of ``fn(x)``, in milliseconds per image."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t)
    return round(1000 * best / len(x), 3)


def main(argv: list[str] | None = None, default_data: str = "mnist") -> None:
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=tuple(SOURCES), default=default_data)
    ap.add_argument("--seconds", type=float, default=40.0, help="CPU seconds of training per model and class")
    ap.add_argument("--threads", type=int, default=1, help="1 beats 2 on a loaded 2-core machine")
    ap.add_argument("--width", type=int, default=16, help="base channel count of every network")
    ap.add_argument("--classes", default=None, help="class names or indices, comma-separated (default: all)")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--option", action="append", default=[], help="key=value: an anomaly option for ganforge's "
                    "model (e.g. negatives=0.25)")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    args = ap.parse_args(argv)
    from record import parse_options

    extra = parse_options(args.option)
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    train_src, test_src = SOURCES[args.data]
    train = load_images(str(DATA / train_src), args.size)
    test = load_images(str(DATA / test_src), args.size)
    assert train.class_names == test.class_names, (train.class_names, test.class_names)
    names = train.class_names
    wanted = names if args.classes is None else [names[int(c)] if c.isdigit() and c not in names else c
                                                 for c in args.classes.split(",")]
    x_test = test.images.float().div(127.5).sub(1.0)
    table: dict[str, dict[str, float]] = {}
    steps: dict[str, dict[str, int]] = {}
    latency: dict[str, list[float]] = {}
    check: dict[str, dict] = {}
    common = dict(size=args.size, width=args.width, batch=args.batch, minutes=args.seconds / 60, budget_clock="cpu",
                  threads=args.threads, progress=False, checkpoint_every=10**9, eval_every=10**9, log_every=100,
                  seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in wanted:
            c = names.index(name)
            normal = train.images[train.labels == c]
            npz = Path(tmp) / f"class{c}.npz"
            np.savez(npz, images=normal.numpy())
            y = (test.labels != c).numpy().astype(int)
            gan = ganforge.train("anomaly", data=str(npz), out=Path(tmp) / f"gan{c}", **common, **extra)
            ae = ganforge.train("anomaly", data=str(npz), out=Path(tmp) / f"ae{c}", w_adv=0.0, w_enc=0.0,
                                score="recon", **common)
            res = gan.analyze(test)
            scores = {f"ganforge_{k}": combine(res, k, gan.meta["calibration"]) for k in SCORES}
            scores["autoencoder"] = ae.score(test)
            x_normal = normal.float().div(127.5).sub(1.0)
            scores["pixel_nn"] = pixel_nn(x_normal, x_test)
            for method, s in scores.items():
                table.setdefault(method, {})[name] = round(float(roc_auc_score(y, s)), 4)
            steps.setdefault("ganforge", {})[name] = gan.meta["step"]
            steps.setdefault("autoencoder", {})[name] = ae.meta["step"]
            flagged = res["scores"] > gan.threshold   # the automatic threshold of the model's default score
            table.setdefault("auto_threshold_fpr", {})[name] = round(float(flagged[y == 0].mean()), 4)
            table.setdefault("auto_threshold_tpr", {})[name] = round(float(flagged[y == 1].mean()), 4)
            check[name] = {k: v for k, v in gan.meta["holdout_check"].items() if k != "line"}
            x_lat = x_test[:1024]
            for k in SCORES:
                latency.setdefault(f"ganforge_{k}", []).append(per_image_ms(lambda x, k=k: gan.score(x, kind=k), x_lat))
            latency.setdefault("autoencoder", []).append(per_image_ms(ae.score, x_lat))
            latency.setdefault("pixel_nn", []).append(per_image_ms(lambda x: pixel_nn(x_normal, x), x_lat))
            print(f"{name}: " + "  ".join(f"{k} {v[name]:.3f}" for k, v in table.items()) +
                  f"  (steps: gan {gan.meta['step']}, ae {ae.meta['step']}; held-out check "
                  f"{check[name]['auroc']:.3f} vs pixel nn {check[name]['auroc_pixel_nn']:.3f})", flush=True)
    means = {k: round(float(np.mean(list(v.values()))), 4) for k, v in table.items()}
    lat = {k: round(float(np.median(v)), 3) for k, v in latency.items()}
    print(f"mean AUROC over {len(wanted)} classes ({args.data}, {args.seconds:g} CPU-s per model): " +
          "  ".join(f"{k} {v:.3f}" for k, v in means.items() if "threshold" not in k))
    print("score latency per image on CPU, ms (1 thread, batches of 256; median over classes): " +
          "  ".join(f"{k} {v:.2f}" for k, v in lat.items()))
    print(f"auto threshold ({gan.kind} score, 95% of held-out normals): normal test images flagged "
          f"{means['auto_threshold_fpr']:.3f}, anomalies flagged {means['auto_threshold_tpr']:.3f}")
    hc = np.mean([v["auroc"] for v in check.values()]), np.mean([v["auroc_pixel_nn"] for v in check.values()])
    print(f"held-out check at the end of training (synthetic anomalies, mean over classes): {gan.kind} score "
          f"{hc[0]:.3f}, pixel nn {hc[1]:.3f}")
    record = dict(machine_facts(f"anomaly_oneclass_{args.data}"), config=dict(vars(args), options=extra),
                  auroc=table, mean=means, steps=steps, latency_ms_per_image=lat, holdout_check=check,
                  wall_s=round(time.perf_counter() - t_all, 1),
                  protocol=f"one-class {args.data}: train on one class's training images, test on the full test set; "
                           f"{args.seconds:g} CPU-s of training per model, {args.threads} thread(s)")
    if not args.no_record:
        append_result(record, RESULTS)
    print(f"total {record['wall_s']:.0f} s" + ("" if args.no_record else f"; appended to {RESULTS.name}"))


if __name__ == "__main__":
    main()
