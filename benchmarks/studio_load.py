"""The studio under load: N clients poll run status and fetch the latest sample grid on loopback.

Two phases side by side on one real server (``python -m ganforge studio`` in a subprocess): an idle
server, then the same load while a worker process trains a small image GAN. Figures: requests/s,
latency p50 / p95 / max per request kind, errors, and the training speed reached under that load.

    python benchmarks/studio_load.py [--clients 20] [--seconds 10]

Appends to benchmarks/results_studio.json.
"""
from __future__ import annotations

import argparse
import os
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


def start_server(workspace: Path, port: int) -> subprocess.Popen:
    import httpx
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", "studio", "--workspace", str(workspace),
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the studio did not start")


def load(url: str, run_id: int, clients: int, seconds: float) -> dict:
    import httpx
    lat: dict[str, list[float]] = {"status": [], "image": []}
    errors: list[str] = []
    stop_at = time.time() + seconds
    lock = threading.Lock()

    def client() -> None:
        mine: dict[str, list[float]] = {"status": [], "image": []}
        with httpx.Client(base_url=url, timeout=30) as h:
            while time.time() < stop_at:
                try:
                    t0 = time.perf_counter()
                    r = h.get(f"/api/runs/{run_id}")
                    mine["status"].append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        errors.append(str(r.status_code))
                        continue
                    sample = r.json()["sample"]
                    if sample:
                        t0 = time.perf_counter()
                        img = h.get(f"/api/runs/{run_id}/files/{sample}")
                        mine["image"].append(time.perf_counter() - t0)
                        if img.status_code != 200:
                            errors.append(str(img.status_code))
                except httpx.HTTPError as e:
                    errors.append(type(e).__name__)
        with lock:
            for k in lat:
                lat[k] += mine[k]

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    out = {"requests": sum(len(v) for v in lat.values()), "requests_per_s": round(sum(len(v) for v in lat.values()) / wall, 1),
           "errors": len(errors)}
    for k, v in lat.items():
        if v:
            a = np.array(v) * 1000
            out[k] = {"n": len(v), "p50_ms": round(float(np.percentile(a, 50)), 1),
                      "p95_ms": round(float(np.percentile(a, 95)), 1), "max_ms": round(float(a.max()), 1)}
    return out


def main() -> None:
    import httpx
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--port", type=int, default=8791)
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_server(Path(tmp) / "ws", args.port)
        url = f"http://127.0.0.1:{args.port}"
        try:
            c = httpx.Client(base_url=url, timeout=60)
            ds = c.post("/api/datasets/builtin", json={"source": "builtin:digits"}).json()
            # a short run first, so that there is a sample grid to fetch in the idle phase
            opts = {"size": 16, "width": 16, "batch": 32, "steps": 20, "minutes": None, "eval_every": 10,
                    "checkpoint_every": 1000, "log_every": 10, "sample_grid": 64, "walk_frames": 2}
            first = c.post("/api/runs", json={"task": "image", "dataset_id": ds["id"], "options": opts}).json()["id"]
            while c.get(f"/api/runs/{first}").json()["status"] not in ("finished", "failed"):
                time.sleep(0.5)
            idle = load(url, first, args.clients, args.seconds)
            print(f"idle server     : {idle}")
            opts = dict(opts, size=32, width=32, steps=100000, eval_every=50, log_every=10)
            run = c.post("/api/runs", json={"task": "image", "dataset_id": ds["id"], "options": opts}).json()["id"]
            while not c.get(f"/api/runs/{run}").json()["sample"]:
                time.sleep(0.5)
            busy = load(url, run, args.clients, args.seconds)
            job = c.get(f"/api/runs/{run}").json()["job"]
            busy["training_imgs_per_s"] = job["imgs_per_s"]
            print(f"while training  : {busy}")
            c.post(f"/api/runs/{run}/stop")
            while c.get(f"/api/runs/{run}").json()["status"] not in ("stopped", "interrupted", "failed"):
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    append_result(dict(machine_facts("studio_load"), clients=args.clients, seconds=args.seconds, idle=idle,
                       training=busy), args.results)
    print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
