"""Photo blending on BSD68 (colour) composites with a known answer, where blending is hard: ganforge's
blenders vs copy-paste, plain Poisson and mixed-gradient Poisson.

Every one of the 68 photos is the scene of one composite of each family (``ganforge.data.composites``; the
object's photo and its background are the next two photos, turned to the scene's orientation; seeded):

- ``affine``: a region of the photo pasted back into a colour-shifted copy (per-channel gain 0.7..1.3, offset
  -0.1..0.1): the easy case, exactly what Poisson blending removes up to the gain;
- ``lighting``: the destination relit by a smooth field (per-channel gain varying across the image, a gamma);
- ``seam``: an object cut from another photo with a loose mask (its own background in the margin), pasted into
  a textured part of the scene under other lighting;
- ``cut``: as ``seam``, with a mask that cuts through the object.

Methods, side by side on the same composites (the destination under the mask never shows the truth):
``copy`` (copy-paste), ``poisson`` (seamless cloning), ``mixed`` (mixed-gradient seamless cloning), ``colour``
(with ``--with-colour``: ganforge ``--net colour``, one gain and offset per image from a network trained on
global colour shifts, then the Gaussian-Poisson solve; the earlier default), ``field`` (ganforge ``--net field``, the default: relighting
fields and an object matte from a network trained on all four families, then the seam solve) and
``field_no_solve`` (the network's estimate without the seam solve), ``field_no_check`` (with the seam solve,
without the ring check that falls back on Poisson where Poisson predicts a ring of known pixels around the mask
better). The networks train on CIFAR-10 training photos (never
BSD68) for ``--minutes`` of CPU time each, one thread, one run per budget (trained once, then resumed).

PSNR / SSIM (8-bit RGB, whole image) and PSNR inside the mask, per family.

    PYTHONPATH=. python benchmarks/blend_bsd68.py [--minutes 2,6] [--threads 1] [--with-colour]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from record import DATA, ROOT as _ROOT, append_result, machine_facts  # noqa: E402

RESULTS = _ROOT / "benchmarks" / "results_analysis.json"  # a file of its own: fewer merge conflicts
from ganforge.data import composites  # noqa: E402
from ganforge.metrics.quality import psnr, ssim  # noqa: E402
from ganforge.tasks.blend import blend, field_blend, field_estimate, ring_check  # noqa: E402

METHODS = ("copy", "poisson", "mixed", "colour", "field_no_solve", "field_no_check", "field")


def photo(files: list[Path], i: int, shape: tuple[int, int] | None = None) -> torch.Tensor:
    a = np.asarray(Image.open(files[i % len(files)]).convert("RGB"), np.float32) / 255
    if shape is not None and a.shape[:2] != shape:
        a = a.transpose(1, 0, 2)
    if shape is not None and a.shape[:2] != shape:
        a = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize(shape[::-1], Image.BICUBIC), np.float32) / 255
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]


def make_composites(files: list[Path], families: list[str]) -> list[dict]:
    out = []
    for k, family in enumerate(families):
        for i in range(len(files)):
            gen = torch.Generator().manual_seed(1000 * k + i)
            scene = photo(files, i)
            shape = tuple(scene.shape[-2:])
            c = composites.make(family, scene, photo(files, i + 1, shape), photo(files, i + 2, shape), gen)
            out.append({"family": family, **{k: v[0].permute(1, 2, 0).double().numpy() for k, v in c.items()}})
            out[-1]["mask"] = out[-1]["mask"][..., 0] > 0.5
    return out


def train(net: str, minutes: float, out: Path, args) -> tuple[ganforge.Model, float]:
    """Train to ``minutes`` of CPU time in all: a new run, or the one in ``out`` resumed (CPU-s of this call)."""
    t = time.process_time()
    if out.exists():
        return ganforge.resume(out, minutes=minutes, progress=False), time.process_time() - t
    model = ganforge.train("blend", data=str(DATA / "cifar10" / "train.zip"), limit=args.train_limit, size=64,
                           net=net, minutes=minutes, budget_clock="cpu", batch=args.batch, threads=args.threads,
                           out=out, progress=False, eval_every=10**9, checkpoint_every=10**9, log_every=200)
    return model, time.process_time() - t


def crop_box(mask: np.ndarray, pad: int = 24) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 2 * pad
    cy, cx = (ys.max() + ys.min()) // 2, (xs.max() + xs.min()) // 2
    y0, x0 = int(np.clip(cy - side // 2, 0, max(h - side, 0))), int(np.clip(cx - side // 2, 0, max(w - side, 0)))
    return slice(y0, y0 + side), slice(x0, x0 + side)


def picture(rows: list[tuple[str, dict[str, np.ndarray]]], path: Path, side: int = 160) -> None:
    """One row per family: the crop around the mask of copy-paste, Poisson, mixed, ganforge and the truth."""
    from PIL import ImageDraw

    cols = ("copy", "poisson", "mixed", "field", "truth")
    sheet = Image.new("RGB", (len(cols) * side, len(rows) * side + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(("copy-paste", "Poisson", "mixed Poisson", "ganforge", "truth")):
        draw.text((j * side + 4, 2), name, fill="black")
    for i, (family, outs) in enumerate(rows):
        for j, name in enumerate(cols):
            sheet.paste(Image.fromarray(outs[name]).resize((side, side), Image.BICUBIC), (j * side, 16 + i * side))
        draw.text((4, 16 + i * side + 2), family, fill="white")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def score(items: list[dict], models: dict[str, ganforge.Model],
          shown: list | None = None) -> dict[str, dict[str, dict[str, float]]]:
    scores: dict[str, dict[str, dict[str, list[float]]]] = {}
    picks: dict[str, list[bool]] = {}
    for c in items:
        src, dst, mask, truth = c["src"], c["dst"], c["mask"], c["truth"]
        truth8 = (np.clip(truth, 0, 1) * 255 + 0.5).astype(np.uint8)
        outs = {m: blend(src, dst, mask, method=m) for m in ("copy", "poisson", "mixed")}
        if "colour" in models:
            outs["colour"] = blend(src, dst, mask, method="gp", model=models["colour"])
        est = field_estimate(models["field"].nets["G"], src, dst, mask, models["field"].size)
        outs["field_no_solve"] = (np.clip(est, 0, 1) * 255 + 0.5).astype(np.uint8)
        field = models["field"]
        outs["field_no_check"] = field_blend(field.nets["G"], src, dst, mask, field.size, check=False)
        chose = ring_check(field.nets["G"], src, dst, mask, field.size, 1e-4)
        outs["field"] = outs["field_no_check"] if chose == "field" else outs["poisson"]
        if c is items[0]:  # the benchmark's split of the default into its parts is the default
            assert np.array_equal(outs["field"], blend(src, dst, mask, method="gp", model=field))
        picks.setdefault(c["family"], []).append(chose == "field")
        if shown is not None and len(picks[c["family"]]) == 1:   # the first composite of each family
            ys, xs = crop_box(mask)
            shown.append((c["family"], {k: v[ys, xs] for k, v in dict(outs, truth=truth8).items()}))
        for name, out in outs.items():
            s = scores.setdefault(c["family"], {}).setdefault(name, {"psnr": [], "ssim": [], "psnr_mask": []})
            s["psnr"].append(psnr(out, truth8)[0])
            s["ssim"].append(ssim(out, truth8)[0])
            diff = (out[mask].astype(np.float64) - truth8[mask]) ** 2
            s["psnr_mask"].append(10 * np.log10(255 ** 2 / max(diff.mean(), 1e-10)))
    means = {fam: {name: {k: round(float(np.mean(v)), 3) for k, v in s.items()} for name, s in per.items()}
             for fam, per in scores.items()}
    for fam, p in picks.items():  # how often the ring check kept the network's blend
        means[fam]["field"]["kept_network"] = round(float(np.mean(p)), 3)
    return means


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="2,6", help="CPU-minute budgets of each network, comma-separated")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--train-limit", type=int, default=20000, help="CIFAR-10 training photos used")
    ap.add_argument("--families", default=",".join(composites.FAMILIES))
    ap.add_argument("--with-colour", action="store_true", help="also train and score the colour network")
    ap.add_argument("--images", type=int, default=None, help="only the first N photos (smoke runs)")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    ap.add_argument("--picture", default=str(_ROOT / "docs" / "blend" / "families.png"),
                    help="crops of the first composite of each family, every method (at the last budget); '' for none")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    budgets = [float(m) for m in args.minutes.split(",")]
    families = args.families.split(",")
    files = sorted((DATA / "bsd68_color").glob("*.png"))[:args.images]
    items = make_composites(files, families)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in budgets:
            models, cpu = {}, {}
            for net in ("colour", "field") if args.with_colour else ("field",):
                models[net], cpu[net] = train(net, minutes, Path(tmp) / net, args)
                print(f"{net}: {models[net].meta['step']} steps in all, {cpu[net]:.0f} CPU-s in this call "
                      f"(budget {minutes} CPU-min in all)",
                      flush=True)
            t = time.perf_counter()
            shown: list = []
            means = score(items, models, shown)
            if minutes == budgets[-1] and args.picture:
                picture(shown, Path(args.picture))
                print(f"wrote {args.picture}")
            eval_s = time.perf_counter() - t
            print(f"\n{len(files)} BSD68 composites per family, networks at {minutes} CPU-min ({eval_s:.0f} s)")
            print(f"{'family':<10}{'method':<16}{'PSNR':>8}{'SSIM':>8}{'PSNR in mask':>14}")
            for fam in families:
                for name in METHODS:
                    if name not in means[fam]:
                        continue
                    m = means[fam][name]
                    kept = f"  (network kept on {m['kept_network']:.0%})" if "kept_network" in m else ""
                    print(f"{fam:<10}{name:<16}{m['psnr']:>8.2f}{m['ssim']:>8.4f}{m['psnr_mask']:>14.2f}{kept}")
            runs.append({"minutes": minutes, "results": means, "eval_s": round(eval_s, 1),
                         "networks": {n: {"steps": models[n].meta["step"], "cpu_s": round(cpu[n], 1)} for n in models}})
    record = dict(machine_facts("blend_bsd68"), config=vars(args), images=len(files), runs=runs,
                  wall_s=round(time.perf_counter() - t_all, 1))
    if not args.no_record:
        append_result(record, RESULTS)
    print(f"total {record['wall_s']:.0f} s" + ("" if args.no_record else "; appended to benchmarks/results_analysis.json"))


if __name__ == "__main__":
    main()
