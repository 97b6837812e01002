"""What a trained model can do on its results page, from the predictor contract: samples (with a
condition where the model takes one), a latent walk, apply to an uploaded file, and the verbs whose
parameters the studio can fill. Outputs go to ``<run>/studio/``.
"""
from __future__ import annotations

import inspect
import threading
import time
import typing
from pathlib import Path
from typing import Any, Optional

from ..api import load
from ..config import type_name
from ..errors import ConfigError
from ..predict.base import Model

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

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


def capabilities(model: Model) -> dict[str, Any]:
    """The model's own account of what it can do (the predictor contract), plus the verbs the studio can run."""
    caps = model.capabilities()
    caps["verb_forms"] = [v for v in (verb_form(name, fn) for name, fn in type(model).verbs().items()) if v]
    return caps


def verb_form(name: str, fn) -> dict[str, Any] | None:
    """A verb's parameters as form fields, when the studio can fill every one: scalars, and an ``output`` path
    that the studio chooses. Verbs that read files stay with the CLI and Python."""
    info = fn.__ganforge_verb__
    hints = typing.get_type_hints(fn)
    fields = []
    for p in list(inspect.signature(fn).parameters.values())[1:]:
        kind, optional = type_name(hints.get(p.name, str))
        if p.name == "output":
            continue
        if kind not in ("int", "float", "str", "bool") or hints.get(p.name) in (Path, Optional[Path]):
            return None
        default = None if p.default is inspect.Parameter.empty else p.default
        fields.append({"name": p.name, "type": kind, "optional": optional or default is None, "default": default,
                       "help": (info["help"] or {}).get(p.name, "") if isinstance(info["help"], dict) else ""})
    doc = (inspect.getdoc(fn) or name).splitlines()[0]
    return {"name": name, "title": doc, "fields": fields}


def _stamp(prefix: str, suffix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{int(time.time() * 1000) % 1000:03d}{suffix}"


def _result(folder: Path, written: list[Path]) -> dict[str, Any]:
    """Files under the run folder, and the head of the first CSV among them."""
    files = [p.resolve().relative_to(folder.resolve()).as_posix() for p in written]
    out: dict[str, Any] = {"files": files}
    csvs = [p for p in written if p.suffix == ".csv"]
    if csvs:
        import pandas as pd
        out["head"] = _head(pd.read_csv(csvs[0], nrows=10))
    return out


def generate(folder: Path, n: int, seed: int, condition: str | None = None) -> dict[str, Any]:
    if not 1 <= n <= 1_000_000:
        raise ConfigError(f"n must be between 1 and 1,000,000, got {n}")
    model = model_for(folder)
    result = model.sample(n, seed=seed, condition=condition or None)
    return _result(folder, model.preview(result, folder / OUT / _stamp("samples", model.sample_suffixes[0])))


def walk(folder: Path, seed: int, fmt: str = "gif") -> dict[str, Any]:
    if fmt not in ("gif", "mp4"):
        raise ConfigError(f"format must be gif or mp4, got {fmt!r}")
    return _result(folder, [model_for(folder).walk(folder / OUT / _stamp("walk", f".{fmt}"), seed=seed)])


def apply(folder: Path, input_path: Path) -> dict[str, Any]:
    """Run a model that maps inputs to outputs on one uploaded file; the result is beside the input."""
    model = model_for(folder)
    suffix = ".png" if input_path.suffix.lower() in IMAGE_SUFFIXES else input_path.suffix
    written = model.apply_path(input_path, folder / OUT / _stamp("applied", suffix))
    return _result(folder, [input_path] + list(written))


def run_verb(folder: Path, name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Run a verb whose form the studio offers; an ``output`` parameter gets a file in the run's studio folder."""
    model = model_for(folder)
    fn = type(model).verbs().get(name)
    form = verb_form(name, fn) if fn is not None else None
    if form is None:
        raise ConfigError(f"this model has no verb {name!r} the studio can run")
    known = {f["name"] for f in form["fields"]}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{name}: unknown field {unknown[0]!r}")
    kwargs = dict(values)
    for key, value in kwargs.items():
        _inside_workspace(folder, key, value)
    before = set((folder / OUT).glob("*")) if (folder / OUT).exists() else set()
    if "output" in inspect.signature(fn).parameters:
        kwargs["output"] = folder / OUT / _stamp(name, _output_suffix(fn))
    message = fn(model, **kwargs)
    after = set((folder / OUT).glob("*")) if (folder / OUT).exists() else set()
    return dict(_result(folder, sorted(after - before)), message=message or "")


def _inside_workspace(folder: Path, key: str, value: Any) -> None:
    """A text field that names a file or folder must name one inside the studio's workspace (its data sets and
    runs): a form on a web page does not get to read the server's other files."""
    if not isinstance(value, str) or value.startswith("builtin:") or not any(c in value for c in "/\\~"):
        return
    workspace = folder.resolve().parents[1]
    try:
        Path(value).expanduser().resolve().relative_to(workspace)
    except ValueError:
        raise ConfigError(f"{key}: only files inside the studio's workspace can be used here") from None


def _output_suffix(fn) -> str:
    """The declared ``output_suffix`` of the verb, else the suffix of its ``output`` default, else .png."""
    if fn.__ganforge_verb__.get("output_suffix"):
        return fn.__ganforge_verb__["output_suffix"]
    default = inspect.signature(fn).parameters["output"].default
    suffix = Path(str(default)).suffix if default not in (None, inspect.Parameter.empty) else ""
    return suffix or ".png"


def _write_csv(df, path: Path) -> None:
    from ..fileio import write_bytes
    write_bytes(path, df.to_csv(index=False).encode())


def _head(df, n: int = 10) -> dict[str, Any]:
    from .datasets import _cell
    head = df.head(n)
    return {"columns": [str(c) for c in head.columns],
            "rows": [[_cell(v) for v in row] for row in head.itertuples(index=False)]}
