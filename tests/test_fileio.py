"""Atomic writes: all or nothing, and the file mode a plain open() would give."""
from __future__ import annotations

import os
import stat

import pytest
import torch

from ganforge.engine import checkpoint
from ganforge.fileio import atomic_path, remove_stale_temporaries, write_bytes, write_json


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_(mask: int) -> None:
        os.umask(mask)
    yield set_
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    write_bytes(tmp_path / "a.bin", b"x")
    write_json(tmp_path / "sub" / "b.json", {"a": 1})
    checkpoint.save_as(tmp_path / "checkpoints" / "best.pt", {"w": torch.zeros(2)})
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    assert mode(tmp_path / "plain.txt") == expected
    assert mode(tmp_path / "a.bin") == mode(tmp_path / "sub" / "b.json") == expected
    assert mode(tmp_path / "checkpoints" / "best.pt") == expected


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.txt"
    write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.name.startswith(".f.txt.") and tmp.name.endswith(".tmp.txt")
            tmp.write_bytes(b"half")
            raise RuntimeError
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    (tmp_path / ".f.txt.abcd.tmp.txt").write_bytes(b"left by a killed process")
    assert remove_stale_temporaries(tmp_path) == 1
