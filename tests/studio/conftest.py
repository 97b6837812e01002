"""Shared pieces of the studio tests: a tiny image zip, tiny run options, a studio server in a subprocess."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

ROOT = Path(__file__).resolve().parents[2]

# a run that finishes in seconds on 2 cores: 16 px digits, narrow nets, a grid every 10 steps
TINY = {"size": 16, "limit": 300, "width": 16, "batch": 16, "steps": 30, "minutes": None, "eval_every": 10,
        "checkpoint_every": 10, "log_every": 5, "sample_grid": 16, "walk_frames": 2, "threads": 1}


def png_bytes(seed: int, size: int = 20, colour: bool = False) -> bytes:
    from PIL import Image
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size, size, 3) if colour else (size, size), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def image_zip(n_per_class: int = 6, classes=("cats", "dogs"), extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for c in classes:
            for i in range(n_per_class):
                zf.writestr(f"pets/{c}/{i:03d}.png", png_bytes(hash((c, i)) % 1000))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def shapes_zip(n_per_class: int = 12, size: int = 24, extra: dict[str, bytes] | None = None) -> bytes:
    """A small zip of coloured shapes, one folder per shape (drawn like builtin:shapes)."""
    from ganforge.data.builtin import SHAPE_NAMES, draw_shape
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for kind, name in enumerate(SHAPE_NAMES[:3]):
            for i in range(n_per_class):
                png = io.BytesIO()
                draw_shape(rng, kind, size).save(png, "PNG")
                zf.writestr(f"shapes/{name}/{i:03d}.png", png.getvalue())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StudioServer:
    """``python -m ganforge studio`` in a subprocess (a real uvicorn on loopback)."""

    def __init__(self, workspace: Path, port: int | None = None, token: str | None = None):
        self.workspace, self.port, self.token = workspace, port or free_port(), token
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "StudioServer":
        import httpx
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        cmd = [sys.executable, "-m", "ganforge", "studio", "--workspace", str(self.workspace), "--port", str(self.port)]
        if self.token:
            cmd += ["--token", self.token]
        self.log = open(self.workspace.parent / f"server-{self.port}-{time.time_ns()}.log", "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT))
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"studio exited: {self.read_log()}"
            try:
                if httpx.get(self.url + "/api/health", timeout=1, headers=self.headers()).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"studio did not start: {self.read_log()}")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def read_log(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def stop(self, sig=None) -> None:
        if self.proc and self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def wait_for(fn, timeout: float = 90, every: float = 0.3, what: str = "condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture
def server(tmp_path):
    s = StudioServer(tmp_path / "ws").start()
    yield s
    s.stop()
