"""A restricted reader for ``.pkl`` weight files (stylegan2-ada-pytorch snapshots and plain pickled state dicts).

A pickle names the functions and classes that rebuild its objects; an ordinary ``pickle.load`` imports and
calls whatever it names (``os.system`` included). :func:`restricted_load` allows a fixed set of names only:
torch's tensor and parameter rebuilders (a plainly pickled tensor carries its storage as a small
``torch.save`` blob, which is read with ``torch.load(weights_only=True)``), ``collections.OrderedDict``,
numeric numpy scalars and arrays, and the two names of stylegan2-ada-pytorch's snapshots:

- ``torch_utils.persistence._reconstruct_persistent_obj`` rebuilds a network from its *source code* stored
  in the pickle (the original runs ``exec`` on it). Here it becomes a :class:`PersistentObject` holding the
  class name, the constructor arguments and the state (tensors and sub-objects); the source is kept as text
  and never run.
- ``dnnlib.util.EasyDict`` (a dict with attribute access) becomes a plain dict.

The file is read twice: first with placeholders for every allowed name, so that a file naming anything
else is refused (a one-line :class:`CheckpointError` naming the file and the name) before any object is
built; then for real. A ``.pkl`` that is in fact a ``torch.save`` file is read with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError

#: torch's legacy (pre-zip) ``torch.save`` files start with this pickled number
TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


@dataclass
class PersistentObject:
    """What stylegan2-ada's persistence pickles for one network, without running its stored source."""

    class_name: str
    init_args: tuple = ()
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    module_src: str = ""  # kept as text for inspection; never executed
    version: int | None = None

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers of this object and its sub-modules, with dotted names, as
        ``nn.Module.state_dict`` would list them."""
        out: dict[str, torch.Tensor] = {}
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        for kind in ("_parameters", "_buffers"):
            for name, value in (self.state.get(kind) or {}).items():
                if isinstance(value, torch.Tensor) and not (kind == "_buffers" and name in skip):
                    out[prefix + name] = value.detach()
        for name, sub in (self.state.get("_modules") or {}).items():
            if isinstance(sub, PersistentObject):
                out.update(sub.state_dict(f"{prefix}{name}."))
        return out

    def __repr__(self) -> str:
        return f"<persistent {self.class_name}>"


class EasyDict(dict):
    """dnnlib's attribute dict, read as a plain dict."""

    def __setstate__(self, state: Any) -> None:  # its pickles carry an (empty) instance dict
        pass


def _reconstruct_persistent_obj(meta: dict[str, Any]) -> PersistentObject:
    if not isinstance(meta, dict) or not isinstance(meta.get("state"), dict):
        raise CheckpointError("a persistent object without its state")
    state = dict(meta["state"])
    return PersistentObject(class_name=str(meta.get("class_name")), init_args=tuple(state.get("_init_args") or ()),
                            init_kwargs=plain(state.get("_init_kwargs") or {}), state=state,
                            module_src=str(meta.get("module_src", "")), version=meta.get("version"))


def plain(value: Any) -> Any:
    """EasyDicts (and nested ones) as plain dicts."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def _load_storage_bytes(b: bytes) -> Any:
    if not isinstance(b, (bytes, bytearray)):
        raise CheckpointError("a tensor storage that is not bytes")
    return torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state) -> torch.nn.Parameter:
    return torch._utils._rebuild_parameter(data, requires_grad, OrderedDict())  # attributes in ``state`` dropped


def _numpy_scalar(dtype, *args):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise CheckpointError("a numpy scalar of object type")
    try:
        from numpy._core.multiarray import scalar  # numpy 2
    except ImportError:
        from numpy.core.multiarray import scalar
    return scalar(dtype, *args)


def _numpy_reconstruct(cls, *args):
    if cls is not np.ndarray:
        raise CheckpointError("a numpy array of another class")
    return np.ndarray.__new__(np.ndarray, *args)


def _numpy_dtype(*args, **kwargs):
    d = np.dtype(*args, **kwargs)
    if d.hasobject:
        raise CheckpointError("a numpy array of Python objects")
    return d


def _allowed() -> dict[tuple[str, str], Any]:
    import _codecs

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "bytearray"): bytearray,
        ("builtins", "complex"): complex, ("_codecs", "encode"): _codecs.encode,
        ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
        ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
        ("torch", "Size"): torch.Size,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): EasyDict, ("dnnlib", "EasyDict"): EasyDict,
        ("numpy", "dtype"): _numpy_dtype, ("numpy", "ndarray"): np.ndarray,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[module, "scalar"] = _numpy_scalar
        allowed[module, "_reconstruct"] = _numpy_reconstruct
    for name in dir(torch):
        if isinstance(getattr(torch, name, None), torch.dtype):
            allowed["torch", name] = getattr(torch, name)
    return allowed


class _Placeholder(dict):
    """Stands for every allowed name in the first pass: accepts any arguments, builds nothing."""

    def __new__(cls, *args: Any, **kwargs: Any):
        return dict.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allowed names; ``check_only`` resolves them to placeholders (the first pass)."""

    def __init__(self, file, path: Path, check_only: bool = False):
        super().__init__(file)
        self.path, self.check_only = path, check_only
        self.allowed = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise CheckpointError(f"{self.path}: refused: the pickle names {module}.{name}, which is not a tensor, "
                                  "a plain value or a stylegan2-ada network (no code from a weight file is run)")
        return _Placeholder if self.check_only else self.allowed[module, name]

    def persistent_load(self, pid: Any) -> Any:
        raise _TorchLegacy()


class _TorchLegacy(Exception):
    """The pickle uses persistent ids: a legacy ``torch.save`` file."""


def restricted_load(path: str | Path) -> Any:
    """The objects of a ``.pkl`` file built from the allowed names only (see the module's docstring)."""
    path = Path(path)
    if zipfile.is_zipfile(path):  # torch.save's format under a .pkl name
        return torch.load(str(path), map_location="cpu", weights_only=True)
    data = path.read_bytes()
    try:
        for check_only in (True, False):
            result = RestrictedUnpickler(io.BytesIO(data), path, check_only).load()
    except _TorchLegacy:
        result = TORCH_LEGACY_MAGIC
    if result == TORCH_LEGACY_MAGIC and isinstance(result, int):
        return torch.load(str(path), map_location="cpu", weights_only=True)
    return plain(result) if isinstance(result, EasyDict) else result
