"""Video prediction on moving digits: per-frame PSNR/SSIM, FVD-style distances and the spread of futures,
ganforge vs copy-last-frame.

Trains the video task on ``builtin:moving_digits`` (seed 0) for a CPU-time budget (``--minutes``, one
thread by default), then predicts the future of held-out clips generated with another seed (never seen in
training) and scores, beside the copy-last-frame baseline (the last context frame repeated):

- PSNR and SSIM (8-bit scale) at every predicted frame index, and their means;
- FVD-style Fréchet distances on the MNIST domain network's features (``--features``, default
  runs/features/mnist.safetensors, trained with ``train_domain_features`` on the MNIST train split when
  missing; ``--features none`` skips them): per predicted frame, all frames pooled, and features stacked
  over time (``ganforge.metrics.video``);
- ``--futures K`` (default 5) futures of each context with different noise: best-of-K PSNR and the
  diversity (per-pixel std and mean pairwise L1 between futures, 0-255). A model trained with
  ``--variety 1`` ignores its noise, so its diversity is ~0; ``--variety K`` trains a stochastic predictor.

It writes the picture ``--picture`` (default docs/video/moving_digits.png: per clip, context | truth on
top, the prediction below) and appends the record to benchmarks/results_modalities.json.

    flock /tmp/ganforge-cpu.lock env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/video_moving_digits.py --minutes 20
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
from record import DATA, append_result, machine_facts  # noqa: E402
from ganforge.data.video import moving_digits  # noqa: E402
from ganforge.tasks.video import score_predictions  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_modalities.json"
MNIST = DATA / "mnist"


def features_file(path: Path) -> Path:
    if not path.exists():
        from ganforge.metrics.features import train_domain_features

        print(f"training the domain network into {path}")
        train_domain_features(str(MNIST), path, test_data=str(MNIST / "t10k-images-idx3-ubyte.gz"), minutes=4)
    return path


def picture(path: Path, context: np.ndarray, truth: np.ndarray, pred: np.ndarray, scale: int = 2) -> None:
    """Per clip two rows: context then truth; blank under the context, then the prediction."""
    from ganforge.imaging import media

    b, k = context.shape[:2]
    n = truth.shape[1]
    side = context.shape[2]
    gap = 2
    rows = []
    for i in range(b):
        top = [*context[i], *truth[i]]
        bottom = [np.full_like(context[i, 0], 255)] * k + list(pred[i])
        for frames in (top, bottom):
            cells = []
            for j, f in enumerate(frames):
                cells.append(f[..., 0])
                cells.append(np.full((side, 6 if j == k - 1 else gap), 255, np.uint8))
            rows.append(np.concatenate(cells[:-1], 1))
            rows.append(np.full((gap, rows[-1].shape[1]), 255, np.uint8))
        rows.append(np.full((6, rows[-1].shape[1]), 255, np.uint8))
    img = np.concatenate(rows[:-2], 0)
    img = np.repeat(np.repeat(img, scale, 0), scale, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    media.save_image(path, img)


def rounded(r: dict) -> dict:
    out = {}
    for key, v in r.items():
        if isinstance(v, list):
            out[key] = [round(float(x), 4) for x in v]
        elif isinstance(v, dict):
            out[key] = rounded(v)
        else:
            out[key] = round(float(v), 4)
    return out


def score(model, x: np.ndarray, k: int, n: int, extractor, futures: int) -> dict:
    """Every figure of one model on the clips ``x`` (uint8 (B, k + n, H, W, 1))."""
    truth = x[:, k:]
    t = time.perf_counter()
    pred = model.predict(x[:, :k], n, seed=0)
    r: dict = dict(score_predictions(pred, truth), predict_s=time.perf_counter() - t)
    if extractor is not None:
        add_frechet(r, extractor, pred, truth)
    if futures > 1:
        from ganforge.metrics.video import best_of_k, diversity

        samples = np.stack([pred] + [model.predict(x[:, :k], n, seed=s) for s in range(1, futures)])
        r["best_of_k_psnr"] = best_of_k(samples, truth)["psnr"]
        r["diversity"] = diversity(samples)
    return r


def add_frechet(r: dict, extractor, pred: np.ndarray, truth: np.ndarray) -> None:
    from ganforge.metrics.video import clip_frechet, frame_frechet

    fd = frame_frechet(extractor, pred, truth)
    r["fd_frames"], r["fd_frames_pooled"] = fd["per_frame"], fd["pooled"]
    r["fd_clips"] = clip_frechet(extractor, pred, truth)


def report(name: str, r: dict, copy: dict, k: int, futures: int) -> None:
    fd = "fd_frames" in r
    print(f"-- {name}")
    print(f"{'frame':>5} {'PSNR':>7} {'copy':>7} {'gain':>6} {'SSIM':>7} {'copy':>7}"
          + (f" {'FD':>8} {'copy':>8}" if fd else ""))
    for i in range(len(r["psnr"])):
        print(f"{k + i + 1:>5} {r['psnr'][i]:7.2f} {copy['psnr'][i]:7.2f} {r['psnr'][i] - copy['psnr'][i]:6.2f} "
              f"{r['ssim'][i]:7.3f} {copy['ssim'][i]:7.3f}"
              + (f" {r['fd_frames'][i]:8.2f} {copy['fd_frames'][i]:8.2f}" if fd else ""))


def summary(name: str, r: dict) -> str:
    r["psnr_mean"], r["ssim_mean"] = float(np.mean(r["psnr"])), float(np.mean(r["ssim"]))
    line = f"{name}: mean PSNR {r['psnr_mean']:.2f} dB, mean SSIM {r['ssim_mean']:.3f}"
    if "fd_frames" in r:
        line += f", FD frames pooled {r['fd_frames_pooled']:.2f}, FD clips (time-stacked) {r['fd_clips']:.2f}"
    if "best_of_k_psnr" in r:
        line += (f"; best-of-K mean PSNR {np.mean(r['best_of_k_psnr']):.2f} dB, diversity: per-pixel std "
                 f"{r['diversity']['pixel_std']:.2f}, pairwise L1 {r['diversity']['pairwise_l1']:.2f} (0-255)")
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="5,20", help="CPU-minute budgets, scored in one resumed run")
    ap.add_argument("--steps", type=int, default=None, help="train for this many steps instead (one budget)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=4000, help="training clips")
    ap.add_argument("--test", type=int, default=500, help="held-out clips")
    ap.add_argument("--context", type=int, default=4)
    ap.add_argument("--predict", type=int, default=8)
    ap.add_argument("--arch", default="unet", choices=("unet", "convgru"))
    ap.add_argument("--motion", default=None, choices=("flow", "kernels"), help="unet motion (default: the task's)")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr-g", type=float, default=None, help="generator learning rate (default: the task's)")
    ap.add_argument("--adv-weight", type=float, default=None, help="default: the task's")
    ap.add_argument("--recon", default=None, choices=("l1", "mse"), help="reconstruction loss (default: the task's)")
    ap.add_argument("--beta1", type=float, default=None, help="Adam beta1 (default: the task's)")
    ap.add_argument("--teacher", type=float, default=None, help="teacher forcing chance (default: the task's)")
    ap.add_argument("--teacher-steps", type=int, default=None, help="steps of the teacher-forcing decay")
    ap.add_argument("--variety", type=int, default=1, help="best-of-K rollouts per training clip (stochastic mode)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--futures", type=int, default=5, help="futures per context for best-of-K and diversity")
    ap.add_argument("--features", default=str(ROOT / "runs" / "features" / "mnist.safetensors"),
                    help="MNIST domain network for the Fréchet distances, or 'none'")
    ap.add_argument("--picture", default=str(ROOT / "docs" / "video" / "moving_digits.png"), help="or 'none'")
    ap.add_argument("--out", default=None, help="keep the run folder here (default: a temporary folder)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the run in --out to each budget instead of training a new one")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    args = ap.parse_args()
    if args.resume and not (args.out and (Path(args.out) / "config.json").exists()):
        sys.exit(f"--resume needs --out pointing at a run folder with config.json (got {args.out})")
    torch.set_num_threads(args.threads)
    k, n = args.context, args.predict
    budgets = [None] if args.steps else sorted(float(m) for m in args.minutes.split(","))
    extra = {key: v for key, v in (("lr_g", args.lr_g), ("adv_weight", args.adv_weight), ("recon", args.recon),
                                   ("beta1", args.beta1), ("teacher", args.teacher),
                                   ("teacher_steps", args.teacher_steps), ("motion", args.motion)) if v is not None}
    clips, kind = moving_digits(args.test, k + n, 32, 2, seed=12345)
    x = clips[..., None]
    truth = x[:, k:]
    extractor = None
    if args.features != "none":
        from ganforge.metrics.features import load_features

        extractor = load_features(str(features_file(Path(args.features))))
    baselines = {"copy_last_frame": np.repeat(x[:, k - 1:k], n, axis=1), "blank_frame": np.zeros_like(truth)}
    base: dict = {}
    for name, p in baselines.items():
        base[name] = dict(score_predictions(p, truth))
        if extractor is not None:
            add_frechet(base[name], extractor, p, truth)
        print(summary(name, base[name]), flush=True)
    results: dict = {"budgets": {}, **base}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        for i, minutes in enumerate(budgets):
            t = time.perf_counter()
            if i == 0 and not args.resume:
                length = {"steps": args.steps} if args.steps else {"minutes": minutes}
                model = ganforge.train("video", data=f"builtin:moving_digits?n={args.n}&seed=0", context=k, predict=n,
                                       arch=args.arch, width=args.width, variety=args.variety, out=out,
                                       overwrite=True, budget_clock="cpu", batch=args.batch, threads=args.threads,
                                       precision=args.precision, progress=False, eval_every=10**9,
                                       checkpoint_every=10**9, log_every=50, **length, **extra)
            else:
                model = ganforge.resume(out, minutes=minutes, progress=False)
            fit_s = time.perf_counter() - t
            r = score(model, x, k, n, extractor, args.futures)
            r.update(steps=model.meta["step"], fit_wall_s=fit_s)
            label = f"{minutes:g} CPU-min" if minutes else f"{args.steps} steps"
            report(f"ganforge, {label} ({r['steps']} steps)", r, base["copy_last_frame"], k, args.futures)
            print(summary(f"ganforge, {label}", r))
            gains = [a - b for a, b in zip(r["psnr"], base["copy_last_frame"]["psnr"])]
            print(f"smallest gain over copy-last {min(gains):.2f} dB; fit {fit_s:.0f} s wall", flush=True)
            results["budgets"][label] = r
            pred = model.predict(x[:4, :k], n, seed=0)
    if args.picture != "none":
        picture(Path(args.picture), x[:4, :k], truth[:4], pred)
        print(f"wrote {args.picture}")
    results = rounded(results)
    if args.no_record:
        return
    record = dict(machine_facts("video_moving_digits"), config=vars(args), digits=kind, results=results)
    append_result(record, RESULTS)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
