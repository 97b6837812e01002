"""The Python API: ``train``, ``resume``, ``load`` and ``resolve``. The CLI and the studio call these and nothing else.

A run is resolved in one place (:func:`resolve`): RunConfig's defaults, then the task's ``run_defaults``,
then a saved config (``config=``), then what the caller gave. ``ganforge.train(task, ...)``,
``ganforge train TASK ...`` and a studio run with the same inputs therefore train the same model.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from . import artifact, importers, tasks
from .config import RunConfig, as_saved, from_dict, read_run_config, save_run_config, to_dict
from .engine import Callback, Trainer, budget_clock, seed_everything
from .engine.callbacks import LossCurves, MetricsLog, ProgressBar, TensorBoard
from .errors import CheckpointError, ConfigError, GanforgeError
from .predict.base import Model

log = logging.getLogger("ganforge")

DEFAULT_STEPS = 2000  # when neither steps nor minutes is given and the task names no default


def run_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(RunConfig))


def resolve(task: str, kwargs: dict[str, Any], config: str | Path | dict | None = None) -> tuple[RunConfig, Any]:
    """The run settings and task options for ``task`` from keyword arguments (fields of RunConfig and of
    the task's Options, sorted by name). ``config``: a run's config.json (or its dict) to start from."""
    cls = tasks.get(task)
    run_names = {f.name for f in run_fields()}
    task_names = {f.name for f in dataclasses.fields(cls.Options)}
    unknown = sorted(set(kwargs) - run_names - task_names)
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} for task {task!r}")
    run: dict[str, Any] = dict(cls.run_defaults)
    options: dict[str, Any] = {}
    if config is not None:
        saved = config if isinstance(config, dict) else read_run_config(config)
        if saved.get("task", task) != task:
            raise ConfigError(f"{config}: a config of task {saved['task']!r}, not {task!r}")
        if not isinstance(config, dict):
            _check_saved(config, cls, saved)
        run.update(saved.get("run", {}))
        options.update(as_saved(cls.Options, saved.get("options", {})))
    given_run = {k: v for k, v in kwargs.items() if k in run_names}
    run.update(given_run)
    options.update({k: v for k, v in kwargs.items() if k in task_names})
    if "minutes" in given_run and given_run["minutes"] is not None and "steps" not in given_run:
        run["steps"] = None  # a time budget alone: the default step count must not cut it short
    elif run.get("steps") is None and run.get("minutes") is None:
        run["steps"] = DEFAULT_STEPS
    run_cfg = from_dict(RunConfig, run, "run")
    return run_cfg, from_dict(cls.Options, options, "options")


def _check_saved(path: str | Path, cls: type, saved: dict[str, Any]) -> tuple[RunConfig, Any]:
    """The run settings and options a saved config.json holds, checked on their own so that an error names the
    file (a value given by the caller is checked later, as given)."""
    try:
        run = from_dict(RunConfig, saved["run"], "run")
        no_length = run.steps is None and run.minutes is None  # the length may come from the caller
        (dataclasses.replace(run, steps=DEFAULT_STEPS) if no_length else run).validate()
        options = from_dict(cls.Options, as_saved(cls.Options, saved["options"]), "options")
        if hasattr(options, "validate"):
            options.validate()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
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
    seed_everything(run.seed)  # identical initial weights on every process and every run
    cls = tasks.get(task)
    return cls(options, seed=run.seed, progress=data_progress, **({"run": run} if cls.takes_run else {}))


def _under_launcher() -> bool:
    return "WORLD_SIZE" in os.environ


def train(task: str = "image", *, out: str | Path | None = None, config: str | Path | dict | None = None,
          overwrite: bool = False, progress: bool = True, callbacks: list[Callback] | None = None,
          dry_run: bool = False, **kwargs: Any) -> Model | dict:
    """Train a GAN for ``task`` and return the trained model.

    Keyword arguments are the fields of :class:`ganforge.config.RunConfig` (steps, minutes, batch,
    precision, devices, ...) and of the task's options (for "image": data, size, arch, loss, ...).
    ``config`` starts from a run's config.json (keywords override it). With ``dry_run`` the config and
    data are validated and the resolved config is returned. ``devices=N`` trains in N processes.
    """
    if out is not None:
        kwargs["out"] = str(out)
    run, options = resolve(task, kwargs, config)
    run.validate()
    run_dir = Path(run.out)
    if not dry_run and (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()) \
            and not overwrite and not _under_launcher():
        raise ConfigError(f"{run_dir} already holds a run: continue it with 'ganforge resume {run_dir}', "
                          "or choose another --out")
    if run.devices > 1 and not _under_launcher() and not dry_run:
        return _launch(task, run, options, overwrite)
    clock = budget_clock(run)
    start = clock()
    job = _build_task(task, run, options)
    resolved = {"task": task, "run": to_dict(run), "options": to_dict(job.options)}
    if dry_run:
        return dict(resolved, data=job.data_description())
    if overwrite and run_dir.exists() and int(os.environ.get("RANK", "0")) == 0:
        _clear_run(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_run_config(run_dir / "config.json", task, run, job.options)  # as trained (a DataFrame is described)
    trainer = Trainer(job, run, run_dir, _callbacks(run_dir, progress, callbacks), config=resolved,
                      setup_s=clock() - start)
    trainer.fit()
    return load(run_dir)


def _launch(task: str, run: RunConfig, options: Any, overwrite: bool) -> Model:
    """Train in ``run.devices`` processes on this machine: torchrun runs ``ganforge train --config``."""
    run_dir = Path(run.out)
    if not isinstance(getattr(options, "data", ""), (str, type(None))):
        raise ConfigError("devices > 1 needs data given as a path or source string (each process reads it)")
    if overwrite and run_dir.exists():
        _clear_run(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_run_config(run_dir / "config.json", task, run, options)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={run.devices}",
           "-m", "ganforge", "train", task, "--config", str(run_dir / "config.json"), "--quiet"]
    log.info("training in %d processes: %s", run.devices, " ".join(cmd))
    result = subprocess.run(cmd)
    if result.returncode != 0:
        raise ConfigError(f"{run_dir}: the {run.devices}-process run failed (exit {result.returncode}); "
                          "its log is above")
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
    try:
        cls = tasks.get(task)
    except ConfigError as e:
        raise ConfigError(f"{run_dir / 'config.json'}: {e}") from None
    run, options = _check_saved(run_dir / "config.json", cls, saved)
    if steps is not None or minutes is not None:
        run.steps, run.minutes = steps, minutes
        save_run_config(run_dir / "config.json", task, run, options)
    if data is not None:
        options.data = data
    clock = budget_clock(run)
    start = clock()
    job = _build_task(task, run, options)
    config = {"task": task, "run": to_dict(run), "options": to_dict(job.options)}
    trainer = Trainer(job, run, run_dir, _callbacks(run_dir, progress, callbacks), config=config,
                      setup_s=clock() - start)
    trainer.fit(resume=True)
    return load(run_dir)


def load(path: str | Path, device: str = "cpu") -> Model:
    """Load a model file or run folder, or another project's weight file (``ganforge.importers``); the task
    written in the file picks the predictor class."""
    file = artifact.resolve(path)
    tensors, meta = importers.convert(file) if importers.is_foreign(file) else artifact.load(file)
    task = meta.get("task")
    if not isinstance(task, str):
        kind = meta.get("kind")
        raise CheckpointError(f"{file}: " + (f"a {kind} file, not a model" if isinstance(kind, str) else
                                             "no task in its metadata; not a ganforge model, or a damaged one"))
    try:
        return tasks.get(task).Predictor.from_tensors(tensors, meta, file, device)
    except GanforgeError as e:
        if str(file) in str(e):
            raise
        raise type(e)(f"{file}: {e}") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError) as e:
        # metadata that parses but does not describe a model this ganforge can rebuild
        text = (str(e).strip().splitlines() or [""])[0][:160]
        raise CheckpointError(f"{file}: cannot rebuild the model from its metadata ({type(e).__name__}: {text})") \
            from None


def _clear_run(run_dir: Path) -> None:
    import shutil

    for name in ("checkpoints", "samples", "tensorboard"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in ("metrics.jsonl", "model.safetensors", "model-best.safetensors", "eval.json", "losses.png",
                 "walk.gif", "config.json"):
        (run_dir / name).unlink(missing_ok=True)


__all__ = ["train", "resume", "load", "resolve"]
