"""What the studio offers, read from the task registry: applications, their option fields, presets.

Nothing here names a task: a new file in ``ganforge/tasks/`` shows up in the studio by itself.
A task may set ``data_kind`` (images, pairs, table, series) so the studio offers matching data sets.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from typing import Any

from .. import tasks
from ..config import RunConfig

# engine settings a person may want to change in the form (the rest keep RunConfig's defaults)
RUN_FIELDS = ("steps", "minutes", "batch", "seed", "lr_g", "lr_d", "eval_every", "checkpoint_every", "log_every",
              "threads", "precision")

# a preset sets the training budget and, where the task has such a field, a few of its options
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"about": "a few minutes: see that it learns", "run": {"minutes": 3.0, "steps": None, "eval_every": 100,
                                                                   "checkpoint_every": 200},
             "task": {"width": 32, "hidden": 32, "eval_rows": 500, "walk_frames": 8}},
    "balanced": {"about": "about 20 minutes", "run": {"minutes": 20.0, "steps": None, "eval_every": 250,
                                                      "checkpoint_every": 500},
                 "task": {"width": 64}},
    "quality": {"about": "about an hour and a half", "run": {"minutes": 90.0, "steps": None, "eval_every": 500,
                                                             "checkpoint_every": 1000},
                "task": {"width": 64}},
}


def _type_name(hint: Any) -> tuple[str, bool]:
    """("int" | "float" | "bool" | "str" | "list" | "any", optional?)"""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else Any
        origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return "list", optional
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if hint is t:
            return name, optional
    return "any", optional


def _comments(cls: type) -> dict[str, str]:
    """The comment after each field in the dataclass source: ``size: int = 32  # pixels``."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out = {}
    for m in re.finditer(r"^\s+(\w+)\s*:[^\n#]*#\s*(.+)$", src, re.M):
        out.setdefault(m.group(1), m.group(2).strip())
    return out


def fields_of(cls: type, only: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    notes = _comments(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name in skip or (only is not None and f.name not in only):
            continue
        kind, optional = _type_name(hints.get(f.name, Any))
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        if not isinstance(default, (int, float, str, bool, list, type(None))):
            default = None
        out.append({"name": f.name, "type": kind, "optional": optional, "default": default,
                    "help": notes.get(f.name, "")})
    if only is not None:
        out.sort(key=lambda d: only.index(d["name"]))
    return out


def describe_task(name: str) -> dict[str, Any]:
    cls = tasks.get(name)
    doc = inspect.getdoc(inspect.getmodule(cls)) or ""
    fields = fields_of(cls.Options, skip=("data",))
    names = {f["name"] for f in fields}
    return {"name": name, "title": doc.splitlines()[0] if doc else name,
            "data_kind": getattr(cls, "data_kind", None),
            "fields": fields,
            "run_fields": fields_of(RunConfig, only=RUN_FIELDS),
            "presets": {p: {"about": v["about"], "values": preset_values(p, names)} for p, v in PRESETS.items()}}


def preset_values(preset: str, task_fields: set[str]) -> dict[str, Any]:
    p = PRESETS[preset]
    values = dict(p["run"])
    values.update({k: v for k, v in p["task"].items() if k in task_fields})
    return values


def catalog() -> list[dict[str, Any]]:
    out = []
    for name in tasks.names():
        try:
            out.append(describe_task(name))
        except Exception as e:  # one odd task must not hide the others
            out.append({"name": name, "title": name, "error": f"{type(e).__name__}: {e}", "fields": [],
                        "run_fields": [], "presets": {}, "data_kind": None})
    return out
