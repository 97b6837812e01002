"""Network architectures, built from keyword arguments so a JSON config describes them fully.

Every network class is registered once (``@register``, :mod:`.registry`) and rebuilt from the
``{"class": ..., **kwargs}`` spec a model file stores. For the image task, ``build(kind, arch, **kwargs)``
returns a generator (``kind="G"``) or discriminator (``kind="D"``) of a named architecture; architectures
add themselves with :func:`register_arch`.
"""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

from .registry import build as build_net, export, load, register, spec

_ARCHS: dict[str, dict[str, Callable[..., nn.Module]]] = {}


def register_arch(name: str, generator: Callable[..., nn.Module], discriminator: Callable[..., nn.Module]) -> None:
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
    from . import dcgan, light, r3, resnet, stylegan2  # noqa: F401  (they register on import)


__all__ = ["archs", "build", "build_net", "export", "load", "register", "register_arch", "spec"]
