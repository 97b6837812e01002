"""engine/checkpoint.py: resume falls back to the newest readable checkpoint, saying which one it skipped and why;
none readable is one line that lists what was tried."""
from __future__ import annotations

import logging
import shutil

import pytest

import ganforge
from ganforge.engine import checkpoint
from ganforge.errors import CheckpointError

pytestmark = pytest.mark.timeout(300)

TINY = dict(data="builtin:shapes?n=64", size=16, width=8, z_dim=8, batch=8, threads=1, eval_every=100,
            log_every=2, walk_frames=2, progress=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "run"
    ganforge.train("image", out=out, steps=6, checkpoint_every=2, keep_checkpoints=3, **TINY)
    assert [s for s, _ in checkpoint.list_checkpoints(out / "checkpoints")] == [2, 4, 6]
    return out


def test_resume_skips_a_truncated_newest_checkpoint(run, tmp_path, caplog):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    newest = checkpoint.path_for(copy / "checkpoints", 6)
    newest.write_bytes(newest.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger="ganforge"):
        model = ganforge.resume(copy, steps=8, progress=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "skipped" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert newest.name in warnings[0] and "not a readable" in warnings[0] and "step-000000004.pt" in warnings[0]
    assert "resuming from step-000000004.pt" in warnings[0]
    assert model.meta["step"] == 8


def test_resume_skips_two_damaged_checkpoints(run, tmp_path, caplog):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    checkpoint.path_for(copy / "checkpoints", 6).write_bytes(b"")
    checkpoint.path_for(copy / "checkpoints", 4).write_bytes(b"\x80\x02garbage")
    with caplog.at_level(logging.WARNING, logger="ganforge"):
        ganforge.resume(copy, steps=4, progress=False)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and "step-000000006.pt" in skipped[0] and "step-000000004.pt" in skipped[0]
    assert "resuming from step-000000002.pt" in skipped[0]


def test_no_readable_checkpoint_is_one_line_listing_them(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    for _, path in checkpoint.list_checkpoints(copy / "checkpoints"):
        path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError) as e:
        ganforge.resume(copy, progress=False)
    text = str(e.value)
    assert "\n" not in text and "no readable checkpoint" in text and str(copy / "checkpoints") in text
    assert all(f"step-00000000{s}.pt" in text for s in (2, 4, 6))


def test_changed_data_is_not_skipped_over(run, tmp_path):
    """A fingerprint mismatch is about the run, not one file: it stops at once."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    with pytest.raises(CheckpointError, match="data changed"):
        ganforge.resume(copy, data="builtin:shapes?n=32", progress=False)


def test_newest_readable_reports_what_it_skipped(run, tmp_path):
    folder = tmp_path / "c"
    shutil.copytree(run / "checkpoints", folder)
    checkpoint.path_for(folder, 6).write_bytes(b"junk")
    path, state, skipped = checkpoint.newest_readable(folder)
    assert path.name == "step-000000004.pt" and state["step"] == 4
    assert [p.name for p, _ in skipped] == ["step-000000006.pt"]
