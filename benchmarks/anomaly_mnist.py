"""One-class anomaly detection on MNIST: each digit in turn is normal, the other nine are anomalies.

Protocol (as in GANomaly / Deep SVDD): train on the normal digit's training images only (60k training set),
score the full 10k test set, report AUROC per digit and the mean. Side by side, in the same run and with the
same time budget per digit:

- ``ganomaly``: ganforge's anomaly task (GANomaly class), latent score (its default), and the same model's
  reconstruction (``ganomaly_recon``) and mixed scores;
- ``autoencoder``: the same encoder/decoder trained as a plain autoencoder (no discriminator, no second
  encoder), reconstruction error -- the baseline of the same size;
- ``knn_pixels``: distance to the nearest normal training image in pixel space (no training).

    PYTHONPATH=. python benchmarks/anomaly_mnist.py [--seconds 20] [--threads 1] [--width 16] [--digits 0,1,...]
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
from ganforge.tasks.anomaly import combine  # noqa: E402


def knn_scores(train: torch.Tensor, test: torch.Tensor, max_train: int = 6000) -> np.ndarray:
    """Euclidean distance of each test image to its nearest training image (flattened pixels)."""
    a = train[:max_train].flatten(1).float()
    b = test.flatten(1).float()
    out = []
    a2 = (a * a).sum(1)
    for s in range(0, len(b), 1000):
        bb = b[s:s + 1000]
        d = (bb * bb).sum(1, keepdim=True) + a2[None] - 2 * bb @ a.T
        out.append(d.clamp_min(0).min(1).values.sqrt())
    return torch.cat(out).numpy()


def main() -> None:
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="training time per model and digit")
    ap.add_argument("--threads", type=int, default=1, help="1 beats 2 on a loaded 2-core machine")
    ap.add_argument("--width", type=int, default=16, help="base channel count of every network")
    ap.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to results.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mnist = DATA / "mnist"
    train = load_images(str(mnist / "train-images-idx3-ubyte.gz"), args.size)
    test = load_images(str(mnist / "t10k-images-idx3-ubyte.gz"), args.size)
    digits = [int(d) for d in args.digits.split(",")]
    table: dict[str, dict[int, float]] = {}
    steps: dict[str, dict[int, int]] = {}
    common = dict(size=args.size, width=args.width, batch=args.batch, minutes=args.seconds / 60, threads=args.threads, progress=False,
                  checkpoint_every=10**9, eval_every=10**9, log_every=100, seed=0)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for d in digits:
            normal = train.images[train.labels == d]
            npz = Path(tmp) / f"digit{d}.npz"
            np.savez(npz, images=normal[:, 0].numpy())
            y = (test.labels != d).numpy().astype(int)
            gan = ganforge.train("anomaly", data=str(npz), out=Path(tmp) / f"gan{d}", **common)
            ae = ganforge.train("anomaly", data=str(npz), out=Path(tmp) / f"ae{d}", w_adv=0.0, w_enc=0.0,
                                score="recon", **common)
            res = gan.analyze(test)
            scores = {"ganomaly": res["scores"], "ganomaly_recon": res["recon"],
                      "ganomaly_mixed": combine(res, "mixed", gan.meta["calibration"]), "autoencoder": ae.score(test),
                      "knn_pixels": knn_scores(normal, test.images)}
            for name, s in scores.items():
                table.setdefault(name, {})[d] = round(float(roc_auc_score(y, s)), 4)
            steps.setdefault("ganomaly", {})[d] = gan.meta["step"]
            steps.setdefault("autoencoder", {})[d] = ae.meta["step"]
            # how often the automatic threshold flags normal test digits / catches anomalies
            flagged = res["scores"] > gan.threshold
            table.setdefault("auto_threshold_fpr", {})[d] = round(float(flagged[y == 0].mean()), 4)
            table.setdefault("auto_threshold_tpr", {})[d] = round(float(flagged[y == 1].mean()), 4)
            print(f"digit {d}: " + "  ".join(f"{k} {v[d]:.3f}" for k, v in table.items()) +
                  f"  (steps: gan {gan.meta['step']}, ae {ae.meta['step']})", flush=True)
    means = {k: round(float(np.mean(list(v.values()))), 4) for k, v in table.items()}
    print("mean AUROC: " + "  ".join(f"{k} {v:.3f}" for k, v in means.items() if "threshold" not in k))
    print(f"auto threshold (95% of held-out normals): normal test digits flagged {means['auto_threshold_fpr']:.3f}, "
          f"anomalies flagged {means['auto_threshold_tpr']:.3f}")
    record = dict(machine_facts("anomaly_mnist"), config=vars(args), auroc=table, mean=means, steps=steps,
                  wall_s=round(time.perf_counter() - t_all, 1),
                  protocol="one-class MNIST: train on one digit's training images, test on the full test set")
    if not args.no_record:
        append_result(record, RESULTS)
    print(f"total {record['wall_s']:.0f} s" + ("" if args.no_record else "; appended to benchmarks/results_analysis.json"))


if __name__ == "__main__":
    main()
