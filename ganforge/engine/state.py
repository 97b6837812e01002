"""What callbacks see of a training run: a small read-only view plus the few actions they may take.

Callbacks (the engine's and the tasks') receive a :class:`TrainState`, never the trainer, so the
trainer's internals (wrapped networks, optimizers, runtime) can change without touching them.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

if TYPE_CHECKING:
    from ..config import RunConfig
    from .trainer import Trainer


class TrainState:
    """A live view of one training run, built once by the :class:`~ganforge.engine.Trainer`."""

    def __init__(self, trainer: "Trainer"):
        self._trainer = trainer

    # ------------------------------------------------------------- read-only facts
    @property
    def step(self) -> int:
        """Optimisation steps done so far."""
        return self._trainer.step

    @property
    def run_dir(self) -> Path:
        return Path(self._trainer.run_dir)

    @property
    def device(self) -> torch.device:
        return self._trainer.device

    @property
    def rank(self) -> int:
        return self._trainer.rank

    @property
    def world(self) -> int:
        return self._trainer.world

    @property
    def run(self) -> "RunConfig":
        return self._trainer.run

    @property
    def elapsed(self) -> float:
        """Seconds of training so far on the budget's clock, this session included."""
        return self._trainer._elapsed_now()

    @property
    def progress(self) -> float:
        """Fraction (0..1) of the step or time budget spent."""
        return self._trainer.progress_done()

    @property
    def status(self) -> str:
        return self._trainer.status

    @property
    def last_record(self) -> dict[str, Any]:
        return dict(self._trainer.last_record)

    @property
    def best(self) -> dict[str, Any] | None:
        """``{"metric", "value", "step", "lower_is_better"}`` of the best model so far, or None."""
        best = self._trainer.best
        return dict(best) if best else None

    # ------------------------------------------------------------- networks
    def net(self, name: str) -> nn.Module:
        """The training network ``name``, unwrapped (no DDP, no compile)."""
        return self._trainer.raw[name]

    def sampling_net(self, name: str | None = None) -> nn.Module:
        """The network to sample from: the EMA copy of ``name`` (default: the task's EMA module) when
        one is kept, else the training network itself."""
        trainer = self._trainer
        ema_name = trainer.task.ema_module
        name = name or ema_name
        if name is None:
            raise ValueError("this task keeps no EMA network: name the network to sample from")
        if trainer.ema is not None and name == ema_name:
            return trainer.ema.shadow
        return trainer.raw[name]

    # ------------------------------------------------------------- actions
    def log(self, record: dict[str, Any]) -> None:
        """Send a record (e.g. evaluation scores) to every callback, stamped with the current step."""
        self._trainer.log_record(record)

    def consider_best(self, metric: str, value: float, lower_is_better: bool = True) -> bool:
        """Keep the best checkpoint and model file for ``metric``; True when ``value`` is a new best."""
        return self._trainer.consider_best(metric, value, lower_is_better)

    def export(self, path: str | Path) -> Path | None:
        """Write the model file as it stands now to ``path`` (rank 0 only)."""
        return self._trainer.export(Path(path))
