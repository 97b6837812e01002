"""The job queue's supervisor: starts worker processes for queued jobs, at most ``workers`` at once.

The queue lives in the database, so it survives restarts. At start, jobs left ``running`` by a
server that died are marked ``interrupted`` (their worker got SIGTERM when the server died, through
PR_SET_PDEATHSIG, and saved a checkpoint); the user resumes them from that checkpoint.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .store import Store

log = logging.getLogger("ganforge.studio")

LOG_FILE = "studio.log"  # the worker's stdout and stderr, inside the run folder
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def is_worker(pid: int, job_id: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"ganforge.studio.worker" in cmd and str(job_id).encode() in cmd


class Supervisor:
    """A thread that moves jobs from ``queued`` to a worker process and notices when workers end."""

    def __init__(self, store: Store, workers: int = 1, poll_s: float = 0.3):
        self.store, self.workers, self.poll_s = store, max(1, int(workers)), poll_s
        self.procs: dict[int, subprocess.Popen] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def recover(self) -> list[int]:
        """Mark jobs of a previous server that are still 'running' as interrupted; return their ids."""
        found = []
        for job in self.store.query("SELECT * FROM jobs WHERE state IN ('running', 'stopping')"):
            pid = job["pid"]
            if pid and pid_alive(pid) and is_worker(pid, job["id"]):
                os.kill(pid, signal.SIGTERM)  # its server is gone; let it checkpoint and leave
                deadline = time.time() + 60
                while pid_alive(pid) and time.time() < deadline:
                    time.sleep(0.2)
                if pid_alive(pid):  # still training after a minute: it must not log beside its resumed job
                    log.warning("job %d: process %d did not stop in 60 s; killing it (its last checkpoint stands)",
                                job["id"], pid)
                    os.kill(pid, signal.SIGKILL)
                    while pid_alive(pid):
                        time.sleep(0.1)
            job = self.store.job(job["id"])
            if job and job["state"] in ("running", "stopping"):  # the worker did not get to write its end
                state = "stopped" if job["state"] == "stopping" else "interrupted"
                self.store.set_job(job["id"], state=state, ended=time.time())
            found.append(job["id"])
        return found

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="ganforge-studio-jobs", daemon=True)
        self._thread.start()

    def shutdown(self, timeout: float = 60) -> None:
        """Stop taking jobs; SIGTERM running workers (they checkpoint) and wait for them."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            procs = dict(self.procs)
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + timeout
        for job_id, p in procs.items():
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            self._finish(job_id, p)

    # ------------------------------------------------------------------ control
    def stop(self, job_id: int) -> bool:
        """Ask a job to stop: a queued one is dropped, a running one gets SIGTERM and checkpoints."""
        job = self.store.job(job_id)
        if job is None:
            return False
        if job["state"] == "queued":
            self.store.set_job(job_id, state="stopped", ended=time.time())
            return True
        if job["state"] != "running":
            return False
        self.store.set_job(job_id, state="stopping")
        with self._lock:
            p = self.procs.get(job_id)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
        elif job["pid"] and pid_alive(job["pid"]) and is_worker(job["pid"], job_id):
            os.kill(job["pid"], signal.SIGTERM)
        elif p is None:  # no process behind it any more: nothing to wait for
            self.store.set_job(job_id, state="stopped", ended=time.time())
        return True

    def kill_and_wait(self, job_id: int, timeout: float = 60) -> None:
        """Stop a job and wait until its process has ended (before deleting its run folder)."""
        self.stop(job_id)
        with self._lock:
            p = self.procs.get(job_id)
        if p is not None:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    # ------------------------------------------------------------------ the loop
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # keep supervising whatever one tick did
                log.exception("job supervisor")
            self._stop.wait(self.poll_s)

    def _tick(self) -> None:
        with self._lock:
            ended = [(j, p) for j, p in self.procs.items() if p.poll() is not None]
            for j, _ in ended:
                del self.procs[j]
        for job_id, p in ended:
            self._finish(job_id, p)
        while len(self.procs) < self.workers and not self._stop.is_set():
            job = self.store.claim_next()
            if job is None:
                break
            self._launch(job)

    def _launch(self, job: dict) -> None:
        run = self.store.run(job["run_id"])
        if run is None:
            self.store.set_job(job["id"], state="failed", error="run was deleted")
            return
        folder = Path(run["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])  # this very ganforge, also from a checkout
        env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                              if p])
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // self.workers)))
        logf = open(folder / LOG_FILE, "ab")
        logf.write(f"--- job {job['id']} ({job['kind']}) ---\n".encode())
        logf.flush()
        cmd = [sys.executable, "-m", "ganforge.studio.worker", "--db", str(self.store.path), "--job", str(job["id"])]
        # its own session: a Ctrl-C in the server's terminal reaches the server only, which then stops each
        # worker once (SIGTERM) instead of both signals interrupting the worker's checkpoint
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True,
                             preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        logf.close()
        self.store.set_job(job["id"], pid=p.pid)
        with self._lock:
            self.procs[job["id"]] = p
        log.info("job %d (run %d, %s) started as process %d", job["id"], job["run_id"], job["kind"], p.pid)

    def _finish(self, job_id: int, p: subprocess.Popen) -> None:
        job = self.store.job(job_id)
        if job is None or job["state"] not in ("running", "stopping", "queued"):
            return  # the worker wrote its own end (or the run was deleted)
        state = "stopped" if job["state"] == "stopping" else ("interrupted" if p.returncode in (-15, -2) else "failed")
        error = None if state != "failed" else f"worker exited with code {p.returncode} (see the log)"
        self.store.set_job(job_id, state=state, error=error, ended=time.time())
