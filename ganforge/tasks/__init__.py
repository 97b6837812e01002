"""Task registry: each GAN application is one module here, registered with ``@register``.

A task class names its options dataclass (``Options``) and its predictor (``Predictor``), so the
API, the CLI and ``ganforge.load`` find everything from the task's name alone.
"""
from __future__ import annotations

import importlib
from typing import Callable, TypeVar

from ..errors import ConfigError

_TASKS: dict[str, type] = {}
_BUILTIN = {"image": "ganforge.tasks.generate", "table": "ganforge.tasks.tabular", "series": "ganforge.tasks.series"}
T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    def deco(cls: T) -> T:
        cls.name = name
        _TASKS[name] = cls
        return cls
    return deco


def get(name: str) -> type:
    if name not in _TASKS and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _TASKS:
        raise ConfigError(f"unknown task {name!r}; known: {', '.join(sorted(set(_BUILTIN) | set(_TASKS)))}")
    return _TASKS[name]


def names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_TASKS))
