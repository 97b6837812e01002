"""The studio's database: data sets, runs, jobs and metrics in one SQLite file (WAL mode).

Every write is one transaction (``with store.tx() as db``), so a process killed at any moment leaves
the database as it was before or after a change, never between. The web server and the worker
processes open their own connections; WAL lets readers go on while a worker writes.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,              -- images | pairs | table | series
    source TEXT NOT NULL,            -- what a task's ``data`` option gets: a path or builtin:...
    summary TEXT NOT NULL,           -- JSON: count, sizes, classes, skipped files, preview
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    task TEXT NOT NULL,
    dataset_id INTEGER,
    preset TEXT NOT NULL,
    params TEXT NOT NULL,            -- JSON: keyword arguments for ganforge.api.train
    folder TEXT NOT NULL,            -- the ganforge run folder
    status TEXT NOT NULL,            -- queued | running | stopping | finished | stopped | interrupted | failed
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,              -- train | resume | import (a finished job: an uploaded model)
    budget TEXT,                     -- JSON {"steps": ..., "minutes": ...}: a new budget for a resume
    state TEXT NOT NULL,             -- queued | running | stopping | finished | stopped | interrupted | failed
    pid INTEGER,
    step INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    imgs_per_s REAL,
    eta_s REAL,
    error TEXT,
    created REAL NOT NULL,
    started REAL,
    ended REAL
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_run_step ON metrics(run_id, step);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
"""

ACTIVE = ("queued", "running", "stopping")


class Store:
    """One connection per thread to the studio database."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)  # idempotent; executescript commits by itself

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back on an exception."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def query(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn().execute(sql, args).fetchall()]

    def one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None:
        row = self._conn().execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    # ------------------------------------------------------------------ data sets
    def add_dataset(self, name: str, kind: str, source: str, summary: dict[str, Any]) -> int:
        with self.tx() as db:
            cur = db.execute("INSERT INTO datasets(name, kind, source, summary, created) VALUES (?,?,?,?,?)",
                             (name, kind, source, json.dumps(summary), time.time()))
            return int(cur.lastrowid)

    def dataset(self, dataset_id: int) -> dict[str, Any] | None:
        row = self.one("SELECT * FROM datasets WHERE id=?", (dataset_id,))
        if row:
            row["summary"] = json.loads(row["summary"])
        return row

    def datasets(self) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM datasets ORDER BY id DESC")
        for r in rows:
            r["summary"] = json.loads(r["summary"])
        return rows

    def delete_dataset(self, dataset_id: int) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM datasets WHERE id=?", (dataset_id,))

    # ------------------------------------------------------------------ runs and jobs
    def add_run(self, name: str, task: str, dataset_id: int | None, preset: str, params: dict[str, Any],
                folder_of: Any) -> int:
        """Insert a run and its first (queued) training job in one transaction."""
        with self.tx() as db:
            cur = db.execute("INSERT INTO runs(name, task, dataset_id, preset, params, folder, status, created) "
                             "VALUES (?,?,?,?,?,?,?,?)", (name, task, dataset_id, preset, json.dumps(params), "",
                                                          "queued", time.time()))
            run_id = int(cur.lastrowid)
            db.execute("UPDATE runs SET folder=? WHERE id=?", (str(folder_of(run_id)), run_id))
            db.execute("INSERT INTO jobs(run_id, kind, state, created) VALUES (?,?,?,?)",
                       (run_id, "train", "queued", time.time()))
        return run_id

    def add_imported_run(self, name: str, task: str, params: dict[str, Any], folder_of: Any, place: Any,
                         step: int = 0) -> int:
        """Insert a run whose model was uploaded, not trained: one job of kind ``import``, already finished, so
        the run's status is ``finished`` like any trained run's. ``place(folder)`` puts the model folder in place
        inside the transaction: when it fails nothing is recorded."""
        now = time.time()
        with self.tx() as db:
            cur = db.execute("INSERT INTO runs(name, task, dataset_id, preset, params, folder, status, created) "
                             "VALUES (?,?,?,?,?,?,?,?)", (name, task, None, "imported", json.dumps(params), "",
                                                          "finished", now))
            run_id = int(cur.lastrowid)
            folder = folder_of(run_id)
            db.execute("UPDATE runs SET folder=? WHERE id=?", (str(folder), run_id))
            db.execute("INSERT INTO jobs(run_id, kind, state, step, progress, created, started, ended) "
                       "VALUES (?,?,?,?,?,?,?,?)", (run_id, "import", "finished", int(step), 1.0, now, now, now))
            place(folder)
        return run_id

    def run(self, run_id: int) -> dict[str, Any] | None:
        row = self.one("SELECT * FROM runs WHERE id=?", (run_id,))
        if row:
            row["params"] = json.loads(row["params"])
            row["job"] = self.one("SELECT * FROM jobs WHERE run_id=? ORDER BY id DESC LIMIT 1", (run_id,))
        return row

    def runs(self) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM runs ORDER BY id DESC")
        jobs = {j["run_id"]: j for j in self.query(
            "SELECT * FROM jobs WHERE id IN (SELECT MAX(id) FROM jobs GROUP BY run_id)")}
        for r in rows:
            r["params"] = json.loads(r["params"])
            r["job"] = jobs.get(r["id"])
        return rows

    def enqueue_resume(self, run_id: int, budget: dict[str, Any] | None = None) -> int:
        with self.tx() as db:
            cur = db.execute("INSERT INTO jobs(run_id, kind, budget, state, created) VALUES (?,?,?,?,?)",
                             (run_id, "resume", json.dumps(budget) if budget else None, "queued", time.time()))
            db.execute("UPDATE runs SET status='queued' WHERE id=?", (run_id,))
            return int(cur.lastrowid)

    def delete_run(self, run_id: int) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))

    def job(self, job_id: int) -> dict[str, Any] | None:
        return self.one("SELECT * FROM jobs WHERE id=?", (job_id,))

    def set_job(self, job_id: int, **fields: Any) -> None:
        """Update a job and mirror its state onto its run, in one transaction."""
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.tx() as db:
            db.execute(f"UPDATE jobs SET {cols} WHERE id=?", (*fields.values(), job_id))
            if "state" in fields:
                db.execute("UPDATE runs SET status=? WHERE id=(SELECT run_id FROM jobs WHERE id=?)",
                           (fields["state"], job_id))

    def claim_next(self) -> dict[str, Any] | None:
        """The oldest queued job, marked running (atomically, so two supervisors never take one job)."""
        with self.tx() as db:
            row = db.execute("SELECT * FROM jobs WHERE state='queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state='running', started=? WHERE id=?", (time.time(), row["id"]))
            db.execute("UPDATE runs SET status='running' WHERE id=?", (row["run_id"],))
        job = dict(row)
        job["state"] = "running"
        return job

    # ------------------------------------------------------------------ metrics
    def add_metric(self, run_id: int, record: dict[str, Any], job_id: int, **job_fields: Any) -> None:
        cols = ", ".join(f"{k}=?" for k in job_fields)
        with self.tx() as db:
            db.execute("INSERT INTO metrics(run_id, step, record) VALUES (?,?,?)",
                       (run_id, int(record.get("step", 0)), json.dumps(record)))
            if job_fields:
                db.execute(f"UPDATE jobs SET {cols} WHERE id=?", (*job_fields.values(), job_id))

    def truncate_metrics(self, run_id: int, after_step: int) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM metrics WHERE run_id=? AND step>?", (run_id, after_step))

    def metrics(self, run_id: int, since_rowid: int = 0) -> list[dict[str, Any]]:
        rows = self.query("SELECT rowid, record FROM metrics WHERE run_id=? AND rowid>? ORDER BY rowid",
                          (run_id, since_rowid))
        return [dict(json.loads(r["record"]), _id=r["rowid"]) for r in rows]
