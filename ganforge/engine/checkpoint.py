"""Full training state on disk: written atomically, loaded without unpickling code.

A checkpoint holds every network, the EMA, every optimizer, the task's own state (augmentation),
the step, training time, learning-rate scale and RNG states. ``torch.load(weights_only=True)``
refuses anything but tensors and plain containers.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import CheckpointError
from ..fileio import atomic_path, remove_stale_temporaries

_NAME = re.compile(r"^step-(\d+)\.pt$")
BEST = "best.pt"  # the state with the best evaluation score; never pruned
#: what every checkpoint holds (Trainer.state_dict); a file without them is not one
REQUIRED = ("step", "elapsed", "lr_scale", "divergences", "modules", "optimizers", "ema", "task", "rng")


def path_for(folder: Path, step: int) -> Path:
    return folder / f"step-{step:09d}.pt"


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest(folder: str | Path) -> Path | None:
    """The newest checkpoint file (readable or not); :func:`newest_readable` skips damaged ones."""
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def newest_readable(folder: str | Path, restore: Callable[[dict[str, Any]], None] | None = None
                    ) -> tuple[Path, dict[str, Any], list[tuple[Path, str]]]:
    """(path, state, skipped) of the newest checkpoint that loads (and that ``restore(state)`` accepts),
    newest first; ``skipped`` lists the newer ones passed over with the reason. A
    :class:`~ganforge.errors.CheckpointError` raised by ``restore`` with ``fatal = True`` is not a damaged file
    (e.g. the run's data changed) and stops the search. None readable: one line listing what was tried."""
    found = list_checkpoints(folder)
    if not found:
        raise CheckpointError(f"no checkpoint in {folder}")
    skipped: list[tuple[Path, str]] = []
    for _, path in reversed(found):
        try:
            state = load(path)
            if restore is not None:
                restore(state)
        except CheckpointError as e:
            if getattr(e, "fatal", False):
                raise
            skipped.append((path, str(e).replace(f"{path}: ", "")))
            continue
        return path, state, skipped
    tried = "; ".join(f"{p.name}: {why}" for p, why in skipped)
    raise CheckpointError(f"{folder}: no readable checkpoint (tried {tried})")


def save(folder: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as the checkpoint for ``step`` and prune all but the newest ``keep``."""
    folder = Path(folder)
    target = save_as(path_for(folder, step), state)
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return target


def save_as(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to a named checkpoint file (e.g. ``best.pt``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    remove_stale_temporaries(path.parent)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as e:  # truncated or foreign file, or a pickle with code (refused by weights-only loading)
        text = (str(e).strip().splitlines() or [""])[0][:160]
        raise CheckpointError(f"{path}: not a readable ganforge checkpoint ({type(e).__name__}: {text})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a ganforge checkpoint (it holds a {type(state).__name__})")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a complete ganforge checkpoint (no {', '.join(map(repr, missing))})")
    return state


def rng_state() -> dict[str, Any]:
    import random

    import numpy as np

    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
             "python_pos": random.getstate()[2], "numpy": torch.from_numpy(np.random.get_state()[1].copy()),
             "numpy_pos": int(np.random.get_state()[2])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    np.random.set_state(("MT19937", state["numpy"].numpy(), int(state["numpy_pos"]), 0, 0.0))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
