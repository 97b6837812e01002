"""The Python API: ``train``, ``resume`` and ``load``. The CLI and the studio call these and nothing else."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable

from . import tasks
from .config import RunConfig, from_dict, read_run_config, save_run_config, to_dict
from .engine import Callback, Trainer
from .engine.callbacks import LossCurves, MetricsLog, ProgressBar, TensorBoard
from .errors import ConfigError
from .predict.base import Model, load

log = logging.getLogger("ganforge")


def split_options(task: str, kwargs: dict[str, Any]) -> tuple[RunConfig, Any]:
    """Sort keyword arguments into the engine's RunConfig and the task's options, by field name."""
    options_cls = tasks.get(task).Options
    run_fields = {f.name for f in dataclasses.fields(RunConfig)}
    task_fields = {f.name for f in dataclasses.fields(options_cls)}
    unknown = sorted(set(kwargs) - run_fields - task_fields)
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} for task {task!r}")
    run = from_dict(RunConfig, {k: v for k, v in kwargs.items() if k in run_fields}, "run")
    options = from_dict(options_cls, {k: v for k, v in kwargs.items() if k in task_fields}, "options")
    return run, options


def _callbacks(run_dir: Path, progress: bool, extra: list[Callback] | None) -> list[Callback]:
    cbs: list[Callback] = [MetricsLog(run_dir / "metrics.jsonl"), LossCurves(run_dir / "metrics.jsonl",
                                                                            run_dir / "losses.png")]
    tb = TensorBoard.maybe(run_dir / "tensorboard")
    if tb is not None:
        cbs.append(tb)
    cbs.append(ProgressBar(enabled=progress))
    return cbs + list(extra or [])


def _build_task(task: str, run: RunConfig, options: Any, data_progress: Callable | None = None):
    return tasks.get(task)(options, seed=run.seed, progress=data_progress)


def train(task: str = "image", *, out: str | Path = "runs/run", overwrite: bool = False, progress: bool = True,
          callbacks: list[Callback] | None = None, dry_run: bool = False, **kwargs: Any) -> Model | dict:
    """Train a GAN for ``task`` and return the trained model (EMA generator).

    Keyword arguments are the fields of :class:`ganforge.config.RunConfig` (steps, minutes, batch,
    precision, ...) and of the task's options (for "image": data, size, arch, loss, ...).
    With ``dry_run`` the config and data are validated and the resolved config is returned.
    """
    run, options = split_options(task, dict(kwargs, out=str(out)))
    run.validate()
    run_dir = Path(run.out)
    if not dry_run and (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()) \
            and not overwrite:
        raise ConfigError(f"{run_dir} already holds a run: continue it with 'ganforge resume {run_dir}', "
                          "or choose another --out")
    job = _build_task(task, run, options)
    config = {"task": task, "run": to_dict(run), "options": to_dict(job.options)}
    if dry_run:
        return dict(config, data=job.data_description())
    if overwrite and run_dir.exists():
        _clear_run(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_run_config(run_dir / "config.json", task, run, job.options)
    trainer = Trainer(job, run, run_dir, _callbacks(run_dir, progress, callbacks), config=config)
    trainer.fit()
    return load(run_dir)


def resume(run_dir: str | Path, *, steps: int | None = None, minutes: float | None = None, progress: bool = True,
           callbacks: list[Callback] | None = None, data: Any = None) -> Model:
    """Continue a run from its newest checkpoint, optionally with a new step or time budget.

    ``data`` replaces the run's data source: the same data moved elsewhere, or the pandas DataFrame a
    table run was trained on (config.json cannot hold a DataFrame, only its description).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run folder")
    saved = read_run_config(run_dir / "config.json")
    task = saved["task"]
    run = from_dict(RunConfig, saved["run"], "run")
    options = from_dict(tasks.get(task).Options, saved["options"], "options")
    if steps is not None or minutes is not None:
        run.steps, run.minutes = steps, minutes
        save_run_config(run_dir / "config.json", task, run, options)
    if data is not None:
        options.data = data
    job = _build_task(task, run, options)
    config = {"task": task, "run": to_dict(run), "options": to_dict(job.options)}
    trainer = Trainer(job, run, run_dir, _callbacks(run_dir, progress, callbacks), config=config)
    trainer.fit(resume=True)
    return load(run_dir)


def _clear_run(run_dir: Path) -> None:
    import shutil

    for name in ("checkpoints", "samples", "tensorboard"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in ("metrics.jsonl", "model.safetensors", "model-best.safetensors", "eval.json", "losses.png",
                 "walk.gif", "config.json"):
        (run_dir / name).unlink(missing_ok=True)


__all__ = ["train", "resume", "load", "split_options"]
