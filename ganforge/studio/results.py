"""What a trained model can do on its results page, found from the predictor itself (``hasattr``):
sample images (with a class when it has classes), a latent walk, rows of a table with conditions,
series, or apply an image-to-image model to a picture. Outputs go to ``<run>/studio/``.
"""
from __future__ import annotations

import inspect
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging import media
from ..errors import ConfigError
from ..predict.base import Model, load

OUT = "studio"
_cache: dict[str, tuple[float, Model]] = {}
_lock = threading.Lock()


def model_for(folder: Path) -> Model:
    """The run's model, loaded once per model file version (inference is cheap; loading is not)."""
    from ..artifact import resolve
    path = resolve(folder)
    mtime = path.stat().st_mtime
    key = str(path)
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] == mtime:
            return hit[1]
    model = load(path)
    with _lock:
        _cache[key] = (mtime, model)
        if len(_cache) > 8:
            _cache.pop(next(iter(_cache)))
    return model


def forget(folder: Path) -> None:
    with _lock:
        for k in [k for k in _cache if k.startswith(str(folder))]:
            _cache.pop(k, None)


def _label_param(fn) -> str | None:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    return next((p for p in ("label", "cls", "class_", "classes", "y") if p in params), None)


def classes_of(model: Model) -> list[str]:
    meta = model.meta
    for key in ("class_names", "label_names", "classes"):
        if isinstance(meta.get(key), list):
            return [str(c) for c in meta[key]]
    return []


def capabilities(model: Model) -> dict[str, Any]:
    if hasattr(model, "columns") and hasattr(model, "sample"):
        kind = "table"
    elif hasattr(model, "sample_frame"):
        kind = "series"
    elif hasattr(model, "apply_path") or hasattr(model, "apply"):
        kind = "apply"
    elif hasattr(model, "sample"):
        kind = "images"
    else:
        kind = "none"
    classes = classes_of(model) if kind in ("images", "series") and _label_param(model.sample) else []
    return {"kind": kind, "walk": hasattr(model, "walk"), "apply": hasattr(model, "apply_path") or hasattr(model, "apply"),
            "sample": kind in ("images", "series", "table") or (kind == "apply" and hasattr(model, "sample")),
            "classes": classes, "columns": list(getattr(model, "columns", []) or []),
            "step": model.meta.get("step"), "status": model.meta.get("status"), "task": model.task}


def _stamp(prefix: str, suffix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{int(time.time() * 1000) % 1000:03d}{suffix}"


def generate(folder: Path, n: int, seed: int, label: str | None = None) -> dict[str, Any]:
    if not 1 <= n <= 1024:
        raise ConfigError(f"n must be between 1 and 1024, got {n}")
    model = model_for(folder)
    out = folder / OUT
    if hasattr(model, "sample_frame"):
        from .datasets import _series_plot
        df = model.sample_frame(n, label=label or None, seed=seed)
        x, lengths, _ = model.sample(min(n, 6), label=label or None, seed=seed)
        name = _stamp("series", ".csv")
        _write_csv(df, out / name)
        plot = name.replace(".csv", ".png")
        _series_plot(np.nan_to_num(x), lengths, out / plot)
        return {"files": [f"{OUT}/{plot}", f"{OUT}/{name}"], "head": _head(df)}
    kwargs = {}
    if label not in (None, ""):
        param = _label_param(model.sample)
        if param is None:
            raise ConfigError("this model has no classes; leave the class empty")
        kwargs[param] = label
    images = model.sample(n, seed=seed, **kwargs)
    images = np.asarray(images)
    name = _stamp("samples", ".png")
    size = images.shape[1]
    media.save_image(out / name, media.upscale(media.grid(images), max(1, min(4, 96 // max(size, 1)))))
    return {"files": [f"{OUT}/{name}"]}


def walk(folder: Path, seed: int, fmt: str = "gif") -> dict[str, Any]:
    if fmt not in ("gif", "mp4"):
        raise ConfigError(f"format must be gif or mp4, got {fmt!r}")
    model = model_for(folder)
    if not hasattr(model, "walk"):
        raise ConfigError("this model has no latent walk")
    name = _stamp("walk", f".{fmt}")
    model.walk(folder / OUT / name, seed=seed)
    return {"files": [f"{OUT}/{name}"]}


def rows(folder: Path, n: int, seed: int, where: str | None) -> dict[str, Any]:
    if not 1 <= n <= 1_000_000:
        raise ConfigError(f"rows must be between 1 and 1,000,000, got {n}")
    model = model_for(folder)
    if not hasattr(model, "columns"):
        raise ConfigError("this model does not generate table rows")
    df = model.sample(n, where=where or None, seed=seed)
    name = _stamp("rows", ".csv")
    _write_csv(df, folder / OUT / name)
    return {"files": [f"{OUT}/{name}"], "head": _head(df)}


def apply(folder: Path, image_path: Path) -> dict[str, Any]:
    """Run an image-to-image model on one uploaded picture; the result is a PNG beside the input."""
    from PIL import Image

    model = model_for(folder)
    out = folder / OUT / _stamp("applied", ".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "apply_path"):
        model.apply_path(image_path, out)
    elif hasattr(model, "apply"):
        with Image.open(image_path) as im:
            picture = im.convert("RGB")
        try:
            result = model.apply(picture)
        except (TypeError, AttributeError):  # a predictor that takes arrays instead of PIL images
            result = model.apply(np.asarray(picture))
        media.save_image(out, _as_hwc_uint8(result))
    else:
        raise ConfigError("this model cannot be applied to a picture")
    return {"files": [f"{OUT}/{image_path.name}", f"{OUT}/{out.name}"]}


def _as_hwc_uint8(result: Any) -> np.ndarray:
    """A predictor's output picture (PIL image, uint8 HWC, float CHW/NCHW in [-1, 1], tensor, list) as uint8 HWC."""
    from PIL import Image

    if isinstance(result, (list, tuple)):
        result = result[0]
    if isinstance(result, Image.Image):
        arr = np.asarray(result.convert("RGB") if result.mode not in ("L", "RGB") else result)
    else:
        if hasattr(result, "detach"):
            result = result.detach().float().cpu().numpy()
        arr = np.asarray(result)
        if arr.ndim == 4:
            arr = arr[0]
        if arr.dtype != np.uint8:
            if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
                arr = media.to_uint8(arr[None])[0]  # float CHW in [-1, 1]
            else:
                arr = np.clip((arr.astype(np.float32) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    return arr


def _write_csv(df, path: Path) -> None:
    from ..fileio import write_bytes
    write_bytes(path, df.to_csv(index=False).encode())


def _head(df, n: int = 10) -> dict[str, Any]:
    from .datasets import _cell
    head = df.head(n)
    return {"columns": [str(c) for c in head.columns],
            "rows": [[_cell(v) for v in row] for row in head.itertuples(index=False)]}
