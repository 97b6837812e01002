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
    """The ganforge metadata of a model (or latent, directions, encoder) file: a JSON object whose format this
    ganforge reads; anything else is a one-line :class:`CheckpointError` naming the file."""
    from safetensors import safe_open

    path = resolve(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as e:  # random bytes, a truncated header, another format: the reader's message, one line
        raise CheckpointError(f"{path}: not a readable safetensors file ({_first_line(e)})") from None
    if META_KEY not in header:
        raise CheckpointError(f"{path}: a safetensors file, but not a ganforge model (no '{META_KEY}' metadata)")
    try:
        meta = json.loads(header[META_KEY])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: its ganforge metadata is not valid JSON ({e.msg} at character {e.pos}); "
                              "the file is damaged") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: its ganforge metadata is a JSON {type(meta).__name__}, not an object; "
                              "the file is damaged")
    check_format(meta, path)
    return meta


def check_format(meta: dict[str, Any], path: str | Path) -> None:
    """A format this ganforge reads (1 .. FORMAT); a newer one asks for a newer ganforge."""
    fmt = meta.get("format", 1)
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise CheckpointError(f"{path}: unknown model file format {fmt!r}; the file is damaged")
    if fmt > FORMAT:
        made = " ".join(str(meta.get("ganforge_version") or "").split())[:40]
        raise CheckpointError(f"{path}: the file is from a newer ganforge{f' ({made})' if made else ''}: format "
                              f"{fmt}, this ganforge reads up to {FORMAT}; upgrade ganforge to use it")


def load(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors.torch import load_file

    path = resolve(path)
    meta = read_meta(path)
    try:
        return load_file(str(path)), meta
    except Exception as e:  # a header that reads, tensors that do not (truncated data)
        raise CheckpointError(f"{path}: the weights are unreadable ({_first_line(e)}); the file is damaged") from None


def _first_line(e: BaseException, limit: int = 160) -> str:
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "..."
