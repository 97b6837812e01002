"""Pictures for people: image grids, GIF/MP4 animations and training curves, written atomically."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import GanforgeError
from ..fileio import atomic_path


def to_uint8(images) -> np.ndarray:
    """Float images in [-1, 1], NCHW (tensor or array) -> uint8 NHWC array."""
    import torch

    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    x = np.clip((np.asarray(images, dtype=np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return x.transpose(0, 2, 3, 1)


def grid(images: np.ndarray, nrow: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile uint8 NHWC images into one HWC image (single-channel inputs stay single-channel)."""
    n, h, w, c = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, nrow)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = images[i]
    return out


def _pil(image: np.ndarray):
    from PIL import Image

    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def save_image(path: str | Path, image: np.ndarray) -> Path:
    """Write one uint8 HWC image; the format follows the extension (png, jpg, webp, ...)."""
    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower(), path.suffix.lstrip(".").upper() or "PNG")
    with atomic_path(path) as tmp:
        try:
            _pil(image).save(tmp, format=fmt)
        except (KeyError, ValueError) as e:
            raise GanforgeError(f"{path}: cannot write this image format ({e})") from None
    return path


def upscale(frame: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement so that tiny samples are visible in a viewer."""
    return frame if factor <= 1 else frame.repeat(factor, 0).repeat(factor, 1)


def save_animation(path: str | Path, frames: Sequence[np.ndarray], fps: int = 12) -> Path:
    """Write frames (uint8 HWC) as a looping GIF, or an H.264 MP4 when the path ends in .mp4."""
    import imageio.v3 as iio

    path = Path(path)
    frames = [f if f.shape[-1] == 3 else np.repeat(f, 3, axis=-1) for f in frames]
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=int(1000 / fps), loop=0)
        elif suffix == ".mp4":
            h, w = frames[0].shape[:2]
            ph, pw = -h % 16, -w % 16  # H.264 in browsers wants sides that are multiples of 16
            frames = [np.pad(f, ((0, ph), (0, pw), (0, 0)), constant_values=255) for f in frames]
            try:
                iio.imwrite(tmp, np.stack(frames), extension=".mp4", plugin="FFMPEG", fps=fps,
                            codec="libx264", pixelformat="yuv420p")
            except Exception as e:
                raise GanforgeError(f"{path}: could not write MP4 ({e}); install imageio-ffmpeg or use .gif") from None
            if tmp.stat().st_size == 0:
                raise GanforgeError(f"{path}: ffmpeg wrote nothing; use .gif")
        else:
            raise GanforgeError(f"{path}: animations are written as .gif or .mp4")
    return path


def plot_curves(metrics_jsonl: str | Path, out: str | Path) -> Path | None:
    """Plot every ``loss/*`` series, D's mean outputs and ``eval/*`` scores from metrics.jsonl against step."""
    metrics_jsonl = Path(metrics_jsonl)
    if not metrics_jsonl.exists():
        return None
    records = [json.loads(line) for line in metrics_jsonl.read_text().splitlines() if line.strip()]
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("losses", "loss/"), ("discriminator outputs", "D/"), ("evaluation", "eval/")]
    panels = [(title, sorted({k for r in records for k in r if k.startswith(prefix) and not k.endswith("_std")}))
              for title, prefix in groups]
    panels = [(title, keys) for title, keys in panels if keys or title == "losses"]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.6), squeeze=False)
    for ax, (title, group) in zip(axes[0], panels):
        for k in group:
            pts = [(r["step"], r[k]) for r in records if k in r and isinstance(r[k], (int, float))]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, label=k.split("/", 1)[1], linewidth=1.2)
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="best", fontsize=8)
    return save_figure(fig, out, dpi=110)


def series_plot(x: np.ndarray, lengths: np.ndarray, path: str | Path) -> Path:
    """A PNG of up to six series (x: (N, T, F), each drawn over its first ``lengths[i]`` steps), 2 x 3 panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(7.5, 3.2), sharex=True)
    for i, ax in enumerate(axes.flat):
        if i < len(x):
            ax.plot(x[i, : int(lengths[i])], linewidth=1)
        ax.tick_params(labelsize=6)
    return save_figure(fig, path, dpi=80)


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure as PNG (atomically) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return path


def png_data_uri(fig) -> str:
    """A matplotlib figure as a ``data:image/png`` URI (self-contained HTML reports); closes the figure."""
    import base64
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
