"""The ganforge command end to end on tiny data: train, sample, info, resume, walk, errors."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganforge.cli.app import app

TINY = ["--data", "builtin:shapes?n=64", "--size", "16", "--batch", "8", "--width", "16", "--z-dim", "16",
        "--quiet", "--threads", "1"]


def cli(*args: str, ok: bool = True):
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    result = cli("train", "image", *TINY, "--steps", "24", "--eval-every", "10", "--checkpoint-every", "10",
                 "--log-every", "4", "--out", out)
    assert f"run folder: {out}" in result.output
    return out


def test_train_leaves_a_complete_run_folder(run_dir):
    for name in ("config.json", "metrics.jsonl", "model.safetensors", "losses.png", "walk.gif"):
        assert (run_dir / name).is_file(), name
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["step-000010.png", "step-000020.png",
                                                                      "step-000024.png"]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-000000020.pt",
                                                                          "step-000000024.pt"]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [4, 8, 12, 16, 20, 24]
    assert all(np.isfinite(r["loss/D"]) and np.isfinite(r["loss/G"]) and r["imgs_per_s"] > 0 for r in records)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "image" and config["options"]["size"] == 16 and config["run"]["steps"] == 24
    assert Image.open(run_dir / "walk.gif").n_frames > 10


def test_sample_writes_a_grid_or_single_images(run_dir, tmp_path):
    cli("sample", run_dir, "--n", "9", "--seed", "3", "-o", tmp_path / "grid.png")
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape[0] == grid.shape[1] > 3 * 16  # 3x3 images with padding
    cli("sample", run_dir / "model.safetensors", "--n", "5", "--seed", "3", "--out-dir", tmp_path / "single")
    files = sorted((tmp_path / "single").iterdir())
    assert len(files) == 5 and Image.open(files[0]).size == (16, 16)


def test_info_shows_task_data_and_steps(run_dir):
    text = cli("info", run_dir).output
    assert "image" in text and "builtin:shapes" in text and "24" in text and "fingerprint" in text
    meta = json.loads(cli("info", run_dir / "model.safetensors", "--json").output)
    assert meta["task"] == "image" and meta["step"] == 24 and meta["data"]["n"] == 64
    assert meta["config"]["options"]["arch"] == "dcgan" and len(meta["data"]["fingerprint"]) == 16


def test_walk_writes_an_animation(run_dir, tmp_path):
    cli("walk", run_dir, "-o", tmp_path / "w.gif", "--walks", "4")
    assert Image.open(tmp_path / "w.gif").n_frames >= 12


def test_resume_continues_to_a_new_budget(run_dir, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    cli("resume", copy, "--steps", "30", "--quiet")
    meta = json.loads(cli("info", copy, "--json").output)
    assert meta["step"] == 30
    steps = [json.loads(line)["step"] for line in (copy / "metrics.jsonl").read_text().splitlines()]
    assert steps == [4, 8, 12, 16, 20, 24, 28, 30]


@pytest.mark.parametrize("args, message", [
    (["train", "image", "--data", "/no/such/folder", "--out", "{tmp}/r", "--steps", "2"],
     "error: data source not found: /no/such/folder"),
    (["train", "image", "--data", "builtin:digits", "--size", "48", "--out", "{tmp}/r", "--steps", "2"],
     "error: size must be one of 16, 32, 64, 128, 256; got 48"),
    (["train", "image", "--data", "builtin:digits", "--loss", "wasserstein", "--out", "{tmp}/r", "--steps", "2"],
     "error: loss must be one of"),
    (["train", "image", "--data", "builtin:digits", "--batch", "0", "--out", "{tmp}/r", "--steps", "2"],
     "error: batch must be a positive number, got 0"),
    (["sample", "{tmp}", "--n", "4", "-o", "{tmp}/g.png"], "no model.safetensors in this folder"),
    (["sample", "{tmp}/missing.safetensors", "-o", "{tmp}/g.png"], "no such model file or run folder"),
    (["resume", "{tmp}/nothing"], "no such run folder"),
])
def test_bad_input_gets_one_clear_line(tmp_path, args, message):
    result = CliRunner().invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and message in lines[-1], result.output
    assert "Traceback" not in result.output


def test_an_existing_run_is_not_overwritten_by_accident(run_dir):
    result = CliRunner().invoke(app, ["train", "image", *TINY, "--steps", "2", "--out", str(run_dir)])
    assert result.exit_code == 1 and "already holds a run" in result.output


def test_dry_run_prints_the_resolved_config_without_training(tmp_path):
    out = json.loads(cli("train", "image", *TINY, "--steps", "5", "--out", tmp_path / "r", "--dry-run").output)
    assert out["options"]["arch"] == "dcgan" and out["options"]["augment"] == "diff" and out["data"]["n"] == 64
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_finishes_with_the_right_step_count(tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "ganforge", "train", "image", *TINY, "--steps", "800",
           "--checkpoint-every", "25", "--eval-every", "100000", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.time() + 120
    while time.time() < deadline:
        found = sorted((out / "checkpoints").glob("step-*.pt")) if (out / "checkpoints").is_dir() else []
        if any(int(p.stem[5:]) >= 50 for p in found):
            break
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "model.safetensors").exists()  # killed: no chance to export
    killed_at = max(int(p.stem[5:]) for p in (out / "checkpoints").glob("step-*.pt"))
    assert 50 <= killed_at < 800
    result = subprocess.run([sys.executable, "-m", "ganforge", "resume", str(out), "--quiet"],
                            capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-2000:]
    meta = json.loads(cli("info", out, "--json").output)
    assert meta["step"] == 800 and meta["status"] == "finished"
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 800  # no duplicate records from the replayed steps
    assert not list((out / "checkpoints").glob("*.tmp*"))


@pytest.mark.slow
def test_devices_2_trains_data_parallel_from_the_command_line(tmp_path):
    out = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "ganforge", "train", "image", *TINY, "--steps", "4",
                             "--devices", "2", "--log-every", "2", "--out", str(out)],
                            capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-2000:]
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 4 and last["kimg"] == pytest.approx(4 * 8 * 2 / 1000)  # two processes' images
    assert (out / "model.safetensors").is_file()


def test_features_train_writes_a_feature_file_eval_can_use(tmp_path):
    out = tmp_path / "feat.safetensors"
    result = cli("features", "train", "--data", "builtin:shapes?n=96", "--out", out, "--size", "16",
                 "--epochs", "0.5", "--threads", "1")
    assert out.is_file() and "classifier" in result.output
    report = cli("eval-folders", "builtin:shapes?n=64&seed=1", "builtin:shapes?n=64&seed=2", "--metrics", "kid",
                 "--features", out, "--n", "64", "-o", tmp_path / "eval.json")
    assert "kid" in report.output.lower() and (tmp_path / "eval.json").is_file()
