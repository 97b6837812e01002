"""Built-in data sets that need no download: ``builtin:digits`` and ``builtin:shapes``.

A source string is ``builtin:<name>`` with optional options after ``?``, e.g.
``builtin:shapes?n=500&seed=3``.

- ``digits``: scikit-learn's 1,797 handwritten 8x8 digits (values 0..16 scaled to 0..255), enlarged to
  ``size`` with bicubic resampling; grey, labels 0..9. No options.
- ``shapes``: procedural anti-aliased shapes (circle, square, triangle, star, cross) of random colour,
  position, scale and rotation on a random two-colour gradient; RGB, labelled by shape. Options:
  ``n`` (number of images, default 4000) and ``seed`` (default 0). The same options always give the
  same images, and a smaller ``n`` gives a prefix of a larger one.
- ``saliency`` (image/map pairs for the saliency task, not an image set): procedural scenes with one
  salient object (by colour, by size or both, among muted distractors) and a known saliency map (a Gaussian blob on it); options ``n`` (default 1000), ``size`` (default 64), ``seed``. See
  :func:`saliency_scenes`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import parse_qsl

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganforge.data.arrays import array_image_set
from ganforge.data.images import Progress
from ganforge.data.imageset import ImageSet
from ganforge.errors import DataError

SHAPE_NAMES = ("circle", "square", "triangle", "star", "cross")
DEFAULT_SHAPES = 4000


def parse(source: str) -> tuple[str, dict[str, str]]:
    """``builtin:name?k=v&...`` -> (name, options)."""
    body = source[len("builtin:"):]
    name, _, query = body.partition("?")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise DataError(f"{source}: cannot parse options {query!r} (expected key=value&key=value)") from None
    return name.strip().lower(), options


def _int_option(source: str, options: dict[str, str], key: str, default: int, minimum: int) -> int:
    raw = options.pop(key, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise DataError(f"{source}: option {key}={raw!r} must be an integer >= {minimum}")
    return value


def load_builtin(
    source: str, size: int, channels: int | None, limit: int | None, progress: Progress | None
) -> ImageSet:
    name, options = parse(source)
    loaders: dict[str, Callable[..., ImageSet]] = {"digits": _digits, "shapes": _shapes}
    if name not in loaders:
        raise DataError(f"unknown built-in data set {source!r} (available: {', '.join('builtin:' + k for k in loaders)})")
    return loaders[name](source, options, size, channels, limit, progress)


def _no_other_options(source: str, options: dict[str, str]) -> None:
    if options:
        raise DataError(f"{source}: unknown option(s) {', '.join(sorted(options))}")


def _digits(source, options, size, channels, limit, progress) -> ImageSet:
    _no_other_options(source, options)
    from sklearn.datasets import load_digits  # imported here: scikit-learn takes a second to import

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    return array_image_set(images, size, channels, source=source, labels=labels,
                           class_names=[str(i) for i in range(10)], limit=limit, progress=progress)


def _outline(kind: str, r: float) -> list[tuple[float, float]]:
    """Polygon of a shape of radius ``r`` around the origin, before rotation."""
    if kind == "square":
        return [(r * math.cos(a), r * math.sin(a)) for a in (math.pi / 4 + k * math.pi / 2 for k in range(4))]
    if kind == "triangle":
        return [(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))]
    if kind == "star":
        return [((r if k % 2 == 0 else 0.45 * r) * math.cos(-math.pi / 2 + k * math.pi / 5),
                 (r if k % 2 == 0 else 0.45 * r) * math.sin(-math.pi / 2 + k * math.pi / 5)) for k in range(10)]
    if kind == "cross":
        w = 0.32 * r
        return [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w)]
    raise ValueError(kind)


def _luma(c: np.ndarray) -> float:
    return float(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])


def draw_shape(rng: np.random.Generator, kind: int, size: int) -> Image.Image:
    """One RGB image of shape ``SHAPE_NAMES[kind]``, drawn from ``rng``."""
    # Background: a linear gradient between two colours in a random direction.
    c1, c2 = rng.integers(0, 256, size=(2, 3))
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    t = np.clip(0.5 + ramp[None, :] * math.cos(angle) + ramp[:, None] * math.sin(angle), 0, 1)
    bg = c1 + (c2 - c1) * t[..., None]
    background = Image.fromarray(np.rint(bg).astype(np.uint8), "RGB")
    # Foreground colour far enough from the background's mean brightness to be seen.
    mean = _luma((c1 + c2) / 2)
    colour = rng.integers(0, 256, size=3)
    while abs(_luma(colour) - mean) < 60:
        colour = rng.integers(0, 256, size=3)
    # Geometry in units of the image side; drawn at 4x (2x for large sides) and box-filtered down.
    r = rng.uniform(0.2, 0.38)
    cx, cy = rng.uniform(r, 1 - r, size=2)
    theta = rng.uniform(0, 2 * math.pi)
    factor = 4 if size <= 128 else 2
    big = size * factor
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    name = SHAPE_NAMES[kind]
    if name == "circle":
        draw.ellipse([(cx - r) * big, (cy - r) * big, (cx + r) * big, (cy + r) * big], fill=255)
    else:
        cos, sin = math.cos(theta), math.sin(theta)
        pts = [((cx + x * cos - y * sin) * big, (cy + x * sin + y * cos) * big) for x, y in _outline(name, r)]
        draw.polygon(pts, fill=255)
    mask = mask.resize((size, size), Image.Resampling.BOX)
    return Image.composite(Image.new("RGB", (size, size), tuple(int(v) for v in colour)), background, mask)


def _shapes(source, options, size, channels, limit, progress) -> ImageSet:
    n = _int_option(source, options, "n", DEFAULT_SHAPES, 1)
    seed = _int_option(source, options, "seed", 0, 0)
    _no_other_options(source, options)
    if limit is not None:
        n = min(n, limit)
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = np.arange(n, dtype=np.int64) % len(SHAPE_NAMES)
    step = max(1, n // 100)
    for i in range(n):
        out[i] = np.asarray(draw_shape(rng, int(labels[i]), size))
        if progress is not None and (i + 1) % step == 0:
            progress(i + 1, n)
    if progress is not None:
        progress(n, n)
    if channels == 1:
        return array_image_set(out, size, 1, source=source, labels=labels, class_names=list(SHAPE_NAMES))
    images = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.from_numpy(labels), list(SHAPE_NAMES), source, [])


# ------------------------------------------------------------------ saliency scenes (``builtin:saliency``)
DEFAULT_SALIENCY = 1000


SALIENCY_CUES = ("colour", "size", "both")


def saliency_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """One procedural scene with one salient object and its known saliency map.

    The scene: a muted, slightly noisy background; 4 to 8 small distractors (circles and squares) of one
    muted hue; and one target, drawn last, that stands out by one cue chosen at random (a third each):
    ``colour`` (distractor-sized, of the opposite saturated hue), ``size`` (about 2.5x the distractors'
    radius, in their muted hue) or ``both`` (larger and of the opposite hue). The ground-truth map is a
    Gaussian blob on the target (sigma = its radius), peak 255.
    Returns (RGB uint8 HWC, map uint8 HW, {"cx", "cy", "r" (pixels), "cue"}).
    """
    import colorsys

    def rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
        return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))

    def muted() -> tuple[int, int, int]:
        return rgb(hue + rng.uniform(-0.05, 0.05), rng.uniform(0.25, 0.5), rng.uniform(0.45, 0.8))

    hue = rng.uniform(0, 1)
    cue = SALIENCY_CUES[int(rng.integers(3))]
    bg = np.array(rgb(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.3), rng.uniform(0.35, 0.65)), np.float32)
    ramp = np.linspace(-1, 1, size, dtype=np.float32)
    shade = 18 * (ramp[None, :] * rng.uniform(-1, 1) + ramp[:, None] * rng.uniform(-1, 1))
    base = bg[None, None, :] + shade[..., None] + rng.normal(0, 6, (size, size, 3)).astype(np.float32)
    factor = 2
    big = size * factor
    canvas = Image.fromarray(np.clip(np.rint(base), 0, 255).astype(np.uint8), "RGB").resize((big, big),
                                                                                           Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)

    def blob(cx: float, cy: float, r: float, colour, square: bool) -> None:
        box = [(cx - r) * big, (cy - r) * big, (cx + r) * big, (cy + r) * big]
        (draw.rectangle if square else draw.ellipse)(box, fill=colour)

    r_t = rng.uniform(0.05, 0.07) if cue == "colour" else rng.uniform(0.12, 0.16)
    tx, ty = rng.uniform(r_t + 0.02, 1 - r_t - 0.02, size=2)
    for _ in range(int(rng.integers(4, 9))):
        r = rng.uniform(0.04, 0.065)
        for _try in range(20):  # keep distractors off the target
            cx, cy = rng.uniform(r, 1 - r, size=2)
            if math.hypot(cx - tx, cy - ty) > r + r_t + 0.02:
                break
        blob(cx, cy, r, muted(), bool(rng.integers(2)))
    colour = muted() if cue == "size" else \
        rgb(hue + 0.5 + rng.uniform(-0.08, 0.08), rng.uniform(0.8, 1.0), rng.uniform(0.85, 1.0))
    blob(tx, ty, r_t, colour, bool(rng.integers(2)))
    image = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    cx, cy, r = tx * size, ty * size, r_t * size
    g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    return image, np.rint(255 * g / g.max()).astype(np.uint8), {"cx": float(cx), "cy": float(cy), "r": float(r),
                                                                 "cue": cue}


def saliency_scenes(n: int = DEFAULT_SALIENCY, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` scenes (uint8 N H W 3) and their saliency maps (uint8 N H W); scene i depends only on (seed, i),
    so a smaller ``n`` gives a prefix of a larger one."""
    if n < 1 or size < 16:
        raise DataError(f"saliency scenes need n >= 1 and size >= 16; got n={n}, size={size}")
    images = np.empty((n, size, size, 3), np.uint8)
    maps = np.empty((n, size, size), np.uint8)
    for i in range(n):
        images[i], maps[i], _ = saliency_scene(np.random.default_rng([seed, i]), size)
    return images, maps


def saliency_source(source: str) -> tuple[int, int, int]:
    """``builtin:saliency?n=500&size=64&seed=1`` -> (n, size, seed); one-line DataErrors otherwise."""
    name, options = parse(source)
    if name != "saliency":
        raise DataError(f"unknown built-in saliency set {source!r} (available: builtin:saliency)")
    n = _int_option(source, options, "n", DEFAULT_SALIENCY, 1)
    size = _int_option(source, options, "size", 64, 16)
    seed = _int_option(source, options, "seed", 0, 0)
    _no_other_options(source, options)
    return n, size, seed
