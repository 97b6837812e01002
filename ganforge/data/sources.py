"""``load_images``: turn any supported image source into one ImageSet.

Which reader runs is decided here, from the source string alone: ``builtin:`` names, folders
(IDX folders included), archives, arrays, IDX files and single image files.
"""
from __future__ import annotations

import os
from pathlib import Path

from ganforge.data import arrays, builtin, idx, images, labelled
from ganforge.data.images import Progress
from ganforge.data.imageset import ImageSet
from ganforge.data.small import MIN_IMAGES, warn_if_small
from ganforge.errors import ConfigError, DataError

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def load_images(
    source: str | os.PathLike,
    size: int,
    *,
    channels: int | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    sample_seed: int | None = None,
) -> ImageSet:
    """Load every image of ``source`` as one uint8 NCHW tensor of ``size`` x ``size`` images.

    ``source`` is one of:

    - a folder, searched recursively for jpg/jpeg/png/webp/bmp/pgm/ppm/pbm/tif/tiff/gif files (any case;
      hidden files and ``__MACOSX`` are ignored), sorted by relative path. When every image lies below a
      first-level subfolder and there are at least two, the sorted subfolder names are the classes.
    - a ``.zip`` or ``.tar``/``.tar.gz``/``.tgz``/``.tar.bz2``/``.tar.xz`` of such a folder, read in
      memory; folders common to every member (``train/`` in ``train/<class>/x.jpg``) are ignored
      before the class rule.
    - IDX (MNIST format): a folder holding ``*-images-idx3-ubyte[.gz]`` (``train`` preferred) or the
      images file itself; labels come from the matching ``*-labels-idx1-ubyte[.gz]``.
    - a ``.npy`` array or a ``.npz`` (images under ``images``/``x``/``arr_0``, labels under
      ``labels``/``y``): NHW, NHWC or NCHW with C in 1, 3, 4; uint8, 16-bit, or float in [0, 1], [-1, 1]
      or [0, 255].
    - a single image file (a set of one).
    - a ``.csv`` of ``file,label`` rows (files relative to the CSV's folder; header optional).
    - ``builtin:digits`` or ``builtin:shapes[?n=4000&seed=0]`` (see ``ganforge.data.builtin``).

    Images are made grey or RGB (alpha composited on white, palettes expanded, 16-bit scaled by 1/257,
    EXIF orientation applied), centre-cropped to a square and resized (Lanczos down, bicubic up).
    ``channels`` None gives 1 when every image is grey, else 3. ``limit`` keeps the first N readable
    images, or with ``sample_seed`` a seeded random choice of N (kept in source order; built-in sets:
    the first N). ``progress(done, total)`` is called about every 1% of the items.

    Unreadable files are skipped, logged once each on the ``ganforge.data`` logger and listed in
    ``ImageSet.skipped``. Raises DataError when the source is missing, unsupported or yields no image;
    ConfigError for a bad ``size``, ``channels`` or ``limit``.
    """
    size = _positive_int("size", size)
    if channels not in (None, 1, 3) or isinstance(channels, bool):
        raise ConfigError(f"channels must be 1, 3 or None (automatic), got {channels!r}")
    if limit is not None:
        limit = _positive_int("limit", limit)
    text = os.fsdecode(source) if isinstance(source, (bytes, os.PathLike)) else source
    if not isinstance(text, str):
        raise ConfigError(f"data source must be a path or a string, got {type(source).__name__}")
    found = _read(text, size, channels, limit, progress, sample_seed)
    if limit is None or limit >= MIN_IMAGES:  # a smaller limit is the user's choice
        warn_if_small(len(found.images), "images", text)
    return found


def _read(text: str, size: int, channels: int | None, limit: int | None, progress: Progress | None,
          sample_seed: int | None) -> ImageSet:
    """The reader for ``text``, decided from the string alone."""
    if text.startswith("builtin:"):
        return builtin.load_builtin(text, size, channels, limit, progress)

    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(f"data source not found: {text}")
    if path.is_dir():
        idx_file = idx.find_images_file(path)
        if idx_file is not None:
            return idx.read_idx_images(text, idx_file, size, channels, limit, progress, sample_seed)
        return images.read_folder(text, path, size, channels, limit, progress, sample_seed)
    name = path.name.lower()
    if name.endswith(".zip"):
        return images.read_zip(text, path, size, channels, limit, progress, sample_seed)
    if name.endswith(_TAR_SUFFIXES):
        return images.read_tar(text, path, size, channels, limit, progress, sample_seed)
    if name.endswith((".npy", ".npz")):
        return arrays.read_array_file(text, path, size, channels, limit, progress, sample_seed)
    if idx.is_idx_images_name(path.name):
        return idx.read_idx_images(text, path, size, channels, limit, progress, sample_seed)
    if images.is_image_name(path.name):
        return images.read_image_file(text, path, size, channels, progress)
    if name.endswith(".csv"):
        return labelled.read_labelled_csv(text, path, size, channels, limit, progress)
    raise DataError(
        f"unsupported data source {text}: expected a folder, an image, .zip, .tar[.gz], .npy, .npz, a file,label .csv, "
        "an IDX images file or builtin:<name>"
    )
