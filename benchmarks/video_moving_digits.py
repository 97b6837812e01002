"""Video prediction on moving digits: PSNR/SSIM per predicted frame, ganforge vs copy-last-frame.

Trains the video task on ``builtin:moving_digits`` (seed 0) for a fixed time budget, then predicts the
future of held-out clips generated with another seed (never seen in training) and scores every predicted
frame index with PSNR and SSIM (8-bit scale), beside the copy-last-frame baseline (the last context frame
repeated). Appends the record to benchmarks/results_modalities.json.

    flock /tmp/ganforge-cpu.lock nice -n 5 .venv/bin/python benchmarks/video_moving_digits.py --minutes 5
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
from record import append_result, machine_facts  # noqa: E402
from ganforge.data.video import moving_digits  # noqa: E402
from ganforge.tasks.video import score_predictions  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_modalities.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=4000, help="training clips")
    ap.add_argument("--test", type=int, default=500, help="held-out clips")
    ap.add_argument("--context", type=int, default=4)
    ap.add_argument("--predict", type=int, default=8)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", default=None, help="keep the run folder here (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    k, n = args.context, args.predict
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        t = time.perf_counter()
        model = ganforge.train("video", data=f"builtin:moving_digits?n={args.n}&seed=0", context=k, predict=n,
                               width=args.width, out=out, overwrite=True, minutes=args.minutes, batch=args.batch,
                               threads=args.threads, progress=False, eval_every=10**9, checkpoint_every=10**9,
                               log_every=50)
        fit_s = time.perf_counter() - t
    clips, kind = moving_digits(args.test, k + n, 32, 2, seed=12345)
    x = clips[..., None]
    truth = x[:, k:]
    t = time.perf_counter()
    pred = model.predict(x[:, :k], n, seed=0)
    predict_s = time.perf_counter() - t
    copy = np.repeat(x[:, k - 1:k], n, axis=1)
    results = {"ganforge": score_predictions(pred, truth), "copy_last_frame": score_predictions(copy, truth)}
    print(f"{'frame':>5} {'PSNR gan':>9} {'PSNR copy':>9} {'SSIM gan':>9} {'SSIM copy':>9}")
    for i in range(n):
        g, c = results["ganforge"], results["copy_last_frame"]
        print(f"{k + i + 1:>5} {g['psnr'][i]:9.2f} {c['psnr'][i]:9.2f} {g['ssim'][i]:9.3f} {c['ssim'][i]:9.3f}")
    for name, r in results.items():
        r["psnr"] = [round(v, 3) for v in r["psnr"]]
        r["ssim"] = [round(v, 4) for v in r["ssim"]]
        r["psnr_mean"], r["ssim_mean"] = round(float(np.mean(r["psnr"])), 3), round(float(np.mean(r["ssim"])), 4)
        print(f"{name}: mean PSNR {r['psnr_mean']:.2f} dB, mean SSIM {r['ssim_mean']:.3f}")
    record = dict(machine_facts("video_moving_digits"), config=vars(args), digits=kind, steps=model.meta["step"],
                  fit_s=round(fit_s, 1), predict_s=round(predict_s, 2), results=results)
    append_result(record, RESULTS)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
