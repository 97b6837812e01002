"""3-D shapes on builtin:objects: MMD / COV / 1-NNA under Chamfer distance and 1 - IoU, mesh checks, a linear
probe on D features; at a short and a long CPU-time budget (issue 19).

Trains the voxel task on ``builtin:objects`` (seed 0) with ``budget_clock="cpu"``, one thread: first for the
shortest of ``--minutes``, then resumed to each longer one (the same run, scored at every budget). Against
held-out shapes generated with another seed (``ganforge.metrics.shapes``):

- Chamfer distance on surface points (the point-cloud generation metrics of Achlioptas et al. 2018 and
  PointFlow) and 1 - IoU of the grids: MMD (fidelity, lower is better), COV (diversity, higher is better),
  1-NNA (0.5 is best; 1.0: told apart; below 0.5: copies) -- for ganforge's samples (classes in turn), for
  training shapes (a memoriser: the best a model can do without generalising) and for per-class mean
  shapes (a blurry average);
- meshes as ``ganforge sample`` writes them (marching cubes, trimesh): the share that is watertight with
  consistent winding, and of those the share whose every edge has exactly two faces (manifold);
- a linear probe: logistic regression on D's pooled features of 1,000 training shapes, accuracy on the
  held-out ones, vs an untrained discriminator and raw voxels pooled to 8^3.

Writes a preview (``--preview``: rows = classes) and appends the record to benchmarks/results_modalities.json.

    .venv/bin/python benchmarks/voxels_objects.py --minutes 5,20 [--width 16] [--option loss=hinge ...]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from ganforge.data.voxels import OBJECT_CLASSES, objects  # noqa: E402
from ganforge.imaging import media  # noqa: E402
from ganforge.metrics.shapes import shape_set_scores  # noqa: E402
from ganforge.nets import registry  # noqa: E402
from ganforge.tasks.voxels import preview_grid, to_mesh  # noqa: E402
from record import append_result, machine_facts, parse_options  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_modalities.json"


def rounded(d: dict) -> dict:
    return {k: round(float(v), 4) for k, v in d.items()}


def mesh_checks(grids: np.ndarray) -> dict[str, float]:
    """Share of non-empty shapes whose mesh is watertight with consistent winding, and of those, manifold
    (every edge in exactly two faces)."""
    tight = manifold = total = 0
    for g in grids:
        if not g.any():
            continue
        total += 1
        mesh = to_mesh(g)
        if mesh.is_watertight and mesh.is_winding_consistent:
            tight += 1
            edges = np.sort(mesh.edges, axis=1)
            _, counts = np.unique(edges, axis=0, return_counts=True)
            manifold += int((counts == 2).all())
    return {"meshes": total, "watertight": tight / max(total, 1), "manifold": manifold / max(total, 1)}


def probe(train_x, train_y, test_x, test_y) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    s = StandardScaler().fit(train_x)
    clf = LogisticRegression(max_iter=2000).fit(s.transform(train_x), train_y)
    return round(float(clf.score(s.transform(test_x), test_y)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="5,20", help="CPU-minute budgets, scored in one resumed run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=2000, help="training shapes")
    ap.add_argument("--test", type=int, default=400, help="held-out shapes and generated shapes")
    ap.add_argument("--points", type=int, default=256, help="surface points per shape for the Chamfer distance")
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--option", action="append", default=[], help="a task option, key=value (repeatable)")
    ap.add_argument("--preview", default=str(ROOT / "docs" / "voxels" / "samples.png"))
    ap.add_argument("--out", default=None, help="keep the run folder here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    budgets = sorted(float(m) for m in args.minutes.split(","))
    options = parse_options(args.option)
    if args.width:
        options["width"] = args.width
    train, train_y = objects(args.n, seed=0)
    test, test_y = objects(args.test, seed=777)
    rng = np.random.default_rng(0)
    memoriser = train[rng.choice(len(train), args.test, replace=False)]
    means = np.stack([train[train_y == k].mean(0) > 0.5 for k in range(len(OBJECT_CLASSES))])
    t = time.perf_counter()
    baselines = {"nearest_training_shape": rounded(shape_set_scores(memoriser, test, args.points)),
                 "class_means": rounded(shape_set_scores(means[np.arange(args.test) % len(means)], test,
                                                         args.points))}
    print(f"baselines ({time.perf_counter() - t:.0f} s):", flush=True)
    for k, v in baselines.items():
        print(f"{k:>24}: {v}", flush=True)
    results: dict = {"baselines": baselines, "budgets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        for i, minutes in enumerate(budgets):
            t = time.perf_counter()
            if i == 0:
                model = ganforge.train("voxels", data=f"builtin:objects?n={args.n}&seed=0", out=out, overwrite=True,
                                       minutes=minutes, budget_clock="cpu", batch=args.batch, threads=args.threads,
                                       progress=False, eval_every=10**9, checkpoint_every=10**9, log_every=50,
                                       **options)
            else:
                model = ganforge.resume(out, minutes=minutes, progress=False)
            fit_s = time.perf_counter() - t
            generated = model.sample(args.test, seed=0)
            r = {"steps": model.meta["step"], "fit_wall_s": round(fit_s, 1),
                 "scores": rounded(shape_set_scores(generated, test, args.points)),
                 "fill": {"ganforge": round(float(generated.mean()), 4), "real": round(float(test.mean()), 4)},
                 "mesh": rounded(mesh_checks(generated[:64]))}
            results["budgets"][f"{minutes:g}"] = r
            print(f"{minutes:g} CPU-min ({r['steps']} steps): {r['scores']} fill {r['fill']} mesh {r['mesh']}",
                  flush=True)
    per_class = np.stack([model.sample(8, seed=1, condition=c) for c in model.class_names]) if model.class_names \
        else model.sample(32, seed=1)[None]
    media.save_image(Path(args.preview), preview_grid(per_class.reshape(-1, *per_class.shape[2:]), nrow=8))
    print(f"preview: {args.preview} (rows: {', '.join(model.class_names) or 'samples'})")
    fit = train[:1000], train_y[:1000]
    # the same network untrained: the autoencoder's encoder (lgan) or the discriminator (3dgan)
    untrained = registry.build(model.meta["nets"]["AE" if "AE" in model.meta["nets"] else "D"]).eval()
    encode = untrained.encode if "AE" in model.meta["nets"] else untrained.features

    def feats(x):
        with torch.no_grad():
            return np.concatenate([encode(torch.from_numpy(x[i:i + 100].astype(np.float32) * 2 - 1)).numpy()
                                   for i in range(0, len(x), 100)])

    def pooled(x):
        return torch.nn.functional.avg_pool3d(torch.from_numpy(x.astype(np.float32))[:, None], 4).flatten(1).numpy()

    results["linear_probe_accuracy"] = {
        "trained": probe(model.features(fit[0]), fit[1], model.features(test), test_y),
        "untrained": probe(feats(fit[0]), fit[1], feats(test), test_y),
        "raw_voxels_8cubed": probe(pooled(fit[0]), fit[1], pooled(test), test_y)}
    print(f"linear probe: {results['linear_probe_accuracy']}")
    record = dict(machine_facts("voxels_objects"), config=vars(args), options=options, results=results)
    append_result(record, RESULTS)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
