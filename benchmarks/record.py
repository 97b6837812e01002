"""Machine facts and the results file shared by benchmark scripts.

``append_result`` reads, extends and rewrites ``results.json`` under an exclusive lock (a lock file in the
temporary folder, named after the results file's path, so that the repository stays clean) and writes it
through a temporary file + rename: two benchmarks finishing at once keep both records, and a reader never
sees half a file.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from ganforge.fileio import write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
DATA = Path(os.environ.get("GANFORGE_SHARED_DATA", ROOT.parent / "shared" / "data"))  # as tests/shared.py


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> dict[str, bool]:
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        flags = set()
    return {k: k in flags for k in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")}


def git_commit() -> tuple[str | None, bool | None]:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
        return head.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return None, None


def machine_facts(benchmark: str, argv: list[str] | None = None) -> dict:
    """The fields every record starts with: what ran, where, on which commit."""
    commit, dirty = git_commit()
    return {
        "benchmark": benchmark,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *(sys.argv if argv is None else argv)]),
        "git_commit": commit, "git_dirty": dirty, "torch": torch.__version__, "python": platform.python_version(),
        "cpu": cpu_model(), "cpu_flags": cpu_flags(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
    }


@contextlib.contextmanager
def _locked(path: Path):
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"ganforge-results-{key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_result(record: dict, path: Path = RESULTS) -> None:
    """Append ``record`` to the JSON list in ``path`` (created when missing)."""
    with _locked(path):
        records = []
        if path.exists():
            try:
                records = json.loads(path.read_text())
            except json.JSONDecodeError as e:
                sys.exit(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); fix or move it, then run again")
            if not isinstance(records, list):
                sys.exit(f"{path}: expected a JSON list of records")
        records.append(record)
        write_json(path, records)


def parse_options(items: list[str]) -> dict:
    """``--option key=value`` pairs for a task; values read as JSON where they parse (numbers, true/false),
    else as text."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
