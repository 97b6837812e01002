"""3-D shapes on builtin:objects: coverage / minimum matching distance (voxel IoU) and a linear probe on D features.

Trains the voxel task on ``builtin:objects`` (seed 0) for a fixed time budget. Then, against held-out shapes
generated with another seed:

- MMD (minimum matching distance, lower is better): mean over held-out shapes of the smallest 1 - IoU to any
  generated shape; COV (coverage, higher is better): fraction of held-out shapes that are the nearest one of
  some generated shape (Achlioptas et al. 2018), for ganforge's samples (classes in turn) and for the
  nearest-training-shape baseline, a "generator" that returns training shapes (a memoriser: the best a model
  can do without generalising), and for noise-free class means (a blurry-average baseline).
- Linear probe: logistic regression on the discriminator's pooled features of training shapes, accuracy on
  held-out shapes, vs the same probe on an untrained discriminator and on raw voxels pooled to 8^3.

Appends the record to benchmarks/results_modalities.json.

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/voxels_objects.py --minutes 4
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
from ganforge.data.voxels import objects  # noqa: E402
from ganforge.nets.voxels import VoxelDiscriminator  # noqa: E402
from record import append_result, machine_facts  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_modalities.json"


def iou_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - IoU between every shape of ``a`` (N, R, R, R) and of ``b`` (M, R, R, R): (N, M)."""
    fa = torch.from_numpy(a.reshape(len(a), -1).astype(np.float32))
    fb = torch.from_numpy(b.reshape(len(b), -1).astype(np.float32))
    inter = fa @ fb.T
    union = fa.sum(1, keepdim=True) + fb.sum(1)[None] - inter
    return (1 - inter / union.clamp_min(1)).numpy()


def mmd_cov(generated: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    d = iou_distance(reference, generated)          # (ref, gen)
    mmd = float(d.min(1).mean())
    cov = len(set(d.argmin(0).tolist())) / len(reference)
    return {"mmd_iou": round(mmd, 4), "coverage": round(cov, 4)}


def probe(train_x, train_y, test_x, test_y) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    s = StandardScaler().fit(train_x)
    clf = LogisticRegression(max_iter=2000).fit(s.transform(train_x), train_y)
    return round(float(clf.score(s.transform(test_x), test_y)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=2000, help="training shapes")
    ap.add_argument("--test", type=int, default=400, help="held-out shapes and generated shapes")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--out", default=None, help="keep the run folder here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        t = time.perf_counter()
        model = ganforge.train("voxels", data=f"builtin:objects?n={args.n}&seed=0", out=out, overwrite=True,
                               minutes=args.minutes, batch=args.batch, width=args.width, threads=args.threads,
                               progress=False, eval_every=10**9, checkpoint_every=10**9, log_every=50)
        fit_s = time.perf_counter() - t
    train, train_y = objects(args.n, seed=0)
    test, test_y = objects(args.test, seed=777)
    rng = np.random.default_rng(0)
    generated = model.sample(args.test, seed=0)
    memoriser = train[rng.choice(len(train), args.test, replace=False)]
    means = np.stack([train[train_y == k].mean(0) > 0.5 for k in range(4)])
    results = {"ganforge": mmd_cov(generated, test), "nearest_training_shape": mmd_cov(memoriser, test),
               "class_means": mmd_cov(means[np.arange(args.test) % 4], test),
               "fill": {"ganforge": round(float(generated.mean()), 4), "real": round(float(test.mean()), 4)}}
    fit = train[:1000], train_y[:1000]
    untrained = VoxelDiscriminator(**model.meta["nets"]["D"]).eval()

    def feats(D, x):
        with torch.no_grad():
            return np.concatenate([D.features(torch.from_numpy(x[i:i + 100].astype(np.float32) * 2 - 1)).numpy()
                                   for i in range(0, len(x), 100)])

    def pooled(x):
        return torch.nn.functional.avg_pool3d(torch.from_numpy(x.astype(np.float32))[:, None], 4).flatten(1).numpy()

    results["linear_probe_accuracy"] = {
        "trained_D": probe(model.features(fit[0]), fit[1], model.features(test), test_y),
        "untrained_D": probe(feats(untrained, fit[0]), fit[1], feats(untrained, test), test_y),
        "raw_voxels_8cubed": probe(pooled(fit[0]), fit[1], pooled(test), test_y)}
    for k, v in results.items():
        print(f"{k:>24}: {v}")
    record = dict(machine_facts("voxels_objects"), config=vars(args), steps=model.meta["step"], fit_s=round(fit_s, 1),
                  results=results)
    append_result(record, RESULTS)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
