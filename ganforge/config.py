"""Run configuration: plain dataclasses that round-trip through JSON and validate with clear messages.

A run is described by two parts: :class:`RunConfig` (what the engine needs: length, batch, devices,
precision, checkpoints) and the task's own options dataclass (data, architecture, losses). Together
they are written to ``config.json`` in the run folder, and they alone rebuild the run.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def option(default: Any = dataclasses.MISSING, help: str = "", *, choices: tuple | None = None,
           aliases: tuple[str, ...] = (), default_factory: Any = dataclasses.MISSING,
           before: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its help text (and choices, old flag names) as metadata.

    The one source the CLI flags, the Python API's docs and the studio's form are derived from.
    ``aliases`` are earlier flag names kept working for one release, e.g. ``("--task",)``; for a bool field
    ``(" /--unconditional",)`` adds another way to switch it off. ``before``: what a run or model file saved
    before this field existed meant (when the new default means something else), see :func:`as_saved`.
    """
    meta = {"help": help}
    if before is not dataclasses.MISSING:
        meta["before"] = before
    if choices is not None:
        meta["choices"] = tuple(choices)
    if aliases:
        meta["aliases"] = tuple(aliases)
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def help_of(f: dataclasses.Field) -> str:
    return f.metadata.get("help", "")


def type_name(hint: Any) -> tuple[str, bool]:
    """("int" | "float" | "bool" | "str" | "list" | "any", optional?) of a field's type hint."""
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


def describe_fields(cls: type, defaults: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each field of a config dataclass as plain data: name, type, optional, default, help, choices, aliases.

    The CLI's flags and the studio's form are both made from this. ``defaults`` override the dataclass
    defaults (a task's ``run_defaults``).
    """
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind, optional = type_name(hints.get(f.name, Any))
        if defaults and f.name in defaults:
            default = defaults[f.name]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        if not isinstance(default, (int, float, str, bool, list, type(None))):
            default = None
        out.append({"name": f.name, "type": kind, "optional": optional, "default": default,
                    "help": help_of(f), "choices": list(f.metadata.get("choices", ())) or None,
                    "aliases": list(f.metadata.get("aliases", ()))})
    return out


@dataclass
class RunConfig:
    """Engine settings shared by every task."""

    out: str = option("runs/run", "Run folder to create.")
    steps: int | None = option(None, "Training steps (the task's default when neither steps nor minutes is given).")
    minutes: float | None = option(None, "Train for this many minutes (whichever of steps and minutes ends first).")
    budget_clock: str = option("wall", "What minutes count: wall time, or the process's CPU time (fair budgets on "
                               "a shared machine).", choices=("wall", "cpu"))
    batch: int = option(64, "Batch size per process.")
    seed: int = option(0, "Seed of the initial weights and of every random draw.")
    precision: str = option("auto", "auto (bf16 where the hardware makes it fast), bf16, fp32 or fp16 (CUDA).",
                            choices=("auto", "bf16", "fp32", "fp16"))
    device: str = option("auto", "auto, cpu or cuda.", choices=("auto", "cpu", "cuda"))
    devices: int = option(1, "Processes on this machine, data-parallel (started through torchrun).")
    threads: int | None = option(None, "torch CPU threads per process (1 is often fastest on a busy machine).")
    compile: bool = option(False, "torch.compile the networks (slow start, faster steps).")
    channels_last: bool = option(False, "channels_last memory layout (measure: it can be slower on CPU).")
    lr_g: float = option(2e-4, "Generator learning rate.")
    lr_d: float = option(2e-4, "Discriminator learning rate.")
    beta1: float = option(0.0, "Adam beta1.")
    beta2: float = option(0.99, "Adam beta2.")
    ema_kimg: float = option(10.0, "EMA half-life of the generator, in thousands of images.")
    ema_rampup: float | None = option(0.05, "EMA half-life is at most this fraction of the images seen.")
    log_every: int = option(10, "Log losses every N steps.")
    eval_every: int = option(500, "Write sample grids (and metrics, when configured) every N steps.")
    checkpoint_every: int = option(500, "Write a checkpoint every N steps.")
    keep_checkpoints: int = option(2, "Checkpoints kept on disk.")

    def validate(self) -> None:
        if self.steps is None and self.minutes is None:
            raise ConfigError("give a training length: steps or minutes")
        _positive(self, "steps", allow_none=True)
        _positive(self, "minutes", allow_none=True)
        for name in ("batch", "devices", "log_every", "eval_every", "checkpoint_every",
                     "keep_checkpoints"):
            _positive(self, name)
        _positive(self, "threads", allow_none=True)
        check_choices(self)
        for name in ("lr_g", "lr_d", "ema_kimg"):
            _positive(self, name)
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")


def _positive(obj: Any, name: str, allow_none: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


def check_choices(cfg: Any) -> None:
    """Every field declared with ``choices`` holds one of them (None passes for optional fields)."""
    for f in dataclasses.fields(cfg):
        choices = f.metadata.get("choices")
        value = getattr(cfg, f.name)
        if choices and value is not None and value not in choices:
            raise ConfigError(f"{f.name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def as_saved(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Saved options ``data`` (a run's config.json, a model file's meta) with every field they predate set to
    the value it had then (``option(before=...)``), so that an old run resumes, and an old file loads, as what
    it was rather than as the new default."""
    out = dict(data)
    for f in dataclasses.fields(cls):
        if f.name not in out and "before" in f.metadata:
            out[f.name] = f.metadata["before"]
    return out


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown fields and wrong types by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{where}.{name}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return origin(value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool, dict):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    return value


def save_run_config(path: str | Path, task: str, run: RunConfig, options: Any) -> None:
    from .fileio import write_json
    write_json(path, {"task": task, "run": to_dict(run), "options": to_dict(options)})


def read_run_config(path: str | Path) -> dict[str, Any]:
    """A run's config.json: ``{"task": name, "run": {...}, "options": {...}}``, or a one-line ConfigError naming
    the file (the fields themselves are checked by :func:`from_dict` where they are used)."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a config file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object with task, run and options, got a {type(data).__name__}")
    for key in ("task", "run", "options"):
        if key not in data:
            raise ConfigError(f"{path}: missing field {key!r}")
    if not isinstance(data["task"], str):
        raise ConfigError(f"{path}: task: expected a task name, got {data['task']!r}"[:200])
    for key in ("run", "options"):
        if not isinstance(data[key], dict):
            raise ConfigError(f"{path}: {key}: expected an object, got {type(data[key]).__name__}")
    return data


__all__ = ["RunConfig", "option", "help_of", "describe_fields", "type_name", "check_choices", "to_dict", "from_dict", "save_run_config", "read_run_config", "field"]
