"""Text-to-image on builtin:scenes: how often a generated image shows what its caption says.

Trains the text2image task on ``builtin:scenes`` (seed 0) for a fixed time budget. A judge (a small CNN
with one head per attribute: shape, colour and size of each object, and the relation or corner) is
trained on real scenes drawn with another seed and checked on held-out real scenes (its ceiling). For
captions of held-out scenes the model generates one image each; the judge's reading is compared with
the caption: per attribute and all attributes at once. Baseline: the same generated images scored
against shuffled captions (what matching by chance gives). Appends to benchmarks/results_modalities.json.

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/text2image_scenes.py --minutes 4
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from ganforge.data.captions import COLOURS, CORNERS, RELATIONS, SHAPES, SIZES, scene_caption, scenes  # noqa: E402
from record import append_result, machine_facts  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_modalities.json"


def heads(objects: int) -> dict[str, tuple[str, ...]]:
    h = {"a.shape": SHAPES, "a.colour": tuple(COLOURS), "a.size": SIZES}
    if objects == 2:
        h.update({"relation": RELATIONS, "b.shape": SHAPES, "b.colour": tuple(COLOURS), "b.size": SIZES})
    else:
        h["corner"] = CORNERS
    return h


def targets(attrs: list[dict], hs: dict[str, tuple[str, ...]]) -> np.ndarray:
    def get(a, key):
        if "." in key:
            o, f = key.split(".")
            return a[o][f]
        return a[key]
    return np.array([[hs[k].index(get(a, k)) for k in hs] for a in attrs])


class Judge(nn.Module):
    def __init__(self, hs):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(64, 128, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(128 * 16, 256), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(256, len(v)) for v in hs.values())

    def forward(self, x):
        h = self.body(x)
        return [head(h) for head in self.heads]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def train_judge(images, y, hs, epochs: int, seed: int = 0) -> Judge:
    torch.manual_seed(seed)
    judge = Judge(hs)
    opt = torch.optim.Adam(judge.parameters(), 1e-3)
    x, yt = to_tensor(images), torch.from_numpy(y)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            loss = sum(nn.functional.cross_entropy(o, yt[idx, j]) for j, o in enumerate(judge(x[idx])))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return judge.eval()


@torch.no_grad()
def read(judge: Judge, images: np.ndarray) -> np.ndarray:
    x = to_tensor(images)
    return np.concatenate([np.stack([o.argmax(1).numpy() for o in judge(x[i:i + 256])], 1)
                           for i in range(0, len(x), 256)])


def agreement(pred: np.ndarray, truth: np.ndarray, hs) -> dict[str, float]:
    out = {k: round(float((pred[:, j] == truth[:, j]).mean()), 4) for j, k in enumerate(hs)}
    out["all"] = round(float((pred == truth).all(1).mean()), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--objects", type=int, default=2, choices=(1, 2))
    ap.add_argument("--n", type=int, default=4000, help="training scenes")
    ap.add_argument("--test", type=int, default=1000, help="held-out captions")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--judge-epochs", type=int, default=6)
    ap.add_argument("--out", default=None, help="keep the run folder here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    hs = heads(args.objects)
    t = time.perf_counter()
    j_images, j_attrs = scenes(6000, seed=100, objects=args.objects)
    judge = train_judge(j_images, targets(j_attrs, hs), hs, args.judge_epochs)
    judge_s = time.perf_counter() - t
    test_images, test_attrs = scenes(args.test, seed=200, objects=args.objects)
    truth = targets(test_attrs, hs)
    results = {"judge_on_real": agreement(read(judge, test_images), truth, hs)}
    print("judge on held-out real scenes:", results["judge_on_real"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        t = time.perf_counter()
        model = ganforge.train("text2image", data=f"builtin:scenes?n={args.n}&seed=0&objects={args.objects}", out=out,
                               overwrite=True, minutes=args.minutes, batch=args.batch, width=args.width,
                               threads=args.threads, progress=False, eval_every=10**9, checkpoint_every=10**9,
                               log_every=50)
        fit_s = time.perf_counter() - t
    captions = [scene_caption(a) for a in test_attrs]
    generated = model.sample(len(captions), seed=0, condition=captions)
    pred = read(judge, generated)
    shuffled = truth[np.random.default_rng(0).permutation(len(truth))]
    results["ganforge"] = agreement(pred, truth, hs)
    results["caption_shuffled"] = agreement(pred, shuffled, hs)
    for k in ("ganforge", "caption_shuffled"):
        print(f"{k}: {results[k]}")
    record = dict(machine_facts("text2image_scenes"), config=vars(args), steps=model.meta["step"],
                  fit_s=round(fit_s, 1), judge_s=round(judge_s, 1), results=results)
    append_result(record, RESULTS)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
