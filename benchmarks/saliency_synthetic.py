"""Saliency prediction on the synthetic scenes (builtin:saliency), the GAN against simple baselines.

Trains the saliency task (pix2pix preset: U-Net G width 32, PatchGAN D, adversarial + 100 * L1) on
``builtin:saliency?n=1000&size=64&seed=0`` for ``--minutes`` of wall-clock time, then scores on 200 fresh
scenes (seed 1) with CC, NSS, KL, AUC-Judd and SIM (pseudo-fixations: pixels >= half of the true map's
peak), side by side with:

- ``centre``: a centre-bias Gaussian (sigma = a quarter of the side), the same map for every image;
- ``colour_contrast``: the frequency-tuned heuristic of Achanta et al. (2009) in RGB: the distance of each
  slightly blurred pixel's colour from the image's mean colour, blurred (sigma = side / 16);
- ``truth``: the true maps themselves (the ceiling: CC = SIM = AUC = 1 up to ties, KL = 0).

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/saliency_synthetic.py --minutes 4
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ganforge  # noqa: E402
from record import append_result, machine_facts  # noqa: E402
from ganforge.data.builtin import SALIENCY_CUES, saliency_scene, saliency_scenes  # noqa: E402
from ganforge.metrics import saliency as sal  # noqa: E402


def centre_bias(size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    s = size / 4
    return np.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (2 * s * s))


def colour_contrast(image: np.ndarray) -> np.ndarray:
    im = gaussian_filter(image.astype(np.float64), sigma=(1, 1, 0))
    d = np.linalg.norm(im - im.reshape(-1, 3).mean(0), axis=2)
    return gaussian_filter(d, sigma=image.shape[0] / 16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0, help="training budget (wall clock)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    images, truth = saliency_scenes(args.n_test, args.size, seed=1)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        model = ganforge.train("saliency", data=f"builtin:saliency?n={args.n_train}&size={args.size}&seed=0",
                               out=Path(tmp) / "run", minutes=args.minutes, crop=args.size, width=32, batch=16,
                               threads=args.threads, progress=False, eval_every=10**9, checkpoint_every=10**9,
                               log_every=50)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        preds = [model.predict(a) for a in images]
        predict_ms = 1000 * (time.perf_counter() - t) / len(images)
    results["ganforge"] = dict(sal.evaluate(preds, truth), steps=model.meta["step"], fit_s=round(fit_s, 1),
                               predict_ms_per_image=round(predict_ms, 2))
    maps = {"ganforge": preds, "centre": [centre_bias(args.size)] * len(truth),
            "colour_contrast": [colour_contrast(a) for a in images], "truth": list(truth)}
    for name in ("centre", "colour_contrast", "truth"):
        results[name] = sal.evaluate(maps[name], truth)
    # the same scores on each cue's scenes (the test scenes are builtin:saliency seed 1: scene i is (1, i))
    cues = [saliency_scene(np.random.default_rng([1, i]), args.size)[2]["cue"] for i in range(len(truth))]
    by_cue = {}
    for cue in SALIENCY_CUES:
        idx = [i for i, c in enumerate(cues) if c == cue]
        by_cue[cue] = {name: sal.evaluate([m[i] for i in idx], [truth[i] for i in idx]) for name, m in maps.items()
                       if name != "truth"}
    print(f"{'method':<16}" + "".join(f"{k:>10}" for k in sal.METRICS))
    for name, r in results.items():
        print(f"{name:<16}" + "".join(f"{r[k]:>10.4f}" for k in sal.METRICS))
    for cue, per in by_cue.items():
        print(f"{cue} cue ({per['centre']['n']} scenes): " + ", ".join(
            f"{name} CC {r['cc']:.3f} AUC {r['auc_judd']:.3f}" for name, r in per.items()))
    print(f"ganforge: {results['ganforge']['steps']} steps in {fit_s:.0f} s; "
          f"{predict_ms:.1f} ms per {args.size}x{args.size} map")
    results = {k: {m: (round(v, 4) if isinstance(v, float) else v) for m, v in r.items()} for k, r in results.items()}
    append_result(dict(machine_facts("saliency_synthetic"), config=vars(args),
                       fixations="pixels >= 0.5 of each true map's maximum", results=results,
                       by_cue={c: {k: {m: round(v, 4) for m, v in r.items()} for k, r in per.items()}
                               for c, per in by_cue.items()}))
    print("appended to benchmarks/results.json")


if __name__ == "__main__":
    main()
