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


@dataclass
class RunConfig:
    """Engine settings shared by every task."""

    out: str = "runs/run"
    steps: int | None = None          # stop after this many steps ...
    minutes: float | None = None      # ... or after this much training time (whichever comes first)
    budget_clock: str = "wall"        # what "minutes" counts: wall time, or "cpu" time of the process (all threads)
    batch: int = 64                   # per process
    seed: int = 0
    precision: str = "auto"           # auto | bf16 | fp32 | fp16 (CUDA only)
    device: str = "auto"              # auto | cpu | cuda
    devices: int = 1                  # processes on this node (torchrun/SLURM set this for you)
    num_nodes: int = 1
    threads: int | None = None        # torch CPU threads per process; None = torch's default
    compile: bool = False             # torch.compile the networks (slow start, faster steps)
    channels_last: bool = False
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.99
    ema_kimg: float = 10.0            # EMA half-life of the generator, in thousands of images
    ema_rampup: float | None = 0.05   # EMA half-life is at most this fraction of images seen
    log_every: int = 10
    eval_every: int = 500             # sample grids (and metrics, when configured)
    checkpoint_every: int = 500
    keep_checkpoints: int = 2

    def validate(self) -> None:
        if self.steps is None and self.minutes is None:
            raise ConfigError("give a training length: steps or minutes")
        _positive(self, "steps", allow_none=True)
        _positive(self, "minutes", allow_none=True)
        for name in ("batch", "devices", "num_nodes", "log_every", "eval_every", "checkpoint_every",
                     "keep_checkpoints"):
            _positive(self, name)
        _positive(self, "threads", allow_none=True)
        _choice(self, "precision", ("auto", "bf16", "fp32", "fp16"))
        _choice(self, "device", ("auto", "cpu", "cuda"))
        _choice(self, "budget_clock", ("wall", "cpu"))
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


def _choice(obj: Any, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(obj, name)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


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
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    for key in ("task", "run", "options"):
        if key not in data:
            raise ConfigError(f"{path}: missing field {key!r}")
    return data


__all__ = ["RunConfig", "to_dict", "from_dict", "save_run_config", "read_run_config", "field"]
