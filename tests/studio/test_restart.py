"""A real server in a subprocess: stop and resume a job, 20 clients at once while it trains, kill the
server (SIGKILL) during the job, start it again, see the job interrupted, resume it and let it finish."""
from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import httpx
import pytest

from .conftest import TINY, StudioServer, wait_for

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def _run(c: httpx.Client, run_id: int) -> dict:
    r = c.get(f"/api/runs/{run_id}")
    r.raise_for_status()
    return r.json()


def test_stop_resume_kill_restart_resume_finish(tmp_path):
    ws = tmp_path / "ws"
    server = StudioServer(ws).start()
    try:
        c = httpx.Client(base_url=server.url, timeout=30)
        ds = c.post("/api/datasets/builtin", json={"source": "builtin:digits"}).json()
        opts = dict(TINY, steps=5000, eval_every=20)
        run_id = c.post("/api/runs", json={"task": "image", "dataset_id": ds["id"], "options": opts}).json()["id"]
        wait_for(lambda: (_run(c, run_id)["job"]["step"] or 0) >= 10, 90, what="10 steps")

        # stop: SIGTERM to the worker, which checkpoints; then resume from that checkpoint
        assert c.post(f"/api/runs/{run_id}/stop").status_code == 200
        wait_for(lambda: _run(c, run_id)["status"] == "stopped", 60, what="stopped")
        stopped_at = _run(c, run_id)["job"]["step"]
        assert c.post(f"/api/runs/{run_id}/stop").status_code == 409
        assert c.post(f"/api/runs/{run_id}/resume").status_code == 200
        wait_for(lambda: (_run(c, run_id)["job"]["step"] or 0) > stopped_at, 90, what="resumed steps")
        # 20 clients at once while the job trains
        hammer(server.url, run_id, seconds=5.0)
        assert _run(c, run_id)["job"]["kind"] == "resume"
        assert c.post(f"/api/runs/{run_id}/resume").status_code == 409  # already running
        pid = sqlite3.connect(ws / "studio.db").execute(
            "SELECT pid FROM jobs WHERE run_id=? ORDER BY id DESC LIMIT 1", (run_id,)).fetchone()[0]
        assert _alive(pid)

        # SIGKILL the server mid-job: the worker is told (SIGTERM, parent-death signal), checkpoints, ends
        server.stop(signal.SIGKILL)
        wait_for(lambda: not _alive(pid), 60, what="worker to end after the server died")
    finally:
        server.stop()

    server = StudioServer(ws, port=server.port).start()
    try:
        c = httpx.Client(base_url=server.url, timeout=30)
        run = _run(c, run_id)
        assert run["status"] == "interrupted", run
        killed_at = run["job"]["step"]
        assert killed_at > stopped_at
        target = killed_at + 10
        assert c.post(f"/api/runs/{run_id}/resume", json={"steps": target}).status_code == 200
        wait_for(lambda: _run(c, run_id)["status"] in ("finished", "failed"), 120, what="finished")
        run = _run(c, run_id)
        assert run["status"] == "finished", c.get(f"/api/runs/{run_id}/log?lines=40").json()
        assert run["job"]["step"] == target and run["has_model"]
        steps = [m["step"] for m in c.get(f"/api/runs/{run_id}/metrics").json()]
        assert steps == sorted(steps) and len(steps) == len(set(steps)) and steps[-1] == target
        assert steps[0] == 5 and all(b - a == 5 for a, b in zip(steps, steps[1:]))  # nothing lost, no duplicates
        jobs = sqlite3.connect(ws / "studio.db").execute(
            "SELECT kind, state FROM jobs WHERE run_id=? ORDER BY id", (run_id,)).fetchall()
        assert jobs == [("train", "stopped"), ("resume", "interrupted"), ("resume", "finished")]
        integrity = sqlite3.connect(ws / "studio.db").execute("PRAGMA integrity_check").fetchone()[0]
        assert integrity == "ok"
    finally:
        server.stop()


def hammer(url: str, run_id: int, seconds: float = 5.0, clients: int = 20) -> None:
    """``clients`` threads poll the run, the run list and health and fetch the latest grid for ``seconds``
    while one live view listens to server-sent events: no errors, no stalled event loop."""
    errors: list[str] = []
    counts = [0] * clients
    slowest = [0.0] * clients
    events: list[int] = []
    stop_at = time.time() + seconds

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as h:
            while time.time() < stop_at:
                for path in (f"/api/runs/{run_id}", "/api/runs", "/api/health"):
                    t0 = time.perf_counter()
                    try:
                        r = h.get(path)
                        if r.status_code != 200:
                            errors.append(f"{path}: {r.status_code}")
                        elif path == f"/api/runs/{run_id}" and r.json()["sample"]:
                            img = h.get(f"/api/runs/{run_id}/files/{r.json()['sample']}")
                            if img.status_code != 200 or img.content[:4] != b"\x89PNG":
                                errors.append(f"image: {img.status_code}")
                            counts[i] += 1
                    except httpx.HTTPError as e:
                        errors.append(f"{path}: {e!r}")
                    slowest[i] = max(slowest[i], time.perf_counter() - t0)
                    counts[i] += 1

    def listener() -> None:
        with httpx.Client(base_url=url, timeout=10) as h, h.stream("GET", f"/api/runs/{run_id}/events") as r:
            for line in r.iter_lines():
                if line.startswith("event: update"):
                    events.append(1)
                if time.time() > stop_at:
                    return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    threads.append(threading.Thread(target=listener))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[:5]
    assert min(counts) >= 5, counts
    assert len(events) >= 2  # the event stream kept coming
    assert max(slowest) < 5.0, max(slowest)  # the event loop never stalled
