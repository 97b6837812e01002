"""Video clips for video prediction: a folder of video files, an .npy array, or built-in moving digits.

Every source becomes a :class:`VideoSet` of fixed-length clips, uint8 ``(N, T, C, H, W)``, with
``T = context + predict``. Long videos are cut into consecutive windows of T frames; a video shorter
than T frames gets one warning line and is skipped.

- ``.npy``: ``(N, T, H, W)`` grey, ``(N, T, H, W, C)`` with C in {1, 3}, or one video ``(T, H, W)`` or
  ``(T, H, W, C)`` (a 4-D array whose last axis is 1 or 3 is read as one video). uint8, or float in [0, 1].
- a folder (or one file) of ``.mp4 .avi .mov .mkv .webm .gif`` read with imageio (ffmpeg).
- ``builtin:moving_digits?n=2000&seed=0&digits=2``: one or two handwritten digits
  (MNIST from the shared data folder when present, else digit glyphs drawn with PIL's font) bouncing
  inside the frame, each with its own seeded velocity. The same options give the same clips.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .small import warn_if_small

log = logging.getLogger("ganforge.data")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".m4v")


@dataclass
class VideoSet:
    clips: torch.Tensor          # uint8 (N, T, C, H, W)
    source: str
    videos: int                  # source videos the clips were cut from

    def __len__(self) -> int:
        return self.clips.shape[0]

    @property
    def channels(self) -> int:
        return self.clips.shape[2]

    def describe(self) -> dict[str, Any]:
        import hashlib

        n, t, c, h, w = self.clips.shape
        digest = hashlib.sha256(self.clips[: min(n, 256)].numpy().tobytes()).hexdigest()[:16]
        return {"source": self.source, "n": n, "frames": t, "channels": c, "size": h, "videos": self.videos,
                "fingerprint": digest}


# ------------------------------------------------------------------ frames
def to_frames(array: np.ndarray, name: str) -> np.ndarray:
    """One video as uint8 (T, H, W, C) from (T, H, W) or (T, H, W, C), uint8 or float in [0, 1]."""
    a = np.asarray(array)
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3, 4):
        raise DataError(f"{name}: expected frames (T, H, W) or (T, H, W, C), got shape {a.shape}")
    a = a[..., :3]
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise DataError(f"{name}: frames hold NaN or infinite values")
        a = np.clip(np.rint(a * 255.0 if a.max() <= 1.0 else a), 0, 255).astype(np.uint8)
    return a


def resize_frames(frames: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 (T, H, W, C) -> (T, size, size, channels): centre-cropped to a square, bilinear resampling."""
    from PIL import Image

    t, h, w, c = frames.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    frames = frames[:, top:top + s, left:left + s]
    if c != channels:
        frames = (frames.mean(-1, keepdims=True).round().astype(np.uint8) if channels == 1
                  else np.repeat(frames, 3, axis=-1))
    if s == size:
        return np.ascontiguousarray(frames)
    out = []
    for f in frames:
        im = Image.fromarray(f[..., 0] if channels == 1 else f).resize((size, size), Image.BILINEAR)
        out.append(np.asarray(im).reshape(size, size, channels))
    return np.stack(out)


def read_video(path: Path) -> np.ndarray:
    """All frames of one video file, uint8 (T, H, W, 3)."""
    import imageio.v3 as iio

    try:
        frames = iio.imread(path, index=None) if path.suffix.lower() == ".gif" else \
            iio.imread(path, index=None, plugin="FFMPEG")
    except Exception as e:  # imageio raises many kinds
        raise DataError(f"{path}: cannot read this video ({str(e).splitlines()[0] if str(e) else type(e).__name__})") \
            from None
    frames = np.asarray(frames)
    if frames.ndim == 3 and path.suffix.lower() != ".gif":
        frames = frames[None]
    return to_frames(frames, str(path))


def read_array_videos(path: Path) -> list[np.ndarray]:
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None
    if a.ndim == 3 or (a.ndim == 4 and a.shape[-1] in (1, 3)):
        return [to_frames(a, str(path))]
    if a.ndim in (4, 5):
        return [to_frames(v, f"{path}[{i}]") for i, v in enumerate(a)]
    raise DataError(f"{path}: expected an array (N, T, H, W[, C]) or one video (T, H, W, C), got shape {a.shape}")


def read_any(path: Path) -> list[np.ndarray]:
    """The videos (uint8 (T, H, W, C) each) in a .npy file or a video file."""
    if path.suffix.lower() == ".npy":
        return read_array_videos(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return [read_video(path)]
    raise DataError(f"{path}: not a video (.npy or {' '.join(VIDEO_SUFFIXES)})")


def clips_from(videos: list[tuple[str, np.ndarray]], frames: int, size: int, channels: int | None,
               source: str) -> VideoSet:
    """Cut videos into consecutive windows of ``frames`` frames; short videos are skipped with a warning."""
    if channels is None:
        channels = 1 if all(v.shape[-1] == 1 or _is_grey(v) for _, v in videos) else 3
    out = []
    used = 0
    for name, v in videos:
        if len(v) < frames:
            log.warning("%s: %d frame(s), fewer than the %d a clip needs; skipped", name, len(v), frames)
            continue
        v = resize_frames(v, size, channels)
        used += 1
        for s in range(0, len(v) - frames + 1, frames):
            out.append(v[s:s + frames])
    if not out:
        raise DataError(f"{source}: no video with at least {frames} frames (context + predict)")
    warn_if_small(len(out), "video clips", source)
    clips = torch.from_numpy(np.stack(out)).permute(0, 1, 4, 2, 3).contiguous()
    return VideoSet(clips, source, used)


def _is_grey(v: np.ndarray) -> bool:
    return v.shape[-1] == 3 and bool((v[..., 0] == v[..., 1]).all() and (v[..., 1] == v[..., 2]).all())


def load_videos(source: str, frames: int, size: int = 32, channels: int | None = None,
                limit: int | None = None) -> VideoSet:
    """Clips of ``frames`` frames at ``size`` x ``size`` from ``source`` (see the module docstring)."""
    if source.startswith("builtin:"):
        return _builtin(source, frames, size, channels, limit)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{source}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (*VIDEO_SUFFIXES, ".npy"))
        if not files:
            raise DataError(f"{path}: no video files ({' '.join(VIDEO_SUFFIXES)}) or .npy arrays in this folder")
    else:
        files = [path]
    videos: list[tuple[str, np.ndarray]] = []
    for f in files:
        try:
            vids = read_any(f)
        except DataError as e:
            if len(files) == 1:
                raise
            log.warning("%s; skipped", e)
            continue
        videos += [(f"{f}" if len(vids) == 1 else f"{f}[{i}]", v) for i, v in enumerate(vids)]
        if limit is not None and len(videos) >= limit:
            break
    return clips_from(videos, frames, size, channels, source)


# ------------------------------------------------------------------ built-in moving digits
def _mnist_dir() -> Path | None:
    roots = [os.environ.get("GANFORGE_SHARED_DATA"), Path(__file__).resolve().parents[2].parent / "shared" / "data",
             "/work/shared/data"]
    for r in roots:
        if r and (Path(r) / "mnist").is_dir():
            return Path(r) / "mnist"
    return None


def digit_glyphs(n: int, side: int, seed: int) -> tuple[np.ndarray, str]:
    """``n`` digit images uint8 (n, side, side): MNIST training digits when found, else PIL font glyphs."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = _mnist_dir()
    if folder is not None and (folder / "train-images-idx3-ubyte.gz").exists():
        from .idx import read_idx

        digits = read_idx(folder / "train-images-idx3-ubyte.gz")
        pick = digits[rng.choice(len(digits), size=n, replace=len(digits) < n)]
        kind = "mnist"
    else:
        from PIL import ImageDraw, ImageFont

        font = ImageFont.load_default()
        pick = np.zeros((n, 28, 28), np.uint8)
        for i in range(n):
            im = Image.new("L", (14, 14), 0)
            ImageDraw.Draw(im).text((3, 1), str(rng.integers(10)), fill=255, font=font)
            pick[i] = np.asarray(im.resize((28, 28), Image.BILINEAR))
        kind = "glyphs"
    if side != 28:
        pick = np.stack([np.asarray(Image.fromarray(d).resize((side, side), Image.BILINEAR)) for d in pick])
    return pick, kind


def moving_digits(n: int, frames: int, size: int = 32, digits: int = 2, seed: int = 0) -> tuple[np.ndarray, str]:
    """uint8 (n, frames, size, size) clips of ``digits`` digits bouncing off the frame's edges."""
    rng = np.random.default_rng(seed)
    side = max(8, size // 2)
    glyphs, kind = digit_glyphs(n * digits, side, seed + 1)
    room = size - side
    out = np.zeros((n, frames, size, size), np.uint8)
    for i in range(n):
        for d in range(digits):
            g = glyphs[i * digits + d]
            pos = rng.uniform(0, room, size=2)
            angle = rng.uniform(0, 2 * np.pi)
            vel = np.array([np.sin(angle), np.cos(angle)]) * rng.uniform(0.06, 0.12) * size
            for t in range(frames):
                y, x = int(round(pos[0])), int(round(pos[1]))
                region = out[i, t, y:y + side, x:x + side]
                np.maximum(region, g, out=region)
                pos = pos + vel
                for k in range(2):  # bounce
                    if pos[k] < 0:
                        pos[k], vel[k] = -pos[k], -vel[k]
                    elif pos[k] > room:
                        pos[k], vel[k] = 2 * room - pos[k], -vel[k]
    return out, kind


def _builtin(source: str, frames: int, size: int, channels: int | None, limit: int | None) -> VideoSet:
    from .builtin import _int_option, _no_other_options, parse

    name, options = parse(source)
    if name != "moving_digits":
        raise DataError(f"unknown built-in video set {source!r} (available: builtin:moving_digits)")
    n = _int_option(source, options, "n", 2000, 1)
    seed = _int_option(source, options, "seed", 0, 0)
    digits = _int_option(source, options, "digits", 2, 1)
    _no_other_options(source, options)
    if limit is not None:
        n = min(n, limit)
    clips, kind = moving_digits(n, frames, size, digits, seed)
    if kind != "mnist":
        log.info("%s: MNIST not found under the shared data folder; using PIL font digits instead", source)
    x = torch.from_numpy(clips)[:, :, None]
    if channels == 3:
        x = x.repeat(1, 1, 3, 1, 1)
    return VideoSet(x.contiguous(), source, n)
