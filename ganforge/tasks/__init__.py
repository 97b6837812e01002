"""Task registry: each GAN application is one module here, registered with ``@register``.

A task class names its options dataclass (``Options``) and its predictor (``Predictor``), so the
API, the CLI, the studio and ``ganforge.load`` find everything from the task's name alone. Task
modules are discovered from this package: adding a file with a ``@register``-ed class is enough.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, TypeVar

from ..errors import ConfigError

_TASKS: dict[str, type] = {}
_discovered = False
T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    def deco(cls: T) -> T:
        cls.name = name
        _TASKS[name] = cls
        return cls
    return deco


def _discover() -> None:
    """Import every module of this package once, so that each registers its tasks."""
    global _discovered
    if not _discovered:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _discovered = True


def get(name: str) -> type:
    if name not in _TASKS:
        _discover()
    if name not in _TASKS:
        raise ConfigError(f"unknown task {name!r}; known: {', '.join(names())}")
    return _TASKS[name]


def names() -> list[str]:
    _discover()
    return sorted(_TASKS)
