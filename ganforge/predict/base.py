"""Trained models as people use them: loaded from a model file, no training machinery attached."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .. import artifact


class Model:
    """Base of every predictor: the model file's metadata plus the device it runs on."""

    def __init__(self, meta: dict[str, Any], path: Path | None = None, device: str = "cpu"):
        self.meta = meta
        self.path = path
        self.device = torch.device(device)

    @property
    def task(self) -> str:
        return self.meta["task"]

    def info(self) -> dict[str, Any]:
        return dict(self.meta, path=str(self.path) if self.path else None)

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: Path | None = None,
                     device: str = "cpu") -> "Model":
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} task={self.task!r} step={self.meta.get('step')} path={self.path}>"


def load(path: str | Path, device: str = "cpu") -> Model:
    """Load a model file or run folder; the task written in the file picks the predictor class."""
    from .. import tasks

    file = artifact.resolve(path)
    tensors, meta = artifact.load(file)
    return tasks.get(meta["task"]).Predictor.from_tensors(tensors, meta, file, device)
