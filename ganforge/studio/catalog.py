"""What the studio offers, read from the task registry: applications, their option fields, presets.

Nothing here names a task: a task registered anywhere shows up in the studio by itself. Fields, help
texts and defaults come from the task's Options dataclass and ``run_defaults`` (the same source as the
CLI's flags). A task may set ``data_kind`` (images, pairs, table, series) so the studio offers matching
data sets, and ``primary`` when it is the application a data set of that kind is most often for.
"""
from __future__ import annotations

import inspect
from typing import Any

from .. import tasks
from ..config import RunConfig, describe_fields

# engine settings shown open in the form; the other run fields are under "more"
COMMON_RUN_FIELDS = ("steps", "minutes", "batch", "seed", "lr_g", "lr_d", "eval_every", "checkpoint_every",
                     "log_every", "threads", "precision")
HIDDEN_RUN_FIELDS = ("out", "devices")  # the studio chooses the folder; a worker is one process

# a preset sets the training budget and, where the task has such a field, a few of its options;
# "custom" sets nothing: the task's own defaults, as from the CLI and the Python API
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
    "custom": {"about": "the application's own defaults", "run": {}, "task": {}},
}


def describe_task(name: str) -> dict[str, Any]:
    cls = tasks.get(name)
    doc = inspect.getdoc(inspect.getmodule(cls)) or ""
    fields = [f for f in describe_fields(cls.Options) if f["name"] != "data"]
    run_fields = [dict(f, advanced=f["name"] not in COMMON_RUN_FIELDS)
                  for f in describe_fields(RunConfig, defaults=cls.run_defaults) if f["name"] not in HIDDEN_RUN_FIELDS]
    names = {f["name"] for f in fields}
    return {"name": name, "title": doc.splitlines()[0] if doc else name,
            "data_kind": cls.data_kind, "primary": cls.primary,
            "fields": fields, "run_fields": run_fields,
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
                        "run_fields": [], "presets": {}, "data_kind": None, "primary": False})
    return out
