"""Models from the ecosystem: weight files of other projects (Real-ESRGAN, pix2pix/CycleGAN, StyleGAN2)
turned into ganforge models. No code from a weight file is ever executed: ``.pth``/``.pt`` files are read
with ``torch.load(weights_only=True)``, ``.pkl`` files by a restricted unpickler that builds tensors and
plain values only, ``.safetensors`` directly.

An importer is a function registered with :func:`importer`; it gets the file's state (a flat dict of
tensors, BasicSR's ``params``/``params_ema`` already unwrapped, or for pickles whatever the restricted reader
extracted) and returns a ganforge model as ``(tensors, meta)`` — the content of a format 2 model file, with
networks stored as specs of registered classes — or None when the state is not its kind. ``convert`` tries
them in turn (or the one ``arch`` names); ``ganforge import`` writes the result, and ``ganforge.load`` accepts
such a file directly.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import CheckpointError, ConfigError

WEIGHT_SUFFIXES = (".pth", ".pt", ".pkl", ".bin", ".ckpt", ".safetensors")


@dataclass(frozen=True)
class Importer:
    name: str
    about: str          # what files it reads, for help texts and error messages
    convert: Callable[..., tuple[dict[str, torch.Tensor], dict[str, Any]] | None]


_IMPORTERS: dict[str, Importer] = {}
_discovered = False


def importer(name: str, about: str) -> Callable:
    """Register ``fn(state, path, **options) -> (tensors, meta) | None`` under ``name``."""
    def deco(fn: Callable) -> Callable:
        _IMPORTERS[name] = Importer(name, about, fn)
        return fn
    return deco


def importers() -> dict[str, Importer]:
    global _discovered
    if not _discovered:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _discovered = True
    return dict(_IMPORTERS)


def is_foreign(path: str | Path) -> bool:
    """True for a weight file that is not a ganforge model file."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return path.suffix.lower() in WEIGHT_SUFFIXES
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return "ganforge" not in (f.metadata() or {})
    except Exception:
        return False  # unreadable: the model-file reader says why


def read_state(path: str | Path) -> dict[str, Any]:
    """The tensors (and, for pickles, plain values) a weight file holds, without running any of its code."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file
            state: Any = load_file(str(path))
        elif suffix == ".pkl":
            from ._pickle import restricted_load
            state = restricted_load(path)
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except CheckpointError:
        raise
    except Exception as e:  # weights-only loading refuses code; anything else is a damaged file
        raise CheckpointError(f"{path}: not a readable weight file ({type(e).__name__}: "
                              f"{(str(e).splitlines() or [''])[0][:160]})") from None
    if isinstance(state, dict):
        for key in ("params_ema", "params"):  # BasicSR's wrappers (Real-ESRGAN releases)
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a dict of weights")
    return state


def describe(state: dict[str, Any], limit: int = 6) -> str:
    """What a state holds, for error messages: its first keys and shapes."""
    items = [f"{k} {tuple(v.shape)}" if isinstance(v, torch.Tensor) else str(k) for k, v in list(state.items())[:limit]]
    return ", ".join(items) + (f", ... ({len(state)} entries)" if len(state) > limit else "")


def convert(path: str | Path, arch: str | None = None, **options: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A ganforge model (tensors, meta) from another project's weight file; ``arch`` forces an importer."""
    known = importers()
    if arch is not None and arch not in known:
        raise ConfigError(f"unknown architecture {arch!r}; known: {', '.join(sorted(known))}")
    state = read_state(path)
    for imp in ([known[arch]] if arch else list(known.values())):
        result = imp.convert(state, Path(path), **options)
        if result is not None:
            tensors, meta = result
            meta = dict(meta, imported={"from": str(path), "arch": imp.name, **meta.get("imported", {})})
            return tensors, meta
    found = describe(state)
    if arch:
        raise CheckpointError(f"{path}: not a {arch} weight file (found {found})")
    raise CheckpointError(f"{path}: not a ganforge model, and no known architecture matches (found {found}); "
                          f"supported: {', '.join(sorted(known))} (see README, 'Use a model you already have')")
