"""Captioned images for text-to-image: a CSV ``image,caption``, images with ``.txt`` sidecars, or built-in scenes.

Every source becomes a :class:`CaptionSet`: uint8 images ``(N, C, H, W)`` and a list of captions per image.

- CSV with columns ``image`` and ``caption`` (paths relative to the CSV's folder); an image may appear on
  several rows (several captions). A row with an empty caption or a missing image gets one warning line
  and is skipped.
- a folder of images, each with a ``NAME.txt`` beside it holding one caption per line; empty lines are
  skipped (one warning line per file), images without a sidecar are skipped (one line in all).
- ``builtin:scenes?n=4000&seed=0&objects=2``: procedural scenes drawn exactly from their caption, e.g.
  "a small red circle above a large blue square" (objects=2) or "a large green triangle at the top left"
  (objects=1). :func:`parse_scene` turns such a caption back into attributes, so a judge can check images.
  ``&hold=red-triangle,green-circle`` leaves out every scene with one of these colour-shape pairs, so that
  captions with them are compositions never seen in training (each word still is).
"""
from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError, short_reason
from .small import warn_if_small

log = logging.getLogger("ganforge.data")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 240), "yellow": (240, 220, 40)}
SIZES = ("small", "large")
RELATIONS = ("above", "left of")
CORNERS = ("top left", "top right", "bottom left", "bottom right")


@dataclass
class CaptionSet:
    images: torch.Tensor                   # uint8 (N, C, H, W)
    captions: list[list[str]]              # one or more per image
    source: str
    attributes: list[dict[str, Any]] | None = field(default=None)   # built-in scenes only

    def __len__(self) -> int:
        return self.images.shape[0]

    def describe(self) -> dict[str, Any]:
        import hashlib

        n, c, h, _ = self.images.shape
        digest = hashlib.sha256(self.images[:256].numpy().tobytes()).hexdigest()[:16]
        return {"source": self.source, "n": n, "captions": sum(map(len, self.captions)), "size": h, "channels": c,
                "fingerprint": digest}


def tokenize(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


# ------------------------------------------------------------------ files
def _read_image(path: Path, size: int, channels: int):
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            return np.asarray(im.resize((size, size), Image.BICUBIC)).reshape(size, size, channels)
    except (OSError, ValueError) as e:  # Image.DecompressionBombError is a subclass of neither
        raise DataError(f"{path}: cannot read this image ({short_reason(e)})") from None
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: image too large ({short_reason(e)})") from None


def _read_csv(path: Path) -> list[tuple[Path, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = [c.strip().lower() for c in (reader.fieldnames or [])]
            if "image" not in fields or "caption" not in fields:
                raise DataError(f"{path}: needs the columns 'image' and 'caption', found {', '.join(fields) or 'none'}")
            rows = []
            for i, row in enumerate(reader, start=2):
                row = {k.strip().lower(): (v or "") for k, v in row.items() if k}
                caption = row["caption"].strip()
                if not caption:
                    log.warning("%s line %d: empty caption; skipped", path, i)
                    continue
                rows.append((path.parent / row["image"].strip(), caption))
            return rows
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as e:  # a field over the csv module's limit (128 KiB), a NUL byte, ...
        raise DataError(f"{path} line {reader.line_num}: not a readable CSV row ({short_reason(e)})") from None


def _read_sidecars(folder: Path) -> list[tuple[Path, str]]:
    rows, missing = [], 0
    for img in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        txt = img.with_suffix(".txt")
        if not txt.exists():
            missing += 1
            continue
        lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
        empty = sum(1 for ln in lines if not ln.strip())
        if empty:
            log.warning("%s: %d empty caption line(s) skipped", txt, empty)
        rows += [(img, ln.strip()) for ln in lines if ln.strip()]
    if missing:
        log.warning("%s: %d image(s) without a .txt caption file skipped", folder, missing)
    return rows


def load_captions(source: str, size: int = 32, channels: int = 3, limit: int | None = None) -> CaptionSet:
    """Images and their captions from ``source`` (see the module docstring)."""
    if source.startswith("builtin:"):
        return _builtin(source, size, channels, limit)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{source}: no such file or folder")
    if path.is_dir():
        rows = _read_sidecars(path)
        if not rows:
            raise DataError(f"{path}: no images with non-empty .txt caption files")
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
        rows = _read_csv(path)
        if not rows:
            raise DataError(f"{path}: no rows with a caption")
    else:
        raise DataError(f"{path}: give a CSV (image,caption) or a folder of images with .txt captions")
    by_image: dict[Path, list[str]] = {}
    for img, cap in rows:
        by_image.setdefault(img, []).append(cap)
    images, captions = [], []
    for img, caps in by_image.items():
        if not img.exists():
            log.warning("%s: image not found; its %d caption(s) skipped", img, len(caps))
            continue
        try:
            images.append(_read_image(img, size, channels))
        except DataError as e:
            log.warning("%s; skipped", e)
            continue
        captions.append(caps)
        if limit is not None and len(images) >= limit:
            break
    if not images:
        raise DataError(f"{source}: none of the captioned images could be read")
    warn_if_small(len(images), "captioned images", source)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return CaptionSet(x, captions, source)


# ------------------------------------------------------------------ built-in scenes
def scene_caption(attrs: dict[str, Any]) -> str:
    def obj(o):
        return f"a {o['size']} {o['colour']} {o['shape']}"
    if "relation" in attrs:
        return f"{obj(attrs['a'])} {attrs['relation']} {obj(attrs['b'])}"
    return f"{obj(attrs['a'])} at the {attrs['corner']}"


def parse_scene(caption: str) -> dict[str, Any] | None:
    """A scene caption -> its attributes (as made by :func:`scene_caption`), or None if it is not one."""
    obj = r"an? (small|large) (red|green|blue|yellow) (circle|square|triangle)"
    text = " ".join(tokenize(caption))
    m = re.fullmatch(f"{obj} (above|left of) {obj}", text)
    if m:
        g = m.groups()
        return {"a": dict(zip(("size", "colour", "shape"), g[0:3])), "relation": g[3],
                "b": dict(zip(("size", "colour", "shape"), g[4:7]))}
    m = re.fullmatch(f"{obj} at the (top left|top right|bottom left|bottom right)", text)
    if m:
        g = m.groups()
        return {"a": dict(zip(("size", "colour", "shape"), g[0:3])), "corner": g[3]}
    return None


def _draw(draw, shape: str, cx: float, cy: float, r: float, colour) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        s = r * 0.9
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r * 1.05, cy + r * 0.8), (cx + r * 1.05, cy + r * 0.8)], fill=colour)


def random_scene(rng: np.random.Generator, objects: int) -> dict[str, Any]:
    def obj():
        return {"size": SIZES[rng.integers(2)], "colour": list(COLOURS)[rng.integers(4)], "shape": SHAPES[rng.integers(3)]}
    if objects == 1:
        return {"a": obj(), "corner": CORNERS[rng.integers(4)]}
    return {"a": obj(), "relation": RELATIONS[rng.integers(2)], "b": obj()}


def draw_scene(attrs: dict[str, Any], rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """The scene an attribute dict describes, uint8 (size, size, 3), drawn at 4x and reduced (anti-aliased)."""
    from PIL import Image, ImageDraw

    big = size * 4
    im = Image.new("RGB", (big, big), (20, 20, 20))
    d = ImageDraw.Draw(im)

    def radius(o):
        return big * (0.11 if o["size"] == "small" else 0.2) * rng.uniform(0.9, 1.1)

    j = lambda: rng.uniform(-0.05, 0.05) * big  # noqa: E731  (small positional jitter)
    if "corner" in attrs:
        o = attrs["a"]
        cy = big * (0.28 if attrs["corner"].startswith("top") else 0.72) + j()
        cx = big * (0.28 if attrs["corner"].endswith("left") else 0.72) + j()
        _draw(d, o["shape"], cx, cy, radius(o), COLOURS[o["colour"]])
    else:
        ra, rb = radius(attrs["a"]), radius(attrs["b"])
        if attrs["relation"] == "above":
            pa, pb = (big * 0.5 + j() * 2, big * 0.26 + j()), (big * 0.5 + j() * 2, big * 0.74 + j())
        else:
            pa, pb = (big * 0.26 + j(), big * 0.5 + j() * 2), (big * 0.74 + j(), big * 0.5 + j() * 2)
        _draw(d, attrs["a"]["shape"], *pa, ra, COLOURS[attrs["a"]["colour"]])
        _draw(d, attrs["b"]["shape"], *pb, rb, COLOURS[attrs["b"]["colour"]])
    return np.asarray(im.resize((size, size), Image.LANCZOS))


def holds(attrs: dict[str, Any], hold: tuple[tuple[str, str], ...]) -> bool:
    """Whether a scene has an object whose (colour, shape) is in ``hold``."""
    return any((o["colour"], o["shape"]) in hold for o in (attrs.get("a"), attrs.get("b")) if o)


def scenes(n: int, seed: int = 0, objects: int = 2, size: int = 32, hold: tuple[tuple[str, str], ...] = (),
           held: bool = False) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``n`` scenes uint8 (n, size, size, 3) and their attributes; the same arguments give the same scenes.
    ``hold``: (colour, shape) pairs no scene has; with ``held``, every scene has at least one of them instead."""
    rng = np.random.default_rng(seed)
    hold = tuple(tuple(p) for p in hold)
    attrs = []
    while len(attrs) < n:
        a = random_scene(rng, objects)
        if not hold or holds(a, hold) == held:
            attrs.append(a)
    images = np.stack([draw_scene(a, rng, size) for a in attrs]) if n else np.zeros((0, size, size, 3), np.uint8)
    return images, attrs


def _builtin(source: str, size: int, channels: int, limit: int | None) -> CaptionSet:
    from .builtin import _int_option, _no_other_options, parse

    name, options = parse(source)
    if name != "scenes":
        raise DataError(f"unknown built-in captioned set {source!r} (available: builtin:scenes)")
    n = _int_option(source, options, "n", 4000, 1)
    seed = _int_option(source, options, "seed", 0, 0)
    objects = _int_option(source, options, "objects", 2, 1)
    if objects > 2:
        raise DataError(f"{source}: objects must be 1 or 2")
    hold = parse_hold(source, options.pop("hold", ""))
    _no_other_options(source, options)
    images, attrs = scenes(min(n, limit or n), seed, objects, size, hold)
    if channels == 1:
        images = images.mean(-1, keepdims=True).round().astype(np.uint8)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return CaptionSet(x, [[scene_caption(a)] for a in attrs], source, attrs)


def parse_hold(source: str, text: str) -> tuple[tuple[str, str], ...]:
    """``"red-triangle,green-circle"`` -> (("red", "triangle"), ("green", "circle")), checked."""
    pairs = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        colour, _, shape = item.lower().partition("-")
        if colour not in COLOURS or shape not in SHAPES:
            raise DataError(f"{source}: hold={item!r} is not colour-shape (colours {', '.join(COLOURS)}; "
                            f"shapes {', '.join(SHAPES)})")
        pairs.append((colour, shape))
    if len(pairs) >= len(COLOURS) * len(SHAPES):
        raise DataError(f"{source}: hold leaves no colour-shape pair to draw")
    return tuple(pairs)
