"""Things that happen around training: progress bar, metrics.jsonl, TensorBoard, loss curves.

The same log records feed every callback, so the terminal, the run folder and the studio show
the same figures. Callbacks run on rank 0 only.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import TrainState

log = logging.getLogger("ganforge.engine")


class Callback:
    """Hooks called by the trainer (rank 0 only) with the run's :class:`~ganforge.engine.state.TrainState`."""

    def on_start(self, state: "TrainState") -> None: ...
    def on_step(self, state: "TrainState") -> None: ...
    def on_log(self, state: "TrainState", record: dict[str, Any]) -> None: ...
    def on_eval(self, state: "TrainState", step: int) -> None: ...
    def on_restore(self, state: "TrainState") -> None: ...  # rolled back to state.step (divergence)
    def on_end(self, state: "TrainState", status: str) -> None: ...


class MetricsLog(Callback):
    """Append each log record as one JSON line to ``metrics.jsonl`` (flushed, so it can be tailed)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_start(self, state: "TrainState") -> None:
        if state.step == 0:
            self.path.unlink(missing_ok=True)
        else:
            self.on_restore(state)

    def on_restore(self, state: "TrainState") -> None:
        """Drop records past the step training continues from (resume, divergence recovery)."""
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= state.step]
        from ..fileio import write_bytes
        write_bytes(self.path, "".join(line + "\n" for line in kept).encode())

    def on_log(self, state: "TrainState", record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


class LossCurves(Callback):
    """Draw ``losses.png`` from ``metrics.jsonl`` at every evaluation and at the end."""

    def __init__(self, metrics: Path, out: Path):
        self.metrics, self.out = Path(metrics), Path(out)
        self.drawn = -1     # the step drawn last: the end of a run that was just evaluated needs no second drawing

    def on_eval(self, state: "TrainState", step: int) -> None:
        from ..imaging.media import plot_curves
        plot_curves(self.metrics, self.out)
        self.drawn = step

    def on_end(self, state: "TrainState", status: str) -> None:
        if self.drawn != state.step:
            self.on_eval(state, state.step)


class TensorBoard(Callback):
    """Mirror log records to TensorBoard when the ``tensorboard`` package is installed."""

    def __init__(self, folder: Path):
        from torch.utils.tensorboard import SummaryWriter  # raises ImportError without tensorboard
        self.writer = SummaryWriter(str(folder))

    @classmethod
    def maybe(cls, folder: Path) -> "TensorBoard | None":
        try:
            return cls(folder)
        except ImportError:
            return None

    def on_log(self, state: "TrainState", record: dict[str, Any]) -> None:
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, record["step"])

    def on_end(self, state: "TrainState", status: str) -> None:
        self.writer.close()


class ProgressBar(Callback):
    """Terminal progress: step, images/s, ETA and the last losses."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.progress = None
        self.last: dict[str, Any] = {}

    def on_start(self, state: "TrainState") -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), transient=False)
        self.progress.start()
        self.task = self.progress.add_task("train", total=1.0, completed=state.progress, status="")

    def on_step(self, state: "TrainState") -> None:
        if self.progress is not None:
            loss_text = "  ".join(f"{k[5:]} {v:.3f}" for k, v in self.last.items() if k.startswith("loss/"))
            ips = self.last.get("imgs_per_s")
            status = f"step {state.step}" + (f"  {ips:.0f} img/s" if ips else "") + (f"  {loss_text}" if loss_text else "")
            self.progress.update(self.task, completed=state.progress, status=status)

    def on_log(self, state: "TrainState", record: dict[str, Any]) -> None:
        self.last.update(record)

    def on_end(self, state: "TrainState", status: str) -> None:
        if self.progress is not None:
            self.on_step(state)
            self.progress.stop()
            self.progress = None
