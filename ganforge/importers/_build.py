"""What every importer ends with: registered networks loaded with the converted weights, then packed as
the content of a model file (``(tensors, meta)``, format 2)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..artifact import FORMAT
from ..errors import CheckpointError
from ..nets import registry
from ..version import __version__


def strip_prefix(state: dict[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Keys without a wrapper's prefix (``module.`` of DataParallel) when every key has it."""
    if state and all(isinstance(k, str) and k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_into(net: nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> nn.Module:
    """``net`` with ``state`` loaded strictly; a mismatch is one line naming the file and the architecture."""
    try:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise CheckpointError(f"{path}: looks like {what} but its weights do not fit "
                              f"({(lines[1] if len(lines) > 1 else lines[0])[:200]})") from None
    return net.eval()


def package(task: str, options: dict[str, Any], nets: dict[str, nn.Module], detected: str
            ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of a model file holding ``nets`` for ``task`` with ``options``."""
    tensors, specs = registry.export(nets)
    meta = {"format": FORMAT, "task": task, "ganforge_version": __version__, "options": options, "nets": specs,
            "imported": {"detected": detected}}
    return tensors, meta
