"""Data-parallel training over two CPU processes (gloo), launched the way users launch it: torchrun."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_processes_end_with_identical_weights(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "tests" / "engine" / "ddp_worker.py"), str(tmp_path)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert r0["world"] == r1["world"] == 2 and r0["step"] == r1["step"] == 6
    for net in ("G", "D"):
        for key in r0[net]:
            assert torch.equal(r0[net][key], r1[net][key]), f"{net}.{key} differs between ranks"
    # the ranks trained on different batches (else the test would pass without any all-reduce)
    from tests.engine.toy import Ring
    from ganforge.engine import step_generator
    a = Ring().sample_batch(8, step_generator(0, 0, 0), torch.device("cpu"))
    b = Ring().sample_batch(8, step_generator(0, 1, 0), torch.device("cpu"))
    assert not torch.equal(a, b)
    initial = Ring(r1_gamma=1.0).modules["G"].state_dict()
    assert any(not torch.equal(initial[k], r0["G"][k]) for k in initial)
