"""Studio soak: two trainings, N clients for D minutes, the server killed with SIGKILL twice and restarted.

A real server (``python -m ganforge studio --workers 2``) on 127.0.0.1 trains a tiny image run and a tiny table
run while N client threads (httpx) use the API: run lists and details, metrics (``?since=``), data sets, health,
and now and then a new data set (a small CSV upload) or a new run (cancelled while queued, so that the two
trainings keep the workers). At 1/3 and 2/3 of the time the server
is killed with SIGKILL, started again at once, and the interrupted trainings are resumed.

Figures: requests served, errors (connection errors while the server is down or coming back are counted apart),
latency p50 / p95 / max. Afterwards, against the database (``PRAGMA integrity_check`` first):
- every data set and run a client saw acknowledged (201) is there exactly once, and nothing else was added;
- metric rows: no (run, step, kind) twice; every row a client saw is still there, except rows after the
  checkpoint a resumed job went back to (they are re-trained and logged again: counted as ``rolled_back``).

    python benchmarks/studio_soak.py [--clients 50] [--minutes 10] [--port 8793]

Appends to benchmarks/results_studio.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import ROOT, append_result, machine_facts  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_studio.json"
HOST = "127.0.0.1"  # loopback only


class Server:
    def __init__(self, workspace: Path, port: int):
        self.workspace, self.port, self.proc = workspace, port, None
        self.url = f"http://{HOST}:{port}"
        self.log_path = workspace.parent / "server.log"

    def start(self, timeout: float = 120) -> float:
        import httpx
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        t0 = time.time()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "ganforge", "studio", "--workspace",
                                          str(self.workspace), "--host", HOST, "--port", str(self.port),
                                          "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT)
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"the studio exited: see {self.log_path}")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return time.time() - t0
            except httpx.HTTPError:
                time.sleep(0.1)
        self.proc.kill()
        raise SystemExit(f"the studio did not start: see {self.log_path}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def people_csv(seed: int, n: int) -> bytes:
    rng = np.random.default_rng(seed)
    rows = [f"{rng.integers(18, 80)},{rng.choice(['F', 'M'])},{rng.normal(50, 10):.2f}" for _ in range(n)]
    return ("age,sex,income\n" + "\n".join(rows) + "\n").encode()


class Soak:
    """The clients and what they saw acknowledged."""

    def __init__(self, url: str, runs: list[int], dataset_id: int, stop_at: float):
        self.url, self.runs, self.dataset_id, self.stop_at = url, runs, dataset_id, stop_at
        self.lock = threading.Lock()
        self.latency: list[float] = []
        self.served = 0
        self.errors: list[str] = []
        self.restart_errors = 0
        self.down: list[list[float]] = []  # [killed at, up again at (inf while down)]
        self.datasets: dict[int, str] = {}  # acknowledged uploads: id -> name
        self.new_runs: dict[int, str] = {}  # acknowledged runs: id -> name
        self.metrics: dict[tuple[int, int], tuple[int, str]] = {}  # (run, rowid) -> (step, kind)

    def in_restart(self, t0: float, t1: float) -> bool:
        # a request that overlapped a down window (plus 2 s for connections the dead server left behind)
        return any(t0 <= up + 2 and t1 >= killed for killed, up in self.down)

    def client(self, k: int) -> None:
        import httpx
        rng = random.Random(k)
        since = {r: 0 for r in self.runs}
        with httpx.Client(base_url=self.url, timeout=30) as h:
            n = 0
            while time.time() < self.stop_at:
                n += 1
                run = rng.choice(self.runs)
                roll = rng.random()
                t0 = time.time()
                try:
                    if roll < 0.30:
                        r = h.get(f"/api/runs/{run}")
                    elif roll < 0.55:
                        r = h.get(f"/api/runs/{run}/metrics", params={"since": since[run]})
                    elif roll < 0.70:
                        r = h.get("/api/runs")
                    elif roll < 0.82:
                        r = h.get("/api/datasets")
                    elif roll < 0.90:
                        r = h.get(f"/api/runs/{run}/log")
                    elif roll < 0.97:
                        r = h.get("/api/health")
                    elif roll < 0.99:
                        name = f"soak-{k}-{n}.csv"
                        r = h.post("/api/datasets", params={"kind": "table", "filename": name},
                                   content=people_csv(k * 100000 + n, 60))
                    else:
                        name = f"soak-run-{k}-{n}"
                        opts = {"steps": 5, "minutes": None, "batch": 20, "gen_dims": [16], "dis_dims": [16],
                                "eval_rows": 60, "threads": 1, "checkpoint_every": 5, "eval_every": 5,
                                "log_every": 5}
                        r = h.post("/api/runs", json={"task": "table", "dataset_id": self.dataset_id, "name": name,
                                                      "options": opts, "preset": "custom"})
                        if r.status_code == 201:  # cancel it while queued: the two soak trainings keep the workers
                            h.post(f"/api/runs/{r.json()['id']}/stop")
                except httpx.HTTPError as e:
                    t1 = time.time()
                    with self.lock:
                        if self.in_restart(t0, t1):
                            self.restart_errors += 1
                        else:
                            self.errors.append(f"{type(e).__name__}: {e}"[:200])
                    time.sleep(0.2)
                    continue
                t1 = time.time()
                with self.lock:
                    if r.status_code >= 400:
                        if r.status_code >= 500 and self.in_restart(t0, t1):
                            self.restart_errors += 1
                        else:
                            self.errors.append(f"{r.request.method} {r.request.url.path}: {r.status_code} "
                                               f"{r.text[:120]}")
                        continue
                    self.served += 1
                    self.latency.append(t1 - t0)
                    if r.request.method == "POST" and r.status_code == 201:
                        body = r.json()
                        (self.datasets if "/datasets" in r.request.url.path else self.new_runs)[body["id"]] = \
                            body["name"]
                    elif "/metrics" in r.request.url.path:
                        for row in r.json():
                            self.metrics[(run, row["_id"])] = (int(row.get("step", 0)), kind_of(row))
                            since[run] = max(since[run], row["_id"])


def kind_of(record: dict) -> str:
    """Which logger wrote a metric row (losses every log_every steps; evaluation scores at eval steps)."""
    keys = sorted(k for k in record if k not in ("_id", "step", "time"))
    return "loss" if any(k.startswith("loss/") for k in keys) else ",".join(keys)[:80]


def wait_for(fn, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def resume_interrupted(c, runs: list[int]) -> list[int]:
    """Resume the soak's trainings that the kill interrupted (the worker dies with the server)."""
    resumed = []
    for run in runs:
        status = wait_for(lambda: (s := c.get(f"/api/runs/{run}").json()["status"]) not in ("running",) and s,
                          60, f"run {run} to be marked after the restart")
        if status in ("interrupted", "stopped", "failed"):
            r = c.post(f"/api/runs/{run}/resume", json={})
            if r.status_code == 200:
                resumed.append(run)
    return resumed


def check_database(db_path: Path, soak: Soak, before: dict) -> dict:
    db = sqlite3.connect(db_path)
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    datasets = dict(db.execute("SELECT id, name FROM datasets").fetchall())
    runs = dict(db.execute("SELECT id, name FROM runs").fetchall())
    rows = db.execute("SELECT rowid, run_id, step, record FROM metrics").fetchall()
    db.close()
    lost_ds = [i for i, n in soak.datasets.items() if datasets.get(i) != n]
    lost_runs = [i for i, n in soak.new_runs.items() if runs.get(i) != n]
    extra_ds = sorted(set(datasets) - set(soak.datasets) - set(before["datasets"]))
    extra_runs = sorted(set(runs) - set(soak.new_runs) - set(before["runs"]))
    dup_ds = len(datasets) - len(set(datasets.values()))  # every soak upload has its own name
    dup_runs = len([n for n in runs.values() if n.startswith("soak-run-")]) - \
        len({n for n in runs.values() if n.startswith("soak-run-")})
    by_id = {r[0]: (r[1], r[2], kind_of(json.loads(r[3]))) for r in rows}
    keys = [(run, step, kind) for run, step, kind in by_id.values()]
    duplicated = len(keys) - len(set(keys))
    present = set(keys)
    lost, rolled_back = 0, 0
    for (run, rowid), (step, kind) in soak.metrics.items():
        if rowid in by_id:
            continue
        if (run, step, kind) in present:
            rolled_back += 1  # re-trained after a resume went back to its checkpoint, logged again
        else:
            lost += 1
    return {"integrity_check": integrity, "datasets_acknowledged": len(soak.datasets), "datasets_lost": len(lost_ds),
            "datasets_unacknowledged_extra": len(extra_ds), "datasets_duplicated": dup_ds,
            "runs_acknowledged": len(soak.new_runs), "runs_lost": len(lost_runs),
            "runs_unacknowledged_extra": len(extra_runs), "runs_duplicated": dup_runs,
            "metric_rows_seen": len(soak.metrics), "metric_rows_in_db": len(rows), "metric_rows_lost": lost,
            "metric_rows_duplicated": duplicated, "metric_rows_rolled_back": rolled_back}


def main() -> None:
    import httpx
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--port", type=int, default=8793)
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="studio-soak-") as tmp:
        server = Server(Path(tmp) / "ws", args.port)
        startup = [server.start()]
        try:
            c = httpx.Client(base_url=server.url, timeout=60)
            digits = c.post("/api/datasets/builtin", json={"source": "builtin:digits"}).json()
            people = c.post("/api/datasets", params={"kind": "table", "filename": "people.csv"},
                            content=people_csv(0, 400)).json()
            budget = {"minutes": args.minutes + 5, "steps": None, "threads": 1, "checkpoint_every": 25,
                      "keep_checkpoints": 2, "log_every": 5}
            image = c.post("/api/runs", json={"task": "image", "dataset_id": digits["id"], "preset": "custom",
                                              "options": dict(budget, size=16, width=16, z_dim=32, batch=16,
                                                              eval_every=50, sample_grid=16, walk_frames=2)})
            table = c.post("/api/runs", json={"task": "table", "dataset_id": people["id"], "preset": "custom",
                                              "options": dict(budget, batch=50, gen_dims=[32], dis_dims=[32],
                                                              eval_every=100, eval_rows=200)})
            assert image.status_code == table.status_code == 201, (image.text, table.text)
            runs = [image.json()["id"], table.json()["id"]]
            wait_for(lambda: all(c.get(f"/api/runs/{r}").json()["status"] == "running" for r in runs), 180,
                     "both trainings to start")
            before = {"datasets": [d["id"] for d in c.get("/api/datasets").json()],
                      "runs": [r["id"] for r in c.get("/api/runs").json()]}
            t_start = time.time()
            soak = Soak(server.url, runs, people["id"], t_start + seconds)
            threads = [threading.Thread(target=soak.client, args=(k,), daemon=True) for k in range(args.clients)]
            for t in threads:
                t.start()
            kills, resumed = [], []
            for frac in (1 / 3, 2 / 3):
                time.sleep(max(0.0, t_start + frac * seconds - time.time()))
                window = [time.time(), float("inf")]
                with soak.lock:
                    soak.down.append(window)
                server.kill()
                startup.append(server.start())
                window[1] = time.time()
                kills.append(round(window[1] - window[0], 2))
                print(f"killed the server at {window[0] - t_start:.0f} s; back after {kills[-1]} s")
                resumed.append(resume_interrupted(c, runs))
            for t in threads:
                t.join(timeout=120)
            progress = {r: max([m.get("step", 0) for m in c.get(f"/api/runs/{r}/metrics").json()], default=0)
                        for r in runs}
            for r in runs:
                c.post(f"/api/runs/{r}/stop")
            c.close()
        finally:
            server.stop()
        check = check_database(Path(tmp) / "ws" / "studio.db", soak, before)
    lat = np.array(soak.latency) * 1000 if soak.latency else np.zeros(1)
    figures = {"clients": args.clients, "minutes": args.minutes, "kills": 2, "requests_served": soak.served,
               "requests_per_s": round(soak.served / seconds, 1), "errors": len(soak.errors),
               "error_examples": sorted(set(soak.errors))[:5], "restart_connection_errors": soak.restart_errors,
               "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1),
                              "p95": round(float(np.percentile(lat, 95)), 1), "max": round(float(lat.max()), 1)},
               "server_down_s": kills, "server_startup_s": [round(s, 2) for s in startup],
               "trainings_resumed_after_kill": [len(r) for r in resumed],
               "last_logged_step": {str(r): progress[r] for r in runs}, "database": check}
    print(json.dumps(figures, indent=2))
    append_result(dict(machine_facts("studio_soak"), **figures), args.results)
    print(f"appended to {args.results}")
    ok = check["integrity_check"] == "ok" and not any(check[k] for k in (
        "datasets_lost", "datasets_duplicated", "runs_lost", "runs_duplicated", "metric_rows_lost",
        "metric_rows_duplicated"))  # an unacknowledged extra: committed, but its reply died with the server
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
