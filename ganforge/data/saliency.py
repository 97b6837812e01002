"""Image / saliency-map pairs for the saliency task: user folders or the built-in synthetic scenes.

- ``read_saliency_pairs(images, maps)``: two folders whose files match by name (any image extension);
  each map must have its image's size; maps are read as grey (colour maps are converted to luma).
- ``read_saliency_side_by_side(folder)``: image|map side-by-side files (the pix2pix layout).
- ``builtin_saliency("builtin:saliency?n=...&size=...&seed=...")``: synthetic scenes whose map is known.
- ``read_fixations(folder, names, shapes)``: optional fixation images (any non-zero pixel is a fixation).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.data.pairs import ImageList, PairSet, list_images, read_image, read_matched, read_side_by_side
from ganforge.errors import DataError


def _grey(side: ImageList) -> ImageList:
    images = [a if a.shape[2] == 1 else
              np.rint(a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
              .clip(0, 255).astype(np.uint8)[..., None] for a in side.images]
    return ImageList(images, side.names, side.source, side.files)


def read_saliency_pairs(images: str | Path, maps: str | Path, limit: int | None = None,
                        load_size: int | None = None) -> PairSet:
    """Images (RGB) and their saliency maps (grey), matched by file name; sizes must agree pairwise."""
    pairs = read_matched(images, maps, limit, load_size)
    return PairSet(pairs.a, _grey(pairs.b), pairs.source)


def read_saliency_side_by_side(folder: str | Path, limit: int | None = None, load_size: int | None = None
                               ) -> PairSet:
    pairs = read_side_by_side(folder, limit, load_size)
    return PairSet(pairs.a, _grey(pairs.b), pairs.source)


def builtin_saliency(source: str, limit: int | None = None) -> PairSet:
    from ganforge.data.builtin import saliency_scenes, saliency_source

    n, size, seed = saliency_source(source)
    if limit is not None:
        n = min(n, limit)
    images, maps = saliency_scenes(n, size, seed)
    names = [f"scene{i:05d}" for i in range(n)]
    return PairSet(ImageList(list(images), names, source), ImageList([m[..., None] for m in maps], names, source),
                   source)


def read_saliency_data(source: str | None = None, images: str | None = None, maps: str | None = None,
                       pairs: str | None = None, limit: int | None = None, load_size: int | None = None) -> PairSet:
    """Whichever of the three sources is given."""
    if source is not None:
        if not str(source).startswith("builtin:"):
            raise DataError(f"{source}: data must be builtin:saliency; give your own pairs as images + maps folders "
                            "or a folder of image|map side-by-side files")
        return builtin_saliency(source, limit)
    if pairs is not None:
        return read_saliency_side_by_side(pairs, limit, load_size)
    return read_saliency_pairs(images, maps, limit, load_size)


def read_fixations(folder: str | Path, names: list[str], shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Boolean fixation maps matched by name (stem) to ``names``; sizes checked against ``shapes``."""
    folder = Path(folder)
    by_stem = {f.relative_to(folder).with_suffix("").as_posix(): f for f in list_images(folder)}
    out = []
    for name, shape in zip(names, shapes):
        key = Path(name).with_suffix("").as_posix()
        if key not in by_stem:
            raise DataError(f"{folder}: no fixation image named {key!r} (fixations match the images by name)")
        f = read_image(by_stem[key], channels=1)[..., 0]
        if f.shape != tuple(shape):
            raise DataError(f"{by_stem[key]}: fixation image is {f.shape[1]}x{f.shape[0]} but its image is "
                            f"{shape[1]}x{shape[0]}")
        out.append(f > 0)
    return out


__all__ = ["read_saliency_pairs", "read_saliency_side_by_side", "builtin_saliency", "read_saliency_data",
           "read_fixations"]
