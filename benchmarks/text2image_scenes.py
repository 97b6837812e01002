"""Text-to-image on builtin:scenes: how often a generated image shows what its caption says.

Trains the text2image task on ``builtin:scenes`` (seed 0, 4,000 scenes) for ``max(--budgets)`` CPU-minutes
(``budget_clock="cpu"``, one thread), with a model snapshot at each budget. Three colour-shape pairs
(``--hold``, default red triangle, green circle, blue square) never appear in training. A judge (a small
CNN with one head per attribute: shape, colour and size of each object, and the relation or corner) is
trained on real scenes drawn with another seed (all pairs) and checked on held-out real scenes (its
ceiling). Each snapshot generates one image for each caption of two test sets:

- held-out captions: 1,000 new scenes (seed 200) without the held pairs (mostly word combinations that
  training also had, with other images);
- held-out compositions: 1,000 scenes (seed 300) with at least one held pair (combinations never seen).

The judge's reading is compared with the caption: per attribute and all attributes at once. Baselines in
the same run: the same generated images scored against shuffled captions (matching by chance), and
retrieval, which returns the training image whose caption shares the most attributes (it memorises; on
held-out compositions it cannot be right about the held pair). Appends to benchmarks/results_modalities.json.

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/text2image_scenes.py --budgets 5,20
"""
from __future__ import annotations

import argparse
import json
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
from ganforge.data.captions import (COLOURS, CORNERS, RELATIONS, SHAPES, SIZES, parse_hold, scene_caption,  # noqa: E402
                                    scenes)
from image_methods import Snapshots  # noqa: E402
from record import append_result, machine_facts, parse_options  # noqa: E402

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


def retrieval(train_targets: np.ndarray, test_targets: np.ndarray) -> np.ndarray:
    """For each test caption the index of the training scene sharing the most attributes (first of ties)."""
    out = []
    for i in range(0, len(test_targets), 256):
        same = (test_targets[i:i + 256, None, :] == train_targets[None]).sum(-1)
        out.append(same.argmax(1))
    return np.concatenate(out)


def load_or_train_judge(path: str | None, objects: int, hs, epochs: int) -> tuple[Judge, float]:
    """The judge (trained on 6,000 real scenes of seed 100); ``path``: reuse a saved one, or save it there."""
    t = time.process_time()
    if path and Path(path).exists():
        judge = Judge(hs)
        judge.load_state_dict(torch.load(path, weights_only=True))
        return judge.eval(), 0.0
    j_images, j_attrs = scenes(6000, seed=100, objects=objects)
    judge = train_judge(j_images, targets(j_attrs, hs), hs, epochs)
    if path:
        torch.save(judge.state_dict(), path)
    return judge, time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="5,20", help="CPU-minute marks scored (the run lasts the largest)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--objects", type=int, default=2, choices=(1, 2))
    ap.add_argument("--n", type=int, default=4000, help="training scenes")
    ap.add_argument("--test", type=int, default=1000, help="captions in each test set")
    ap.add_argument("--hold", default="red-triangle,green-circle,blue-square",
                    help="colour-shape pairs left out of training ('' for none: no composition test set)")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a text2image option for the run (repeatable), e.g. match_weight=0")
    ap.add_argument("--judge-epochs", type=int, default=6)
    ap.add_argument("--judge", default=None, help="judge weights file: loaded when it exists, else written")
    ap.add_argument("--out", default=None, help="keep the run folder here")
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    budgets = sorted(float(b) for b in args.budgets.split(","))
    options = parse_options(args.option)
    hold = parse_hold("--hold", args.hold)
    hs = heads(args.objects)
    judge, judge_s = load_or_train_judge(args.judge, args.objects, hs, args.judge_epochs)
    sets = {"heldout_captions": scenes(args.test, seed=200, objects=args.objects, hold=hold)}
    if hold:
        sets["heldout_compositions"] = scenes(args.test, seed=300, objects=args.objects, hold=hold, held=True)
    truths = {name: targets(attrs, hs) for name, (_, attrs) in sets.items()}
    results: dict = {"judge_on_real": {name: agreement(read(judge, im), truths[name], hs)
                                       for name, (im, _) in sets.items()}}
    print("judge on real scenes:", results["judge_on_real"], flush=True)
    train_images, train_attrs = scenes(args.n, seed=0, objects=args.objects, hold=hold)  # = the training set
    train_targets = targets(train_attrs, hs)
    results["retrieval"] = {}
    for name, truth in truths.items():
        results["retrieval"][name] = agreement(read(judge, train_images[retrieval(train_targets, truth)]), truth, hs)
    print("retrieval (nearest training caption):", results["retrieval"], flush=True)
    data = f"builtin:scenes?n={args.n}&seed=0&objects={args.objects}" + (f"&hold={args.hold}" if hold else "")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        snaps = Snapshots(out / "snapshots", budgets)
        t, cpu = time.perf_counter(), time.process_time()
        model = ganforge.train("text2image", data=data, out=out, overwrite=True, minutes=max(budgets),
                               budget_clock="cpu", batch=args.batch, width=args.width, threads=args.threads,
                               progress=False, eval_every=10**9, checkpoint_every=10**9, log_every=200,
                               callbacks=[snaps], **options)
        fit = {"steps": model.meta["step"], "wall_s": round(time.perf_counter() - t, 1),
               "cpu_s": round(time.process_time() - cpu, 1)}
        print(f"trained: {fit}", flush=True)
        for minutes, snap in snaps.done.items():
            m = ganforge.load(snap["file"])
            key = f"{minutes:g}_cpu_min"
            results[key] = {"step": snap["step"], "cpu_seconds": snap["cpu_seconds"]}
            for name, (_, attrs) in sets.items():
                truth = truths[name]
                generated = m.sample(len(attrs), seed=0, condition=[scene_caption(a) for a in attrs])
                pred = read(judge, generated)
                shuffled = truth[np.random.default_rng(0).permutation(len(truth))]
                results[key][name] = {"ganforge": agreement(pred, truth, hs),
                                      "caption_shuffled": agreement(pred, shuffled, hs)}
                print(f"{key} {name}: ganforge {results[key][name]['ganforge']}\n"
                      f"    shuffled captions {results[key][name]['caption_shuffled']}", flush=True)
    record = dict(machine_facts("text2image_scenes"), config=dict(vars(args), options=options), data=data, fit=fit,
                  judge_cpu_s=round(judge_s, 1), results=results)
    append_result(record, Path(args.results))
    print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
