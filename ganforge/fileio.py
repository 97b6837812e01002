"""Atomic file writes: a reader sees either the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed over ``path``.

    The temporary file lives in the same folder so that the rename is atomic on POSIX.
    On error it is removed and ``path`` is left as it was. The file gets the mode a plain
    ``open(path, "w")`` would give it (0o666 less the umask), so a shared run folder stays readable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _create_temporary(path)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _create_temporary(path: Path) -> Path:
    """Create an empty, unique ``.NAME.XXXX.tmpSUFFIX`` beside ``path``.

    Not ``tempfile.mkstemp``: it creates mode 0600 whatever the umask. ``os.open`` with 0o666 lets
    the kernel apply the umask (and a folder's default ACL) exactly as for a plain ``open``.
    """
    for _ in range(100):
        # the temporary keeps the real extension: writers such as ffmpeg choose the format by it
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporaries left by a process that was killed mid-write; return how many."""
    count = 0
    for p in Path(folder).glob(".*.tmp*"):
        p.unlink(missing_ok=True)
        count += 1
    return count
