"""Image arrays: numpy arrays of many images (from .npy/.npz files, IDX files, built-in sets).

Layouts NHW, NHWC and NCHW (C in 1, 3, 4); value ranges uint8, [0, 1], [-1, 1], [0, 255] floats and
16-bit integers are recognised and turned into the same uint8 ImageSet as image files give.
"""
from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.data.images import Progress, fit_square
from ganforge.data.imageset import ImageSet
from ganforge.errors import DataError

IMAGE_KEYS = ("images", "x", "arr_0")
LABEL_KEYS = ("labels", "y")
_CHANNELS = (1, 3, 4)
_CHUNK = 2048  # images converted at a time: bounds the float temporaries


def to_nhwc(arr: np.ndarray, where: str) -> np.ndarray:
    """View ``arr`` as NHWC. 3-D arrays are NHW; 4-D arrays are NHWC when the last axis has 1, 3 or 4
    entries, else NCHW when the second axis has."""
    if arr.ndim == 3:
        return arr[..., None]
    if arr.ndim == 4:
        if arr.shape[-1] in _CHANNELS:
            return arr
        if arr.shape[1] in _CHANNELS:
            return arr.transpose(0, 2, 3, 1)
        raise DataError(f"{where}: cannot find a channel axis of size 1, 3 or 4 in shape {arr.shape}")
    raise DataError(f"{where}: expected images of shape NHW, NHWC or NCHW, got shape {arr.shape}")


def _range_rule(arr: np.ndarray, where: str) -> tuple[float, float]:
    """(offset, scale) such that ``(x + offset) * scale`` lies in [0, 255], chosen from the whole array."""
    if arr.dtype == np.uint8:
        return 0.0, 1.0
    if arr.dtype == np.bool_:
        return 0.0, 255.0
    if arr.size == 0:
        return 0.0, 1.0
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi <= 255:
            return 0.0, 1.0
        if lo >= 0 and hi <= 65535:
            return 0.0, 1.0 / 257.0  # 16-bit: 65535 -> 255
        raise DataError(f"{where}: integer values in [{lo}, {hi}] do not fit 8 or 16 bits")
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = float(np.min(arr)), float(np.max(arr))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise DataError(f"{where}: array contains NaN or infinite values")
        tol = 1e-3
        if lo >= -1 - tol and hi <= 1 + tol:
            return (1.0, 127.5) if lo < -tol else (0.0, 255.0)
        if lo >= -tol and hi <= 255 + tol:
            return 0.0, 1.0
        raise DataError(f"{where}: values in [{lo:g}, {hi:g}]; expected [0, 1], [-1, 1] or [0, 255]")
    raise DataError(f"{where}: unsupported array type {arr.dtype}")


def _as_uint8(chunk: np.ndarray, offset: float, scale: float) -> np.ndarray:
    if chunk.dtype == np.uint8:
        return chunk
    x = (chunk.astype(np.float32) + np.float32(offset)) * np.float32(scale)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma with Pillow's integer weights, so arrays and files give the same grey."""
    x = rgb.astype(np.uint32)
    return ((x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)[..., None]


def _on_white(rgba: np.ndarray) -> np.ndarray:
    c, a = rgba[..., :-1].astype(np.uint32), rgba[..., -1:].astype(np.uint32)
    return ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def labels_from_values(values: np.ndarray, n: int, where: str) -> tuple[torch.Tensor, list[str]]:
    """Class indices 0..K-1 for any label values (sorted unique values -> indices; names are str(value))."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != n:
        raise DataError(f"{where}: expected {n} labels, got shape {values.shape}")
    if np.issubdtype(values.dtype, np.floating):
        if not np.all(values == np.rint(values)):
            raise DataError(f"{where}: labels must be whole numbers or strings")
        values = values.astype(np.int64)
    classes, index = np.unique(values, return_inverse=True)
    return torch.from_numpy(index.astype(np.int64).reshape(-1)), [str(c) for c in classes.tolist()]


def array_image_set(
    arr: np.ndarray,
    size: int,
    channels: int | None,
    *,
    source: str,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    sample_seed: int | None = None,
) -> ImageSet:
    """An ImageSet from an image array (any layout and range above).

    ``labels`` are raw values mapped by ``labels_from_values`` unless ``class_names`` is given, in which
    case they must already be indices into it.
    """
    x = to_nhwc(arr, source)
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(x):
            raise DataError(f"{source}: {len(x)} images but {len(labels)} labels")
    pick = None
    if limit is not None and sample_seed is not None and limit < len(x):
        pick = np.sort(np.random.default_rng(sample_seed).permutation(len(x))[:limit])
        x = x[pick]
    elif limit is not None:
        x = x[:limit]
    n, h, w, c = x.shape
    if n == 0 or h == 0 or w == 0:
        raise DataError(f"no images in {source} (array shape {tuple(arr.shape)})")
    offset, scale = _range_rule(x, source)
    out_c = channels or (1 if c == 1 else 3)
    buf = np.empty((n, size, size, out_c), dtype=np.uint8)
    resize = not (h == w == size)
    step = max(1, n // 100)
    for s in range(0, n, _CHUNK):
        chunk = _as_uint8(np.asarray(x[s : s + _CHUNK]), offset, scale)
        if c == 4:
            chunk = _on_white(chunk)
        if chunk.shape[-1] == 3 and out_c == 1:
            chunk = _luma(chunk)
        if not resize:
            buf[s : s + len(chunk)] = chunk  # broadcasts grey into 3 channels when asked
        else:
            grey = chunk.shape[-1] == 1
            for j, img in enumerate(chunk):
                im = fit_square(Image.fromarray(img[..., 0] if grey else img, "L" if grey else "RGB"), size)
                buf[s + j] = np.frombuffer(im.tobytes(), dtype=np.uint8).reshape(size, size, -1)
                if progress is not None and (s + j + 1) % step == 0:
                    progress(s + j + 1, n)
        if progress is not None:
            progress(s + len(chunk), n)
    y, names = None, None
    if labels is not None:
        if class_names is not None:
            kept = labels[pick] if pick is not None else labels[:n]
            y, names = torch.as_tensor(kept.astype(np.int64)), list(class_names)
        else:
            # Classes come from all labels, not only the kept ones, so that ``limit`` keeps their meaning.
            y, names = labels_from_values(labels, len(labels), source)
            y = (y[torch.from_numpy(pick)] if pick is not None else y[:n]).clone()  # not the dropped ones' labels
    images = torch.from_numpy(buf).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, y, names, source, [])


def read_array_file(
    source: str, path: Path, size: int, channels: int | None, limit: int | None, progress: Progress | None,
    sample_seed: int | None = None,
) -> ImageSet:
    """A .npy array, or a .npz with images under ``images``/``x``/``arr_0`` and optional ``labels``/``y``."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read array file {source}: {str(e).splitlines()[0] if str(e) else e!r}") from None
    if isinstance(loaded, np.ndarray):
        return array_image_set(loaded, size, channels, source=source, limit=limit, progress=progress,
                               sample_seed=sample_seed)
    with loaded:
        keys = list(loaded.files)
        image_key = next((k for k in IMAGE_KEYS if k in keys), None)
        if image_key is None:
            raise DataError(f"{source}: no image array (looked for keys {', '.join(IMAGE_KEYS)}; found {', '.join(keys) or 'none'})")
        label_key = next((k for k in LABEL_KEYS if k in keys), None)
        try:
            arr = loaded[image_key]
            labels = loaded[label_key] if label_key else None
        except (ValueError, OSError, zipfile.BadZipFile) as e:
            raise DataError(f"cannot read array file {source}: {e}") from None
    return array_image_set(arr, size, channels, source=source, labels=labels, limit=limit, progress=progress,
                           sample_seed=sample_seed)
