"""Augmenting 1% of MNIST with a class-conditional GAN: a small classifier's test accuracy with and without.

For each seed: 600 training digits (60 per class, drawn with the seed from the MNIST train split) are
written as class folders; ``ganforge.augment_dataset`` trains the class-conditional image GAN on them
(DCGAN 32 px, projection D + conditional batch norm, DiffAugment, ``--minutes`` of wall clock) and writes
``--per-class`` synthetic digits per class. A small CNN (2 conv + 2 dense layers) is then trained for the
same number of steps (``--clf-steps``, batch 64, Adam 1e-3) on

- ``real``: the 600 real digits only;
- ``real+gan``: the 600 real digits and the synthetic ones (batches drawn from the union);

each with and without classic augmentation (random shifts of up to 2 px), and tested on the 10,000
real MNIST test digits (images at 32 px, resized as the GAN saw them). The script prints the accuracy per
seed and the mean +- std over seeds, and appends everything to benchmarks/results.json. The GAN learns
from all 600 digits (augment's held-out check off) unless ``--check``: then it learns from 480, augment's
check scores its own classifier on the other 120, and the row records that verdict beside the test-set
figures (does the check tell the user what the 10,000 test digits say?).

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/augment_mnist.py --minutes 2 --seeds 0,1,2

About (minutes + 1) x seeds minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ganforge  # noqa: E402
from ganforge.data import load_images  # noqa: E402
from ganforge.data.idx import read_idx  # noqa: E402
from record import DATA, append_result, machine_facts  # noqa: E402

SIZE = 32


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)
        self.f1, self.f2 = nn.Linear(64 * 8 * 8, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.f2(F.dropout(F.relu(self.f1(x.flatten(1))), 0.3, self.training))


def to_float(u8: torch.Tensor) -> torch.Tensor:
    return u8.float().div(127.5).sub(1)


def shift(x: torch.Tensor, gen: torch.Generator, k: int = 2) -> torch.Tensor:
    """Random translation by up to ``k`` pixels (zero = background -1 padding)."""
    n, _, h, w = x.shape
    pad = F.pad(x, (k, k, k, k), value=-1.0)
    dy, dx = torch.randint(0, 2 * k + 1, (2, n), generator=gen)
    return torch.stack([pad[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def train_classifier(x: torch.Tensor, y: torch.Tensor, steps: int, seed: int, classic_aug: bool) -> SmallCNN:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = SmallCNN()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    net.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (64,), generator=gen)
        xb = to_float(x[idx])
        if classic_aug:
            xb = shift(xb, gen)
        loss = F.cross_entropy(net(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: SmallCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    pred = torch.cat([net(to_float(x[i:i + 1000])).argmax(1) for i in range(0, len(x), 1000)])
    return float((pred == y).float().mean())


def read_manifest(folder: Path, class_names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of an augment manifest as uint8 [N, 1, H, W] and labels indexed like ``class_names`` (a
    filtered set may lack some classes, so its own folder order cannot be used)."""
    import csv

    rows = list(csv.DictReader(open(folder / "manifest.csv")))
    x = np.stack([np.asarray(Image.open(folder / r["file"]).convert("L")) for r in rows])[:, None]
    y = [class_names.index(r["class"]) for r in rows]
    return torch.from_numpy(x), torch.tensor(y, dtype=torch.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="GAN training budget per seed (wall clock)")
    ap.add_argument("--steps", type=int, default=None, help="GAN training steps per seed instead of --minutes "
                    "(the same GAN on any machine)")
    ap.add_argument("--per-class", type=int, default=300, help="synthetic images per class")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--real-per-class", type=int, default=60)
    ap.add_argument("--clf-steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--filter", action="store_true", help="also the classifier-filtered synthetic set "
                    "(augment_dataset(filter=...), a classifier trained on the same 600 real digits)")
    ap.add_argument("--check", action="store_true", help="run augment's held-out gain check (the GAN then learns "
                    "from 80%% of the real digits) and record its verdict beside the test-set figures")
    ap.add_argument("--check-steps", type=int, default=500, help="--check: classifier steps per arm")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mnist = DATA / "mnist"
    train_x = read_idx(mnist / "train-images-idx3-ubyte.gz")
    train_y = read_idx(mnist / "train-labels-idx1-ubyte.gz").astype(np.int64)
    test = load_images(str(mnist / "t10k-images-idx3-ubyte.gz"), SIZE, channels=1)
    test_x, test_y = test.images, test.labels
    seeds = [int(s) for s in args.seeds.split(",")]
    per_seed = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        pick = np.concatenate([rng.choice(np.flatnonzero(train_y == c), args.real_per_class, replace=False)
                               for c in range(10)])
        with tempfile.TemporaryDirectory() as tmp:
            small = Path(tmp) / "small"
            for i in pick:
                (small / str(train_y[i])).mkdir(parents=True, exist_ok=True)
                Image.fromarray(train_x[i]).save(small / str(train_y[i]) / f"{i}.png")
            real = load_images(str(small), SIZE, channels=1)
            t = time.perf_counter()
            budget = dict(steps=args.steps) if args.steps else dict(minutes=args.minutes)
            result = ganforge.augment_dataset(str(small), Path(tmp) / "syn", per_class=args.per_class, size=SIZE,
                                              **budget, batch=64, seed=seed, progress=False,
                                              threads=args.threads, eval_every=10**9, checkpoint_every=10**9,
                                              log_every=100, check=args.check, check_steps=args.check_steps)
            gan_s = time.perf_counter() - t
            syn = load_images(str(Path(tmp) / "syn"), SIZE, channels=1)
            filt = None
            if args.filter:
                # the same model's samples, kept only when a classifier trained on the 600 real digits agrees
                from ganforge.metrics.features import train_domain_features
                clf = train_domain_features(str(small), Path(tmp) / "clf.safetensors", size=SIZE, labelled=True,
                                            minutes=1.0, seed=seed, threads=args.threads)
                fres = ganforge.augment_dataset(out=Path(tmp) / "synf", model=result.model, per_class=args.per_class,
                                                seed=seed, progress=False, filter=clf.path, min_confidence=0.5)
                filt = read_manifest(Path(tmp) / "synf", real.class_names)
        assert real.class_names == syn.class_names == [str(c) for c in range(10)]
        both_x, both_y = torch.cat([real.images, syn.images]), torch.cat([real.labels, syn.labels])
        row = {"seed": seed, "gan_steps": result.step, "gan_s": round(gan_s, 1), "n_real": len(real),
               "n_synthetic": len(syn)}
        if result.check is not None:   # what `ganforge augment` would have told the user, on its own split
            c = result.check
            row.update(check_held_out=c.held_out, check_real=round(c.real_accuracy, 4),
                       check_real_gan=round(c.augmented_accuracy, 4), check_gain=c.gain,
                       check_p=round(c.p_value, 4), check_helped=c.helped, check_s=round(c.seconds, 1))
        sets = [("real", (real.images, real.labels)), ("real+gan", (both_x, both_y))]
        if filt is not None:
            row.update(filter_clf_val=round(clf.val_accuracy, 4), filter_accepted=round(fres.accepted, 4),
                       n_filtered=len(filt[1]))
            sets.append(("real+ganf", (torch.cat([real.images, filt[0]]), torch.cat([real.labels, filt[1]]))))
        for classic in (False, True):
            tag = "+shift" if classic else ""
            for name, (x, y) in sets:
                net = train_classifier(x, y, args.clf_steps, seed, classic)
                row[name + tag] = round(accuracy(net, test_x, test_y), 4)
        # the synthetic digits alone (train on synthetic, test on real): how much class information they carry
        row["gan_only"] = round(accuracy(train_classifier(syn.images, syn.labels, args.clf_steps, seed, False),
                                         test_x, test_y), 4)
        if filt is not None:
            row["ganf_only"] = round(accuracy(train_classifier(filt[0], filt[1], args.clf_steps, seed, False),
                                              test_x, test_y), 4)
        print(row, flush=True)
        per_seed.append(row)
    keys = ["real", "real+gan", "real+shift", "real+gan+shift", "gan_only"]
    if args.filter:
        keys += ["real+ganf", "real+ganf+shift", "ganf_only"]
    if args.check:   # augment's own verdict, on its 120 held-out digits
        keys += ["check_real", "check_real_gan", "check_gain"]
    summary = {k: {"mean": round(float(np.mean([r[k] for r in per_seed])), 4),
                   "std": round(float(np.std([r[k] for r in per_seed])), 4)} for k in keys}
    print(f"test accuracy on 10,000 MNIST test digits, mean +- std over seeds {seeds}:")
    for k in keys:
        print(f"  {k:<16} {summary[k]['mean']:.4f} +- {summary[k]['std']:.4f}")
    append_result(dict(machine_facts("augment_mnist"), config=vars(args), per_seed=per_seed, summary=summary))
    print("appended to benchmarks/results.json")


if __name__ == "__main__":
    main()
