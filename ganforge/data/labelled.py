"""Labelled image lists: a CSV of ``file,label`` rows, files relative to the CSV's folder.

The header row is optional (``file,label`` or ``path,label`` or ``image,class``); labels are any text
or numbers, and their sorted distinct values are the classes (numbers sort as numbers).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from ganforge.data.arrays import labels_from_values
from ganforge.data.images import Progress, decode_many, no_images_error
from ganforge.data.imageset import ImageSet
from ganforge.errors import DataError

_FILE_HEADERS = {"file", "filename", "path", "image", "name"}
_LABEL_HEADERS = {"label", "class", "y", "target", "category"}


def read_labelled_csv(source: str, path: Path, size: int, channels: int | None, limit: int | None,
                      progress: Progress | None) -> ImageSet:
    """Images listed in a ``file,label`` CSV, with their labels."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {source}: {e}") from None
    if rows and rows[0][0].strip().lower() in _FILE_HEADERS and len(rows[0]) > 1 \
            and rows[0][1].strip().lower() in _LABEL_HEADERS:
        rows = rows[1:]
    if not rows:
        raise DataError(f"{source}: no rows; expected lines of file,label")
    for i, r in enumerate(rows, start=1):
        if len(r) < 2 or not r[0].strip() or not r[1].strip():
            raise DataError(f"{source}: row {i} is {','.join(r)!r}; expected file,label")
    names = [r[0].strip() for r in rows]
    raw = [r[1].strip() for r in rows]
    try:
        values = np.array([int(v) for v in raw], dtype=np.int64)
    except ValueError:
        values = np.array(raw, dtype=object).astype(str)
    y_all, classes = labels_from_values(values, len(values), source)
    root = path.parent
    skipped: list[tuple[str, str]] = []
    images, kept = decode_many(names, lambda i: (root / names[i]).read_bytes(), size, channels, limit, progress,
                               skipped)
    if not kept:
        raise no_images_error(source, skipped)
    return ImageSet(images, y_all[torch.tensor(kept, dtype=torch.int64)].clone(), classes, source, skipped)
