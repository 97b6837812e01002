"""One training job in its own process: ``python -m ganforge.studio.worker --db DB --job ID``.

The job trains through the public API (``ganforge.api.train`` / ``resume``) into a normal run folder;
a callback copies each log record into the studio database. SIGTERM stops training with a checkpoint
(the engine's own handling), and the job ends as ``stopped`` (asked for) or ``interrupted``.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..engine.callbacks import Callback
from .store import Store

log = logging.getLogger("ganforge.studio.worker")


class StudioProgress(Callback):
    """Writes every log record, the step, speed and ETA of the job into the studio database."""

    def __init__(self, store: Store, run_id: int, job_id: int):
        self.store, self.run_id, self.job_id = store, run_id, job_id

    def on_start(self, state) -> None:
        self.store.truncate_metrics(self.run_id, state.step)  # as metrics.jsonl does on resume
        self.store.set_job(self.job_id, step=state.step)

    def on_restore(self, state) -> None:
        self.store.truncate_metrics(self.run_id, state.step)

    def on_log(self, state, record: dict[str, Any]) -> None:
        done = state.progress
        elapsed = state.elapsed
        eta = elapsed * (1 - done) / done if done > 0 else None
        fields: dict[str, Any] = {"step": state.step, "progress": round(done, 4)}
        if "imgs_per_s" in record:
            fields["imgs_per_s"] = record["imgs_per_s"]
        if eta is not None:
            fields["eta_s"] = round(eta, 1)
        self.store.add_metric(self.run_id, record, self.job_id, **fields)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "step" and isinstance(v, float)
                          and (k.startswith(("loss/", "eval/")) or k == "imgs_per_s"))
        log.info("step %d  %s", record.get("step", state.step), shown)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_job(store: Store, job_id: int) -> str:
    from .. import api

    job = store.job(job_id)
    if job is None or job["state"] in ("stopped", "stopping"):  # stopped before this process got going
        return "stopped"
    run = store.run(job["run_id"])
    folder = Path(run["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    store.set_job(job_id, pid=_pid())  # the supervisor marked it running (a stop may have come since)
    cb = StudioProgress(store, run["id"], job_id)
    log.info("%s run %d (%s) in %s", "resuming" if job["kind"] == "resume" else "training", run["id"], run["task"],
             folder)
    has_checkpoint = (folder / "checkpoints").is_dir() and any((folder / "checkpoints").glob("*.pt"))
    status = "interrupted"
    try:
        if job["kind"] == "resume" and has_checkpoint and (folder / "config.json").exists():
            budget = json.loads(job["budget"]) if job.get("budget") else {}
            model = api.resume(folder, progress=False, callbacks=[cb], **budget)
        else:  # a first run, or a run killed before its first checkpoint: start it afresh
            model = api.train(run["task"], out=folder, overwrite=True, progress=False, callbacks=[cb],
                              **run["params"])
        status = model.meta.get("status", "finished")
    except KeyboardInterrupt:
        status = "interrupted"
    if status == "interrupted" and (store.job(job_id) or {}).get("state") == "stopping":
        status = "stopped"
    return status


def _pid() -> int:
    import os
    return os.getpid()


def _preload() -> None:
    """Import what callbacks import lazily (plots, animations) now: a SIGTERM is turned into
    KeyboardInterrupt, and one landing in the middle of an import leaves that module half made."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    try:
        import imageio.v3  # noqa: F401
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", required=True)
    p.add_argument("--job", type=int, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _preload()
    signal.signal(signal.SIGTERM, _raise_interrupt)  # before training starts too (the engine takes over later)
    store = Store(args.db)
    try:
        status = run_job(store, args.job)
    except KeyboardInterrupt:
        state = store.job(args.job) or {}
        status = "stopped" if state.get("state") == "stopping" else "interrupted"
    except Exception as e:
        from ..errors import GanforgeError
        message = str(e) if isinstance(e, GanforgeError) else f"{type(e).__name__}: {e}"
        log.error("job failed: %s", message)
        if not isinstance(e, GanforgeError):
            traceback.print_exc(file=sys.stdout)
        store.set_job(args.job, state="failed", error=message[:2000], ended=time.time())
        return 1
    log.info("job %s", status)
    store.set_job(args.job, state=status, ended=time.time(), **({"progress": 1.0} if status == "finished" else {}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
