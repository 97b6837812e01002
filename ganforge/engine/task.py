"""What the engine needs from a task: networks, phases, a batch sampler and one loss method.

A task (``ganforge/tasks/*.py``) subclasses :class:`AdversarialTask`. The engine owns devices,
precision, processes, EMA, checkpoints and logging; the task owns the maths of one step.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

if TYPE_CHECKING:
    from .callbacks import Callback


@dataclass(frozen=True)
class Phase:
    """One optimisation phase: ``loss(name, ...)`` is minimised w.r.t. ``module`` every ``interval`` steps."""

    name: str
    module: str
    interval: int = 1


class AdversarialTask(ABC):
    """Base class of every trainable GAN task."""

    #: registry name, e.g. "image"; written into model files
    name: str = ""
    #: networks by name; each gets its own optimizer
    modules: dict[str, nn.Module]
    #: phases run in order at every step where ``step % interval == 0``
    phases: list[Phase]
    #: module whose EMA is kept (used for sampling and export), or None
    ema_module: str | None = "G"
    #: run settings this task trains best with, over RunConfig's defaults (steps, batch, Adam betas,
    #: eval_every ...): the CLI, the Python API and the studio all resolve a run through them
    run_defaults: dict[str, Any] = {}
    #: the task's options dataclass and its predictor class (set by the task module)
    Options: type
    Predictor: type
    #: what kind of data set the task trains on ("images", "pairs", "table", "series"), or None when any
    #: data source string will do; front doors (the studio) use it to offer matching data sets
    data_kind: str | None = None
    #: True for the application a data set of ``data_kind`` is most often for (the studio preselects it)
    primary: bool = False
    #: True when the task's constructor takes the resolved run settings (``run=RunConfig``), e.g. to choose
    #: defaults from the device and the time budget; the API passes them
    takes_run: bool = False

    def learning_rates(self, lr_g: float, lr_d: float) -> dict[str, float]:
        """Learning rate per module; by default "G*" modules use lr_g, all others lr_d."""
        return {n: (lr_g if n.startswith("G") else lr_d) for n in self.modules}

    @abstractmethod
    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> Any:
        """Draw one training batch (real data) using ``gen`` for every random choice."""

    @abstractmethod
    def loss(self, phase: str, batch: Any, nets: dict[str, nn.Module], gen: torch.Generator
             ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the scalar to minimise for ``phase`` and scalars to log (floats or 0-dim tensors).

        Under several processes every parameter of the phase's network must take part in the loss
        (DDP waits for each gradient): a penalty that skips some, such as R1 (the last bias has no
        input gradient), adds ``0 * logits.sum()``.
        """

    def state_dict(self) -> dict[str, Any]:
        """Task state beyond the networks (e.g. augmentation strength) for checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def stop_reason(self) -> str | None:
        """Why training should end before its step/time budget (early stopping, a privacy budget that
        one more step would exceed), or None to go on. Checked before every step; keep it cheap."""
        return None

    def callbacks(self) -> list["Callback"]:
        """Task-specific callbacks (sample grids, walks); rank 0 only."""
        return []

    def data_description(self) -> dict[str, Any]:
        """What the model was trained on (source, count, fingerprint) for the model file."""
        return {}

    @abstractmethod
    def export(self, nets: dict[str, nn.Module], ema: nn.Module | None
               ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors and extra metadata for the model file."""
