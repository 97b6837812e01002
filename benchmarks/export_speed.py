"""Exported ONNX (onnxruntime) against eager PyTorch on CPU, one thread each, in the same run.

- **sampling**: a DCGAN-64-class generator (z 128 -> 64x64 RGB, width 64) at batch 1 and batch 64;
- **tiled SR**: a restore superres model's generator (SRResNet, width 64, 8 blocks, x4) on a 256x256 image
  in 128-pixel tiles through ganforge's tiler (``run_tiled``), once calling eager PyTorch, once the
  exported file.

The networks are random (speed does not depend on the weights; batch norms use their initial running
statistics). The arms run in interleaved rounds, so that load from other processes falls on both alike;
each figure is the median time per call over the rounds. The ratio is eager / onnxruntime (> 1: the
exported file is faster). ``export_model`` also reports the parity of each file.

    .venv/bin/python benchmarks/export_speed.py            # about two minutes on 2 cores (one SR call takes ~10 s)
    .venv/bin/python benchmarks/export_speed.py --seconds 1  # shorter arms

Figures are printed and appended, with machine facts and the command, to benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import RESULTS, append_result, machine_facts  # noqa: E402

from ganforge import nets  # noqa: E402
from ganforge.config import to_dict  # noqa: E402
from ganforge.predict.export import export_model, ort_session  # noqa: E402
from ganforge.imaging.tiling import run_tiled  # noqa: E402
from ganforge.nets.unet import SRResNet  # noqa: E402
from ganforge.tasks.generate import ImageGenerator, ImageOptions  # noqa: E402
from ganforge.tasks.restore import Restorer, RestoreOptions  # noqa: E402


def timed(fns: dict[str, callable], seconds: float, rounds: int = 5) -> dict[str, float]:
    """Median seconds per call of each function, over ``rounds`` interleaved rounds of about
    ``seconds / rounds`` each."""
    for fn in fns.values():
        fn()  # warm-up (allocations, onnxruntime's first run)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            calls, t0 = 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= seconds / rounds:
                    break
            times[name].append(elapsed / calls)
    return {k: statistics.median(v) for k, v in times.items()}


def sampling(folder: Path, seconds: float) -> dict:
    torch.manual_seed(0)
    opts = ImageOptions(size=64, channels=3, z_dim=128, arch="dcgan", width=64)
    G = nets.build("G", arch="dcgan", z_dim=128, size=64, channels=3, width=64)
    model = ImageGenerator({"G": G}, {"task": "image", "options": to_dict(opts), "step": 0})
    report = export_model(model, folder / "dcgan64.onnx")
    session = ort_session(folder / "dcgan64.onnx", threads=1)
    out = {"parity_max_abs_diff": report.max_abs_diff,
           "params_M": round(sum(p.numel() for p in G.parameters()) / 1e6, 2)}
    for batch in (1, 64):
        z = torch.randn(batch, 128)
        zn = z.numpy()

        def eager():
            with torch.no_grad():
                model.G(z)

        t = timed({"eager": eager, "onnxruntime": lambda: session.run(None, {"z": zn})}, seconds)
        out[f"batch{batch}"] = {"eager_ms": t["eager"] * 1e3, "onnxruntime_ms": t["onnxruntime"] * 1e3,
                                "ratio": t["eager"] / t["onnxruntime"]}
    return out


def tiled_sr(folder: Path, seconds: float, size: int = 256, tile: int = 128) -> dict:
    torch.manual_seed(0)
    opts = RestoreOptions(kind="superres", scale=4, width=64, blocks=8)
    G = SRResNet(channels=3, width=64, blocks=8, scale=4)
    for p in G.tail.parameters():   # the tail starts at zero (the output would be the bicubic base): not here
        torch.nn.init.normal_(p, 0, 0.02)
    model = Restorer({"G": G}, {"task": "restore", "options": to_dict(opts), "step": 0})
    report = export_model(model, folder / "sr.onnx")
    session = ort_session(folder / "sr.onnx", threads=1)
    x = torch.rand(1, 3, size, size) * 2 - 1

    def ort_net(t: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"image": t.contiguous().numpy()})[0])

    def eager() -> torch.Tensor:
        with torch.no_grad():
            return run_tiled(G, x, tile, scale=4, multiple=G.multiple).clamp(-1, 1)

    def onnx() -> torch.Tensor:
        return run_tiled(ort_net, x, tile, scale=4, multiple=G.multiple)

    diff = float((eager() - onnx()).abs().max())
    t = timed({"eager": eager, "onnxruntime": onnx}, seconds, rounds=2)
    return {"image": f"{size}x{size}", "tile": tile, "parity_max_abs_diff": report.max_abs_diff,
            "tiled_max_abs_diff": diff, "eager_s": t["eager"], "onnxruntime_s": t["onnxruntime"],
            "ratio": t["eager"] / t["onnxruntime"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="time per arm and case (split into rounds)")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import onnxruntime
    with tempfile.TemporaryDirectory() as tmp:
        s = sampling(Path(tmp), args.seconds)
        for b in (1, 64):
            r = s[f"batch{b}"]
            print(f"sampling DCGAN-64 batch {b:>2}: eager {r['eager_ms']:8.2f} ms  onnxruntime {r['onnxruntime_ms']:8.2f} ms"
                  f"  ratio {r['ratio']:.2f}x")
        sr = tiled_sr(Path(tmp), args.seconds * 2)
        print(f"tiled SR x4 {sr['image']} in {sr['tile']} tiles: eager {sr['eager_s']:.3f} s  onnxruntime "
              f"{sr['onnxruntime_s']:.3f} s  ratio {sr['ratio']:.2f}x  (tiled outputs differ by {sr['tiled_max_abs_diff']:.1e})")
        print(f"parity of the exported files: DCGAN {s['parity_max_abs_diff']:.1e}, SR {sr['parity_max_abs_diff']:.1e}")
    record = dict(machine_facts("export_speed"), onnxruntime=onnxruntime.__version__, threads_each=1,
                  sampling=s, tiled_sr=sr, goal="onnxruntime >= 1.5x eager for sampling at batch 1",
                  goal_met=s["batch1"]["ratio"] >= 1.5)
    append_result(record, args.results)
    print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
