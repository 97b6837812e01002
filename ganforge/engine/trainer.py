"""The one adversarial training loop.

Each step draws a batch, then runs the task's phases (e.g. D, D_reg, G) that are due. The
trainer handles what is the same for every GAN: devices and precision (through Runtime), which
networks receive gradients in a phase, EMA, logging, checkpoints, resume and divergence.
"""
from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from .. import artifact
from ..version import __version__
from ..config import RunConfig
from ..errors import CheckpointError, DivergenceError
from . import checkpoint
from .callbacks import Callback
from .ema import EMA
from .runtime import Runtime
from .state import TrainState
from .task import AdversarialTask, Phase

log = logging.getLogger("ganforge.engine")


class _Diverged(Exception):
    def __init__(self, phase: str, step: int):
        super().__init__(f"non-finite {phase} loss at step {step}")
        self.phase, self.step = phase, step


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The random stream of one step: a function of (seed, rank, step) only, so resume replays it."""
    state = np.random.SeedSequence([seed, rank, step]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def lazy_regularisation(phases: list[Phase]) -> tuple[dict[str, float], set[str]]:
    """StyleGAN2's correction for lazy regularisation, for any task.

    A phase that runs every k > 1 steps on a module that also has a main phase (interval 1) shares
    that module's Adam. Its loss is multiplied by k (it stands for the k steps it skips), and the
    optimizer takes lr * c and betas ** c with c = k / (k + 1), so that Adam's step size and averaging
    horizon per training step stay what they would be without the extra steps. Returns
    ({module: c}, {lazy phase names}); several lazy phases on one module give c = 1 / (1 + sum 1/k).
    """
    ratios: dict[str, float] = {}
    lazy: set[str] = set()
    for module in dict.fromkeys(p.module for p in phases):
        own = [p for p in phases if p.module == module]
        extra = [p for p in own if p.interval > 1]
        if not extra or not any(p.interval == 1 for p in own):
            continue
        ratios[module] = 1.0 / (1.0 + sum(1.0 / p.interval for p in extra))
        lazy.update(p.name for p in extra)
        log.info("lazy regularisation of %s: %s loss x interval; its optimizer's lr x%.4g and betas ** %.4g",
                 module, ", ".join(f"{p.name} (every {p.interval})" for p in extra), ratios[module], ratios[module])
    return ratios, lazy


def budget_clock(run: RunConfig) -> Callable[[], float]:
    """The clock ``--minutes`` is measured on: wall time, or this process's CPU time (fair budgets on a
    shared machine)."""
    return time.process_time if run.budget_clock == "cpu" else time.perf_counter


class Trainer:
    def __init__(self, task: AdversarialTask, run: RunConfig, run_dir: str | Path,
                 callbacks: list[Callback] | None = None, config: dict[str, Any] | None = None,
                 setup_s: float = 0.0):
        """``setup_s``: budget-clock seconds already spent on this run before the trainer (reading the data,
        building the task); ``--minutes`` is a budget for the whole run, so they count."""
        run.validate()
        self.task, self.run, self.run_dir = task, run, Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.extra_callbacks = list(callbacks or [])
        self.config = config or {}
        self.step = 0
        self.elapsed = 0.0
        self.setup_s = float(setup_s)
        self.eval_cost = 0.0    # budget-clock seconds of the last evaluation: the final one must fit the budget
        self.save_cost = 0.0    # ... and of the first checkpoint (the last one and the model file must fit too)
        self.step_cost = 0.0    # ... and of the last step (the step that starts just under the budget ends over it)
        self._clock = budget_clock(run)
        self.lr_scale = 1.0
        self.divergences = 0
        self.last_record: dict[str, Any] = {}
        self.best: dict[str, Any] | None = None  # {"metric", "value", "step", "lower_is_better"}
        self.evaluated_step = -1  # the step of the last evaluation (kept in checkpoints)
        self.status = "new"
        self.stopped_early: dict[str, Any] | None = None   # {"step", "reason"} when the task ended training
        self.state = TrainState(self)   # what callbacks see
        self._stop_asked = False        # set by SIGTERM / Ctrl-C on this process
        self._stopping = False          # a stop was asked on some process: every rank stops at this step

    # ----------------------------------------------------------------- progress
    def progress_done(self) -> float:
        parts = []
        if self.run.steps:
            parts.append(self.step / self.run.steps)
        if self.run.minutes:
            parts.append(self._elapsed_now() / (self.run.minutes * 60))
        return min(1.0, max(parts))

    def _elapsed_now(self) -> float:
        return self.elapsed + (self._clock() - self._t0 if getattr(self, "_t0", None) else 0.0)

    def _interrupted(self) -> bool:
        """True when a stop was asked for here or on any process (all ranks stop at the same step)."""
        self._stopping = self.rt.any_true(self._stop_asked) if self.world > 1 else self._stop_asked
        return self._stopping

    def _done(self) -> bool:
        if self.run.steps is not None and self.step >= self.run.steps:
            return True
        if self.run.minutes is not None:
            # the budget covers the whole run: stop early enough for the last step, the final evaluation, the
            # last checkpoint and the model file to fit in it; 1% of it is kept for what comes after (closing
            # plots, loading the model file), so that --minutes is a ceiling rather than a target
            budget = self.run.minutes * 60
            tail = self.step_cost + self.eval_cost + 2 * self.save_cost + 0.01 * budget
            over = self._elapsed_now() + tail >= budget
            if self.rt.any_true(over) if self.world > 1 else over:
                return True
        reason = self.task.stop_reason()
        if self.world > 1 and self.rt.any_true(bool(reason)):  # rank 0 alone may know (e.g. its evaluations)
            reason = reason or "stopped by another process"
        if reason and self.stopped_early is None:
            self.stopped_early = {"step": self.step, "reason": reason}
            log.info("stopping at step %d: %s", self.step, reason)
        return bool(reason)

    # ----------------------------------------------------------------- setup
    def _setup(self) -> None:
        self.rt = rt = Runtime(self.run)
        self.rank, self.world, self.device = rt.rank, rt.world, rt.device
        task = self.task
        lrs = task.learning_rates(self.run.lr_g, self.run.lr_d)
        self.lazy, self.lazy_phases = lazy_regularisation(task.phases)
        self.raw: dict[str, nn.Module] = {}
        self.nets: dict[str, nn.Module] = {}
        self.opts: dict[str, torch.optim.Optimizer] = {}
        self.base_lr: dict[str, float] = {}
        for name, module in task.modules.items():
            module = module.to(rt.device)
            if self.run.channels_last:
                module = module.to(memory_format=torch.channels_last)
            self.raw[name] = module
            c = self.lazy.get(name, 1.0)   # lazy regularisation: fewer, larger steps share this optimizer
            self.opts[name] = torch.optim.Adam(module.parameters(), lr=lrs[name] * c,
                                               betas=(self.run.beta1 ** c, self.run.beta2 ** c))
            net = rt.wrap(module)
            self.nets[name] = torch.compile(net) if self.run.compile else net
            self.base_lr[name] = lrs[name] * c
        self.ema = None
        if task.ema_module:
            self.ema = EMA(self.raw[task.ema_module], self.run.ema_kimg, self.run.ema_rampup)
            self.ema.shadow.to(self.device)
        self.callbacks: list[Callback] = []
        if self.rank == 0:
            self.callbacks = self.extra_callbacks + task.callbacks()

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "elapsed": self._elapsed_now(), "lr_scale": self.lr_scale,
            "divergences": self.divergences, "ganforge_version": __version__, "best": self.best or {},
            "evaluated_step": self.evaluated_step,
            "modules": {n: m.state_dict() for n, m in self.raw.items()},
            "optimizers": {n: o.state_dict() for n, o in self.opts.items()},
            "ema": self.ema.state_dict() if self.ema else {},
            "task": self.task.state_dict(), "rng": checkpoint.rng_state(),
            "data_fingerprint": self.task.data_description().get("fingerprint", ""),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            for n, m in self.raw.items():
                m.load_state_dict(state["modules"][n])
            for n, o in self.opts.items():
                o.load_state_dict(state["optimizers"][n])
            if self.ema:
                self.ema.load_state_dict(state["ema"])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            text = (str(e).strip().splitlines() or [repr(e)])[0][:160]
            raise CheckpointError(f"checkpoint does not match this run's networks ({text})") from None
        try:
            self.task.load_state_dict(state["task"])
            self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
            self.lr_scale, self.divergences = float(state["lr_scale"]), int(state["divergences"])
            self.best = dict(state["best"]) if state.get("best") else None
            self.evaluated_step = int(state.get("evaluated_step", -1))
            self._apply_lr()
            checkpoint.set_rng_state(state["rng"])
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as e:
            text = (str(e).strip().splitlines() or [repr(e)])[0][:160]
            raise CheckpointError(f"checkpoint state is damaged ({type(e).__name__}: {text})") from None

    def _apply_lr(self) -> None:
        for n, o in self.opts.items():
            for g in o.param_groups:
                g["lr"] = self.base_lr[n] * self.lr_scale

    def save_checkpoint(self) -> Path | None:
        path = None
        if self.rank == 0:
            path = checkpoint.save(self.ckpt_dir, self.step, self.state_dict(), keep=self.run.keep_checkpoints)
        self.rt.barrier()
        return path

    def _restore_latest(self) -> None:
        """Restore the newest checkpoint that reads and fits; newer damaged ones are skipped with a warning."""
        fp = self.task.data_description().get("fingerprint", "")

        def restore(state: dict[str, Any]) -> None:
            if state.get("data_fingerprint") and fp and state["data_fingerprint"] != fp:
                error = CheckpointError(f"{self.run_dir}: the data changed since this run started "
                                       f"(fingerprint {state['data_fingerprint']} then, {fp} now)")
                error.fatal = True
                raise error
            self.load_state_dict(state)

        path, _, skipped = checkpoint.newest_readable(self.ckpt_dir, restore)
        if skipped:
            log.warning("skipped %s (%s); resuming from %s", ", ".join(p.name for p, _ in skipped),
                        "; ".join(why for _, why in skipped), path.name)

    # ----------------------------------------------------------------- the loop
    def fit(self, resume: bool = False) -> str:
        """Train until the step or time budget is spent; returns "finished" or "interrupted"."""
        start = self._clock()
        self._setup()
        if resume:
            self._restore_latest()
            log.info("resumed %s at step %d", self.run_dir, self.step)
        if not resume:
            saving = self._clock()
            self.save_checkpoint()  # step 0: a restore point for divergence, and resumable at once
            self.save_cost = self._clock() - saving
        # reading the data, building the task and the networks are part of the run's time budget
        self.elapsed += self.setup_s + (self._clock() - start)
        for cb in self.callbacks:
            cb.on_start(self.state)
        self.status = "running"
        with _interrupts_at_step_boundaries(self):
            try:
                self._loop()
                self.status = "interrupted" if self._stopping else "finished"
                if self._stopping:
                    log.warning("interrupted at step %d: saving a checkpoint", self.step)
            except KeyboardInterrupt:
                self.status = "interrupted"
                log.warning("interrupted at step %d: saving a checkpoint", self.step)
            except BaseException:
                self.status = "failed"
                for cb in self.callbacks:
                    cb.on_end(self.state, self.status)
                raise
            self.elapsed = self._elapsed_now()
            self._t0 = None
            self.save_checkpoint()
            if self.status == "finished" and self.evaluated_step != self.step:
                # the final evaluation, once: a finished run resumed with the same budget must not log it again
                self._eval()
                self.save_checkpoint()
            self.export()
            for cb in self.callbacks:
                cb.on_end(self.state, self.status)
        self.rt.barrier()
        self.rt.close()
        return self.status

    def _loop(self) -> None:
        run, task = self.run, self.task
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        t_log, step_log = time.perf_counter(), self.step
        self._t0 = self._clock()
        while not self._interrupted() and not self._done():
            gen = step_generator(run.seed, self.rank, self.step)
            step_start = self._clock()
            try:
                batch = task.sample_batch(run.batch, gen, self.device)
                for phase in task.phases:
                    if self.step % phase.interval:
                        continue
                    scalars = self._run_phase(phase, batch, gen)
                    for k, v in scalars.items():
                        sums[k] = sums.get(k, 0.0) + v
                        counts[k] = counts.get(k, 0) + 1
            except _Diverged as d:
                self._recover(d)
                sums, counts = {}, {}
                t_log, step_log = time.perf_counter(), self.step
                continue
            self.step += 1
            self.step_cost = self._clock() - step_start
            if self.ema is not None and self.step % self._ema_interval() == 0:
                images = self.step * run.batch * self.world
                self.ema.update(self.raw[task.ema_module], images, run.batch * self.world)
            for cb in self.callbacks:
                cb.on_step(self.state)
            if self.step % run.log_every == 0 or self._done():
                now = time.perf_counter()
                record = {"step": self.step, "kimg": round(self.step * run.batch * self.world / 1000, 3),
                          "elapsed_s": round(self._elapsed_now(), 2),
                          "imgs_per_s": round((self.step - step_log) * run.batch * self.world / max(now - t_log, 1e-9), 1),
                          "lr_scale": self.lr_scale}
                record.update({k: sums[k] / counts[k] for k in sums})
                self.last_record = record
                for cb in self.callbacks:
                    cb.on_log(self.state, record)
                sums, counts = {}, {}
                t_log, step_log = time.perf_counter(), self.step
            if self.step % run.checkpoint_every == 0 and not self._done():
                self.save_checkpoint()
            if self.step % run.eval_every == 0 and not self._done():
                start = self._clock()
                self._eval()
                self.eval_cost = self._clock() - start

    def _ema_interval(self) -> int:
        return next((p.interval for p in self.task.phases if p.module == self.task.ema_module), 1)

    def _run_phase(self, phase, batch: Any, gen: torch.Generator) -> dict[str, float]:
        for name, module in self.raw.items():
            module.requires_grad_(name == phase.module)
        opt = self.opts[phase.module]
        with contextlib.ExitStack() as stack:
            for name, net in self.nets.items():
                if name != phase.module:  # a forward through another net must not start its all-reduce
                    stack.enter_context(self.rt.no_sync(self._ddp(name)))
            with self.rt.autocast():
                loss, scalars = self.task.loss(phase.name, batch, self.nets, gen)
            if phase.name in self.lazy_phases:
                loss = loss * phase.interval   # a lazy regulariser stands for the `interval` steps it skips
            if self.rt.any_true(not bool(torch.isfinite(loss.detach()).all())):
                raise _Diverged(phase.name, self.step)
            opt.zero_grad(set_to_none=True)
            self.rt.backward(loss)
        self.rt.step(opt)
        out = {f"loss/{phase.name}": float(loss.detach())}
        out.update({k: float(v) for k, v in scalars.items()})
        return out

    def _ddp(self, name: str) -> nn.Module:
        net = self.nets[name]
        return getattr(net, "_orig_mod", net)  # under torch.compile the DDP module sits inside

    def _recover(self, d: _Diverged) -> None:
        self.divergences += 1
        if self.divergences > 1:
            raise DivergenceError(
                f"training diverged again ({d}) after restoring a checkpoint and halving the learning rate; "
                "try --loss hinge, a lower learning rate, or --precision fp32")
        log.warning("%s: restoring the last checkpoint and halving the learning rate", d)
        divergences, elapsed = self.divergences, self._elapsed_now()
        self._restore_latest()
        self.divergences, self.elapsed = divergences, elapsed
        self.lr_scale *= 0.5
        self._apply_lr()
        self._t0 = self._clock()
        for cb in self.callbacks:
            cb.on_restore(self.state)

    def log_record(self, record: dict[str, Any]) -> None:
        """Send a record (e.g. evaluation scores) to every callback, as the loop does with losses."""
        record = {"step": self.step, **record}
        for cb in self.callbacks:
            cb.on_log(self.state, record)

    def consider_best(self, metric: str, value: float, lower_is_better: bool = True) -> bool:
        """Keep ``checkpoints/best.pt`` and ``model-best.safetensors`` for the best ``metric`` so far."""
        if self.rank != 0 or not math.isfinite(value):
            return False
        best = self.best
        if best is not None and best["metric"] == metric and \
                not (value < best["value"] if lower_is_better else value > best["value"]):
            return False
        self.best = {"metric": metric, "value": float(value), "step": self.step, "lower_is_better": lower_is_better}
        checkpoint.save_as(self.ckpt_dir / checkpoint.BEST, self.state_dict())
        self.export(self.run_dir / artifact.BEST_MODEL_FILE)
        log.info("best %s so far: %.5g at step %d", metric, value, self.step)
        return True

    def _eval(self) -> None:
        for cb in self.callbacks:
            cb.on_eval(self.state, self.step)
        self.evaluated_step = self.step
        self.rt.barrier()

    def export(self, path: Path | None = None) -> Path | None:
        """Write the model file (rank 0): task tensors + config, data and metrics metadata."""
        if self.rank != 0:
            return None
        tensors, extra = self.task.export(self.raw, self.ema.shadow if self.ema else None)
        meta = {"task": self.task.name, "ganforge_version": __version__, "config": self.config,
                "data": self.task.data_description(), "step": self.step,
                "elapsed_s": round(self._elapsed_now(), 2), "metrics": self.last_record, "status": self.status,
                "best": self.best, "stopped_early": self.stopped_early, **extra}
        return artifact.save(path or self.run_dir / artifact.MODEL_FILE, tensors, meta)


@contextlib.contextmanager
def _interrupts_at_step_boundaries(trainer: Trainer):
    """SIGTERM and Ctrl-C ask the loop to stop at the next step boundary (checkpoint, model file).

    Raising from the handler could land anywhere: inside an optimizer step, or half-way through an
    import or a file write. A second Ctrl-C still raises KeyboardInterrupt at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if trainer._stop_asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not trainer._stop_asked:
            log.warning("%s: stopping at the end of this step", signal.Signals(signum).name)
        trainer._stop_asked = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
