"""IDX files (the MNIST format), raw or gzipped: ``*-images-idx3-ubyte[.gz]`` with optional
``*-labels-idx1-ubyte[.gz]`` beside it."""
from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from ganforge.data.arrays import array_image_set
from ganforge.data.images import Progress
from ganforge.data.imageset import ImageSet
from ganforge.errors import DataError

# IDX type byte -> numpy dtype (multi-byte values are big-endian).
_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IMAGES_NAME = re.compile(r"^(?P<prefix>.+)-images[-.]idx3-ubyte(?P<gz>\.gz)?$", re.IGNORECASE)


def is_idx_images_name(name: str) -> bool:
    return _IMAGES_NAME.match(name) is not None


def find_images_file(folder: Path) -> Path | None:
    """The images IDX file in ``folder`` (not recursive); the ``train`` split wins when there are several."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and is_idx_images_name(p.name))
    if not found:
        return None
    train = [p for p in found if _IMAGES_NAME.match(p.name)["prefix"].lower().endswith("train")]
    return (train or found)[0]


def labels_file_for(images: Path) -> Path | None:
    """The labels file that matches an images file (same prefix, either naming style, gz or raw)."""
    prefix = _IMAGES_NAME.match(images.name)["prefix"]
    for sep in ("-", "."):
        for gz in ("", ".gz"):
            candidate = images.with_name(f"{prefix}-labels{sep}idx1-ubyte{gz}")
            if candidate.is_file():
                return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """The array held by one IDX file; magic number and size are checked (DataError naming the file)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _DTYPES or not 1 <= raw[3] <= 4:
        raise DataError(f"{path} is not an IDX file (magic number {raw[:4].hex() or 'missing'})")
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header truncated ({len(raw)} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{path}: IDX size mismatch: header says shape {dims} ({expected} bytes), file has {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def read_idx_images(
    source: str, images_path: Path, size: int, channels: int | None, limit: int | None, progress: Progress | None,
    sample_seed: int | None = None,
) -> ImageSet:
    """Images (N, H, W) or (N, H, W, C) from an IDX file, with labels from the matching labels file."""
    images = read_idx(images_path)
    if images.ndim not in (3, 4):
        raise DataError(f"{images_path}: expected images of shape (N, H, W), got IDX shape {images.shape}")
    labels = None
    labels_path = labels_file_for(images_path)
    if labels_path is not None:
        labels = read_idx(labels_path)
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{labels_path}: {labels.shape} labels do not match {len(images)} images in {images_path.name}")
    return array_image_set(images, size, channels, source=source, labels=labels, limit=limit, progress=progress,
                           sample_seed=sample_seed)
