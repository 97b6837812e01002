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


def _pairs(folder: Path) -> str:
    import numpy as np
    from PIL import Image

    for side in ("A", "B"):
        (folder / side).mkdir(parents=True)
        rng = np.random.default_rng(len(side))
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / side / f"{side}{i}.png")
    return str(folder)


def _table(path: Path) -> str:
    import numpy as np

    rng = np.random.default_rng(0)
    rows = [f"{rng.integers(18, 80)},{rng.choice(['F', 'M'])},{rng.normal(50, 10):.2f}" for _ in range(200)]
    path.write_text("age,sex,income\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["image", "translate", "table"])
def test_every_kind_of_task_trains_data_parallel_with_identical_weights(task, tmp_path):
    """Two CPU processes (gloo) for a conditional image GAN, CycleGAN and a table GAN: after training, both
    ranks hold the same weights in every network."""
    import json

    common = {"steps": 4, "precision": "fp32", "threads": 1, "checkpoint_every": 1000, "eval_every": 1000,
              "log_every": 1}
    kwargs = {
        "image": {"data": "builtin:digits", "size": 16, "width": 8, "z_dim": 8, "batch": 8, "limit": 200,
                  "conditional": True, "r1_interval": 2},
        "translate": {"a": _pairs(tmp_path / "ab") + "/A", "b": str(tmp_path / "ab" / "B"), "unpaired": True,
                      "crop": 32, "width": 8, "batch": 2, "pool_size": 2},
        "table": {"data": _table(tmp_path / "t.csv"), "batch": 20, "pac": 10, "gen_dims": [16], "dis_dims": [16],
                  "eval_rows": 50},
    }[task]
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "tests" / "engine" / "ddp_task_worker.py"), task, str(out), json.dumps(dict(common, **kwargs))]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    r0, r1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert r0["world"] == r1["world"] == 2 and r0["step"] == r1["step"] == 4
    assert set(r0["nets"]) == set(r1["nets"]) and len(r0["nets"]) >= 2
    for net in r0["nets"]:
        for key, value in r0["nets"][net].items():
            if value.is_floating_point() and "running_" not in key:  # batch-norm statistics stay per process
                assert torch.equal(value, r1["nets"][net][key]), f"{task}: {net}.{key} differs between ranks"


@pytest.mark.slow
def test_devices_from_the_python_api_starts_the_processes_itself(tmp_path):
    import json

    import ganforge

    model = ganforge.train("image", data="builtin:shapes?n=64", size=16, width=8, z_dim=8, batch=8, steps=3,
                           devices=2, precision="fp32", threads=1, out=tmp_path / "run", progress=False,
                           eval_every=1000, checkpoint_every=1000, log_every=1)
    assert model.meta["step"] == 3 and model.meta["config"]["run"]["devices"] == 2
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["kimg"] == round(3 * 8 * 2 / 1000, 3)   # both processes' images counted
