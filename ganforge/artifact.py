"""The model file: safetensors weights plus JSON metadata, self-describing and safe to load.

Metadata (stored under the safetensors header key ``ganforge``) holds the file format, the task name,
ganforge version, each network's spec (``{"class": ..., **kwargs}``), the resolved config, what the
model was trained on (with a fingerprint), the last metrics and the step count. Loading needs no flags and never unpickles anything.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .fileio import atomic_path

MODEL_FILE = "model.safetensors"
BEST_MODEL_FILE = "model-best.safetensors"  # written when training evaluates metrics
META_KEY = "ganforge"
FORMAT = 2  # 2: each network stored as {"class": ..., **kwargs} under meta["nets"]; 1 (0.1.0): kwargs only


def resolve(path: str | Path) -> Path:
    """Accept a model file or a run folder holding ``model.safetensors``."""
    path = Path(path)
    if path.is_dir():
        if (path / MODEL_FILE).is_file():
            return path / MODEL_FILE
        raise CheckpointError(f"{path}: no {MODEL_FILE} in this folder (has training finished? try 'ganforge resume')")
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file or run folder")
    return path


def save(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    meta = dict(meta)
    meta.setdefault("format", FORMAT)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    from safetensors import safe_open

    path = resolve(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    if META_KEY not in header:
        raise CheckpointError(f"{path}: a safetensors file, but not a ganforge model (no '{META_KEY}' metadata)")
    return json.loads(header[META_KEY])


def load(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors.torch import load_file

    path = resolve(path)
    meta = read_meta(path)
    return load_file(str(path)), meta
