"""The studio's database and the supervisor's recovery, without a web server."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from ganforge.studio.jobs import Supervisor
from ganforge.studio.store import Store


def _store(tmp_path) -> tuple[Store, int, int]:
    store = Store(tmp_path / "studio.db")
    run_id = store.add_run("r", "image", None, "fast", {"steps": 5}, lambda i: tmp_path / f"run-{i}")
    job_id = store.run(run_id)["job"]["id"]
    return store, run_id, job_id


def test_wal_mode_and_rollback(tmp_path):
    store, run_id, job_id = _store(tmp_path)
    assert sqlite3.connect(tmp_path / "studio.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(RuntimeError):
        with store.tx() as db:
            db.execute("UPDATE jobs SET state='running' WHERE id=?", (job_id,))
            raise RuntimeError("killed half way")
    assert store.job(job_id)["state"] == "queued"  # nothing of the failed transaction is left
    store.set_job(job_id, state="running")
    assert store.run(run_id)["status"] == "running"  # the run mirrors its job in the same transaction


def test_claim_is_atomic_and_in_order(tmp_path):
    store, run_id, job_id = _store(tmp_path)
    second = store.enqueue_resume(run_id, {"steps": 10, "minutes": None})
    first = store.claim_next()
    assert first["id"] == job_id and store.job(job_id)["state"] == "running"
    assert store.claim_next()["id"] == second
    assert store.claim_next() is None


def test_recover_marks_dead_running_jobs_interrupted(tmp_path):
    store, run_id, job_id = _store(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.set_job(job_id, state="running", pid=dead.pid)
    stopping = store.enqueue_resume(run_id)
    store.set_job(stopping, state="stopping", pid=dead.pid)
    queued = store.enqueue_resume(run_id)
    sup = Supervisor(store)
    assert sorted(sup.recover()) == [job_id, stopping]
    assert store.job(job_id)["state"] == "interrupted"
    assert store.job(stopping)["state"] == "stopped"
    assert store.job(queued)["state"] == "queued"  # waits for a worker as before


def test_stop_a_queued_job_and_a_job_without_process(tmp_path):
    store, run_id, job_id = _store(tmp_path)
    sup = Supervisor(store)
    assert sup.stop(job_id) and store.job(job_id)["state"] == "stopped"
    other = store.enqueue_resume(run_id)
    store.set_job(other, state="running", pid=None)
    assert sup.stop(other) and store.job(other)["state"] == "stopped"
    assert not sup.stop(other)  # nothing to stop any more
    assert not sup.stop(12345)


def test_metrics_truncate_on_resume(tmp_path):
    store, run_id, job_id = _store(tmp_path)
    for step in (5, 10, 15, 20):
        store.add_metric(run_id, {"step": step, "loss/G": 1.0}, job_id, step=step)
    assert store.job(job_id)["step"] == 20
    store.truncate_metrics(run_id, 10)
    assert [m["step"] for m in store.metrics(run_id)] == [5, 10]
    last = store.metrics(run_id)[0]["_id"]
    assert [m["step"] for m in store.metrics(run_id, since_rowid=last)] == [10]
