"""Network architectures, built from keyword arguments so a JSON config describes them fully.

``build(kind, arch, **kwargs)`` returns a generator (``kind="G"``) or discriminator (``kind="D"``).
Architectures register themselves with :func:`register`; nothing else needs to change to add one.
"""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

_ARCHS: dict[str, dict[str, Callable[..., nn.Module]]] = {}


def register(name: str, generator: Callable[..., nn.Module], discriminator: Callable[..., nn.Module]) -> None:
    _ARCHS[name] = {"G": generator, "D": discriminator}


def archs() -> list[str]:
    _load_builtin()
    return sorted(_ARCHS)


def build(kind: str, arch: str, **kwargs) -> nn.Module:
    _load_builtin()
    if arch not in _ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(_ARCHS))}")
    return _ARCHS[arch][kind](**kwargs)


def _load_builtin() -> None:
    from . import dcgan, resnet  # noqa: F401  (they register on import)
