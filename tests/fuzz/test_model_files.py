"""Hostile model, checkpoint, latent, direction, encoder and config files against every command that reads them.

The corpus is made at test time from one tiny trained run (no binary blobs in the repository). Each case must
end in one ``error: ...`` line that names the file (exit code 1), never a traceback, never a hang (a timeout
per test), and must write nothing anywhere (the tree under the test's folder is compared before and after).

A case that ends in a traceback fails with a message starting ``TRACEBACK``: ``pytest tests/fuzz/test_model_files.py
| grep -c TRACEBACK`` counts them.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import struct
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge import artifact
from ganforge.cli.app import app
from ganforge.errors import GanforgeError

pytestmark = pytest.mark.timeout(120)

RNG_BYTES = np.random.default_rng(20).integers(0, 256, 4096, dtype=np.uint8).tobytes()


# ------------------------------------------------------------------------------------------------ the base run
@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny trained image run: model, checkpoints, config, a latent, directions and an encoder file."""
    out = tmp_path_factory.mktemp("fuzz-base") / "run"
    model = ganforge.train("image", data="builtin:shapes?n=64", size=16, width=8, z_dim=8, batch=8, steps=4,
                           checkpoint_every=2, keep_checkpoints=3, eval_every=100, log_every=2, threads=1,
                           walk_frames=2, progress=False, out=out)
    from ganforge.predict import latent
    lat = latent.Latent(model.latents(1, seed=0), None, {})
    latent.save_latent(out / "latent.safetensors", lat, model)
    latent.save_directions(out / "directions.safetensors", latent.pca_directions(model, k=2, n=64), model)
    latent.train_encoder(model, out / "encoder.safetensors", steps=2, batch=4)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(out / "input.png")
    return out


def _save_raw(path: Path, tensors: dict[str, torch.Tensor], meta_text: str | None) -> None:
    from safetensors.torch import save_file
    save_file(tensors, str(path), metadata=None if meta_text is None else {artifact.META_KEY: meta_text})


def _edited(source: str, edit: Callable[[dict, dict], None]) -> Callable[[Path, Path], None]:
    """A writer: the base file ``source`` with its (tensors, meta) changed by ``edit``."""
    def write(base: Path, target: Path) -> None:
        tensors, meta = artifact.load(base / source)
        edit(tensors, meta)
        _save_raw(target, tensors, json.dumps(meta))
    return write


def _raw(data: bytes | Callable[[bytes], bytes], source: str) -> Callable[[Path, Path], None]:
    def write(base: Path, target: Path) -> None:
        target.write_bytes(data((base / source).read_bytes()) if callable(data) else data)
    return write


def _meta_text(text: str | None, source: str) -> Callable[[Path, Path], None]:
    def write(base: Path, target: Path) -> None:
        tensors, _ = artifact.load(base / source)
        _save_raw(target, tensors, text)
    return write


def _bytes_cases(source: str) -> dict[str, Callable[[Path, Path], None]]:
    """Cases every safetensors-based file shares: not a safetensors file at all, or bad ganforge metadata."""
    return {
        "random-bytes": _raw(RNG_BYTES, source),
        "zero-bytes": _raw(b"", source),
        "text": _raw(b"hello, I am not a model\n", source),
        "truncated-half": _raw(lambda b: b[: len(b) // 2], source),
        "truncated-header": _raw(lambda b: b[:20], source),
        "huge-header-length": _raw(struct.pack("<Q", 2**62) + b"{}", source),
        "header-not-json": _raw(struct.pack("<Q", 10) + b"not json!!", source),
        "meta-not-json": _meta_text("{not json", source),
        "meta-list": _meta_text("[1, 2]", source),
        "meta-string": _meta_text('"hello"', source),
        "meta-absent": _meta_text(None, source),
        "pickle": _raw(lambda b: pickle.dumps({"a": 1}), source),
    }


def _set(key, value):
    def edit(tensors, meta):
        meta[key] = value
    return edit


def _drop(key):
    def edit(tensors, meta):
        meta.pop(key, None)
    return edit


def _net(change):
    def edit(tensors, meta):
        change(meta["nets"]["G"])
    return edit


def _reshape_first(tensors, meta):
    name = sorted(k for k in tensors if k.startswith("G."))[0]
    tensors[name] = torch.zeros(3, 1)


MODEL_CASES = {**_bytes_cases("model.safetensors"), **{
    "missing-task": _edited("model.safetensors", _drop("task")),
    "unknown-task": _edited("model.safetensors", _set("task", "no-such-task")),
    "task-not-text": _edited("model.safetensors", _set("task", [5])),
    "newer-format": _edited("model.safetensors", _set("format", 99)),
    "format-not-number": _edited("model.safetensors", _set("format", "two")),
    "nets-missing": _edited("model.safetensors", _drop("nets")),
    "nets-not-object": _edited("model.safetensors", _set("nets", [1, 2])),
    "net-spec-not-object": _edited("model.safetensors", _set("nets", {"G": 5})),
    "net-class-missing": _edited("model.safetensors", _net(lambda s: s.pop("class"))),
    "net-class-unknown": _edited("model.safetensors", _net(lambda s: s.update({"class": "nosuch.Net"}))),
    "net-class-outside": _edited("model.safetensors", _net(lambda s: s.update({"class": "os.system"}))),
    "net-kwarg-unknown": _edited("model.safetensors", _net(lambda s: s.update({"bogus": 1}))),
    "net-kwarg-wrong-type": _edited("model.safetensors", _net(lambda s: s.update({"z_dim": "eight"}))),
    "net-kwarg-absurd": _edited("model.safetensors", _net(lambda s: s.update({"z_dim": -3}))),
    "tensors-missing": _edited("model.safetensors", lambda t, m: t.clear()),
    "tensor-wrong-shape": _edited("model.safetensors", _reshape_first),
    "options-wrong-type": _edited("model.safetensors", lambda t, m: m["options"].update({"size": "big"})),
    "options-not-object": _edited("model.safetensors", _set("options", [1])),
    "a-latent-file": _raw(lambda b: b, "latent.safetensors"),
}}


def _latent_edit(change):
    return _edited("latent.safetensors", change)


LATENT_CASES = {**_bytes_cases("latent.safetensors"), **{
    "a-model-file": _raw(lambda b: b, "model.safetensors"),
    "wrong-kind": _latent_edit(_set("kind", "ganforge-directions")),
    "z-missing": _latent_edit(lambda t, m: (t.pop("z"), t.update({"w": torch.zeros(1, 8)}))),
    "z-wrong-size": _latent_edit(lambda t, m: t.update({"z": torch.zeros(1, 99)})),
    "z-one-dim": _latent_edit(lambda t, m: t.update({"z": torch.zeros(8)})),
    "z-empty": _latent_edit(lambda t, m: t.update({"z": torch.zeros(0, 8)})),
    "z-not-finite": _latent_edit(lambda t, m: t.update({"z": torch.full((1, 8), float("nan"))})),
    "y-out-of-range": _latent_edit(lambda t, m: t.update({"y": torch.tensor([10**6])})),
}}

DIRECTION_CASES = {**_bytes_cases("directions.safetensors"), **{
    "a-latent-file": _raw(lambda b: b, "latent.safetensors"),
    "vectors-missing": _edited("directions.safetensors", lambda t, m: t.clear()),
    "vectors-wrong-size": _edited("directions.safetensors", lambda t, m: t.update({"vectors": torch.zeros(2, 99)})),
    "vectors-one-dim": _edited("directions.safetensors", lambda t, m: t.update({"vectors": torch.zeros(8)})),
    "names-missing": _edited("directions.safetensors", _drop("names")),
    "names-not-list": _edited("directions.safetensors", _set("names", 7)),
    "names-too-few": _edited("directions.safetensors", _set("names", ["pc0", "pc1", "pc2"])),
}}

ENCODER_CASES = {**_bytes_cases("encoder.safetensors"), **{
    "a-model-file": _raw(lambda b: b, "model.safetensors"),
    "nets-missing": _edited("encoder.safetensors", _drop("nets")),
    "spec-wrong-type": _edited("encoder.safetensors", lambda t, m: m["nets"]["E"].update({"z_dim": "x"})),
    "spec-unknown-kwarg": _edited("encoder.safetensors", lambda t, m: m["nets"]["E"].update({"bogus": 1})),
    "z-dim-other-model": _edited("encoder.safetensors", lambda t, m: m["nets"]["E"].update({"z_dim": 99})),
    "tensors-missing": _edited("encoder.safetensors", lambda t, m: t.clear()),
    "tensor-wrong-shape": _edited("encoder.safetensors",
                                  lambda t, m: t.update({sorted(t)[0]: torch.zeros(3, 1)})),
}}


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def _ckpt(make: Callable[[dict, bytes], bytes]) -> Callable[[Path, Path], None]:
    def write(base: Path, target: Path) -> None:
        newest = sorted((base / "checkpoints").glob("step-*.pt"))[-1]
        raw = newest.read_bytes()
        target.write_bytes(make(torch.load(newest, weights_only=True), raw))
    return write


def _torch_bytes(obj) -> bytes:
    import io
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _without(key):
    def make(state, raw):
        state.pop(key)
        return _torch_bytes(state)
    return make


def _wrong_shape(state, raw):
    mods = state["modules"]
    net = sorted(mods)[0]
    mods[net][sorted(mods[net])[0]] = torch.zeros(3, 1)
    return _torch_bytes(state)


CHECKPOINT_CASES = {
    "random-bytes": _ckpt(lambda s, raw: RNG_BYTES),
    "zero-bytes": _ckpt(lambda s, raw: b""),
    "truncated-half": _ckpt(lambda s, raw: raw[: len(raw) // 2]),
    "truncated-tail": _ckpt(lambda s, raw: raw[:-100]),
    "pickle-with-code": _ckpt(lambda s, raw: _torch_bytes({"step": 1, "evil": _Evil()})),
    "plain-pickle-with-code": _ckpt(lambda s, raw: pickle.dumps(_Evil())),
    "a-list": _ckpt(lambda s, raw: _torch_bytes([1, 2, 3])),
    "a-tensor": _ckpt(lambda s, raw: _torch_bytes(torch.zeros(3))),
    "modules-missing": _ckpt(_without("modules")),
    "step-missing": _ckpt(_without("step")),
    "rng-missing": _ckpt(_without("rng")),
    "task-state-missing": _ckpt(_without("task")),
    "tensor-wrong-shape": _ckpt(_wrong_shape),
    "a-model-file": lambda base, target: target.write_bytes((base / "model.safetensors").read_bytes()),
}


def _config(edit: Callable[[dict], object] | bytes) -> Callable[[Path, Path], None]:
    def write(base: Path, target: Path) -> None:
        if isinstance(edit, bytes):
            target.write_bytes(edit)
            return
        cfg = json.loads((base / "config.json").read_text())
        result = edit(cfg)
        target.write_text(json.dumps(cfg if result is None else result))
    return write


CONFIG_CASES = {
    "random-bytes": _config(RNG_BYTES),
    "zero-bytes": _config(b""),
    "not-json": _config(b"{task: image"),
    "not-utf8": _config(b'{"task": "\xff\xfe"}'),
    "a-list": _config(lambda c: [c]),
    "a-string": _config(lambda c: "image"),
    "missing-task": _config(lambda c: c.pop("task")),
    "missing-run": _config(lambda c: c.pop("run")),
    "missing-options": _config(lambda c: c.pop("options")),
    "task-unknown": _config(lambda c: c.update({"task": "no-such-task"})),
    "task-not-text": _config(lambda c: c.update({"task": ["image"]})),
    "run-not-object": _config(lambda c: c.update({"run": [1]})),
    "options-not-object": _config(lambda c: c.update({"options": "big"})),
    "run-field-wrong-type": _config(lambda c: c["run"].update({"steps": "ten"})),
    "run-field-unknown": _config(lambda c: c["run"].update({"bogus": 1})),
    "run-field-absurd": _config(lambda c: c["run"].update({"batch": -5})),
    "option-wrong-type": _config(lambda c: c["options"].update({"size": "big"})),
    "option-unknown": _config(lambda c: c["options"].update({"bogus": 1})),
    "option-bad-choice": _config(lambda c: c["options"].update({"arch": "no-such-arch"})),
}


# ------------------------------------------------------------------------------------------------ checking
def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _cli(args: list, where: Path, cwd: Path, allowed: Path | None = None):
    """Run the CLI in ``cwd``; check one error line naming ``where``, exit 1, no traceback, no writes (but
    under ``allowed``, the command's own output folder)."""
    def tree():
        t = _tree(cwd.parent)
        if allowed is not None:
            inside = str(allowed.relative_to(cwd.parent))
            t = {k: v for k, v in t.items() if not (k == inside or k.startswith(inside + os.sep))}
        return t

    before = tree()
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    finally:
        os.chdir(old)
    logging.getLogger("ganforge").handlers.clear()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(result.exception))[-1500:]
        pytest.fail(f"TRACEBACK {type(result.exception).__name__}: {result.exception}\n{tb}", pytrace=False)
    out = result.output
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1, f"exit {result.exit_code}: {out[-800:]}"
    assert len(errors) == 1, f"expected one error line: {out[-800:]}"
    assert "Traceback" not in out, out[-800:]
    assert str(where) in errors[0], f"error does not name {where}: {errors[0]}"
    assert tree() == before, "a failing command wrote files outside its output folder"
    assert not (cwd / "pwned.txt").exists()
    return errors[0]


def _python(fn: Callable[[], object], where: Path) -> str:
    try:
        fn()
    except GanforgeError as e:
        assert "\n" not in str(e), f"more than one line: {e}"
        assert str(where) in str(e), f"error does not name {where}: {e}"
        return str(e)
    except Exception as e:  # noqa: BLE001 - the point: nothing but GanforgeError may escape
        tb = "".join(traceback.format_exception(e))[-1500:]
        pytest.fail(f"TRACEBACK {type(e).__name__}: {e}\n{tb}", pytrace=False)
    pytest.fail("no error")


@pytest.fixture
def case_dir(tmp_path) -> tuple[Path, Path]:
    """(the folder holding the broken file, an empty working directory)."""
    (tmp_path / "case").mkdir()
    (tmp_path / "cwd").mkdir()
    return tmp_path / "case", tmp_path / "cwd"


def _broken_run(base: Path, folder: Path, name: str) -> Path:
    """A run folder whose model.safetensors is MODEL_CASES[name]; returns the model file."""
    shutil.copy(base / "config.json", folder / "config.json")
    MODEL_CASES[name](base, folder / "model.safetensors")
    return folder / "model.safetensors"


# ------------------------------------------------------------------------------------------------ model files
MODEL_COMMANDS = {
    "info": lambda run, base, cwd: ["info", run],
    "sample": lambda run, base, cwd: ["sample", run, "-o", cwd / "grid.png", "--n", "4"],
    "apply": lambda run, base, cwd: ["apply", run, base / "input.png", "-o", cwd / "out.png"],
    "walk": lambda run, base, cwd: ["walk", run, "-o", cwd / "walk.gif"],
    "eval": lambda run, base, cwd: ["eval", run, "--n", "4", "--features", "pixels", "-o", cwd / "eval.json"],
    "edit": lambda run, base, cwd: ["edit", run, "--latent", base / "latent.safetensors", "--direction", "pc0",
                                    "--directions", base / "directions.safetensors", "-o", cwd / "e.png"],
    "invert": lambda run, base, cwd: ["invert", run, "--image", base / "input.png", "-o", cwd / "l.safetensors",
                                      "--steps", "1"],
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
def test_model_file_cli(base, case_dir, command, case):
    folder, cwd = case_dir
    file = _broken_run(base, folder, case)
    _cli(MODEL_COMMANDS[command](folder, base, cwd), folder, cwd)
    if command == "sample":  # the model file itself, not the run folder
        _cli(["sample", file, "-o", cwd / "grid.png", "--n", "4"], file, cwd)


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_model_file_python_load(base, case_dir, case):
    folder, _ = case_dir
    file = _broken_run(base, folder, case)
    _python(lambda: ganforge.load(folder), folder)
    _python(lambda: ganforge.load(file), file)


def test_newer_format_says_so(base, case_dir):
    folder, cwd = case_dir
    _broken_run(base, folder, "newer-format")
    line = _cli(["info", folder], folder, cwd)
    assert "newer ganforge" in line, line


def test_meta_not_json_is_one_line(base, case_dir):
    folder, cwd = case_dir
    _broken_run(base, folder, "meta-not-json")
    for args in (["info", folder], ["info", folder, "--json"], ["sample", folder, "-o", cwd / "g.png"]):
        assert "JSON" in _cli(args, folder, cwd)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ganforge.studio.app import Settings, create_app
    from ganforge.studio.store import Store
    ws = tmp_path_factory.mktemp("fuzz-studio") / "ws"
    client = TestClient(create_app(Settings(workspace=ws)))  # no lifespan: no worker processes
    return client, Store(ws / "studio.db")


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_model_file_studio_page(base, case_dir, studio, case):
    folder, _ = case_dir
    _broken_run(base, folder, case)
    client, store = studio
    run_id = store.add_run(f"broken {case}", "image", None, "custom", {}, lambda i: folder)
    try:
        r = client.get(f"/api/runs/{run_id}/model")
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"TRACEBACK {type(e).__name__}: {e}", pytrace=False)
    if r.status_code >= 500:
        pytest.fail(f"TRACEBACK status {r.status_code}: {r.text[:300]}", pytrace=False)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "\n" not in detail and str(folder) in detail, detail


# ------------------------------------------------------------------------------------------------ latent, directions, encoder
def _copy_model(base: Path, folder: Path) -> None:
    for name in ("model.safetensors", "config.json"):
        shutil.copy(base / name, folder / name)


@pytest.mark.parametrize("case", sorted(LATENT_CASES))
@pytest.mark.parametrize("command", ["edit", "walk"])
def test_latent_file(base, case_dir, command, case):
    folder, cwd = case_dir
    _copy_model(base, folder)
    bad = folder / "bad-latent.safetensors"
    LATENT_CASES[case](base, bad)
    if command == "edit":
        args = ["edit", folder, "--latent", bad, "--direction", "pc0", "--directions", base / "directions.safetensors",
                "-o", cwd / "e.png"]
    else:
        args = ["walk", folder, "--from", bad, "--to", "3", "-o", cwd / "w.gif", "--frames", "3"]
    _cli(args, bad, cwd)


@pytest.mark.parametrize("case", sorted(DIRECTION_CASES))
def test_directions_file(base, case_dir, case):
    folder, cwd = case_dir
    _copy_model(base, folder)
    bad = folder / "bad-directions.safetensors"
    DIRECTION_CASES[case](base, bad)
    args = ["edit", folder, "--latent", base / "latent.safetensors", "--direction", "pc0", "--directions", bad,
            "-o", cwd / "e.png"]
    _cli(args, bad, cwd)


@pytest.mark.parametrize("case", sorted(ENCODER_CASES))
def test_encoder_file(base, case_dir, case):
    folder, cwd = case_dir
    _copy_model(base, folder)
    bad = folder / "bad-encoder.safetensors"
    ENCODER_CASES[case](base, bad)
    args = ["invert", folder, "--image", base / "input.png", "--encoder", bad, "--steps", "1",
            "-o", cwd / "l.safetensors"]
    _cli(args, bad, cwd)


# ------------------------------------------------------------------------------------------------ checkpoints
def _run_copy(base: Path, folder: Path) -> Path:
    run = folder / "run"
    shutil.copytree(base, run, ignore=shutil.ignore_patterns("*.safetensors", "*.png", "*.gif"))
    return run


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_checkpoint_every_one_broken(base, case_dir, case):
    """No readable checkpoint at all: one line that names the checkpoints tried."""
    folder, cwd = case_dir
    run = _run_copy(base, folder)
    for ckpt in sorted((run / "checkpoints").glob("step-*.pt")):
        CHECKPOINT_CASES[case](base, ckpt)
    line = _cli(["resume", run, "--steps", "6", "--quiet"], run / "checkpoints", cwd, allowed=run)
    assert not (run / "model.safetensors").exists()
    assert "pwned" not in line


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_checkpoint_python_load(base, case_dir, case):
    from ganforge.engine import checkpoint
    folder, _ = case_dir
    bad = folder / "step-000000009.pt"
    CHECKPOINT_CASES[case](base, bad)
    try:
        checkpoint.load(bad)
    except GanforgeError as e:
        assert str(bad) in str(e) and "\n" not in str(e)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"TRACEBACK {type(e).__name__}: {e}", pytrace=False)
    # readable files with the wrong content are refused when restored (test_checkpoint_every_one_broken)
    assert not (folder / "pwned.txt").exists() and not Path("pwned.txt").exists()


# ------------------------------------------------------------------------------------------------ config.json
@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_resume(base, case_dir, case):
    folder, cwd = case_dir
    run = _run_copy(base, folder)
    CONFIG_CASES[case](base, run / "config.json")
    _cli(["resume", run, "--quiet"], run / "config.json", cwd, allowed=run)


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_train(base, case_dir, case):
    folder, cwd = case_dir
    bad = folder / "config.json"
    CONFIG_CASES[case](base, bad)
    _cli(["train", "image", "--config", bad, "--out", cwd / "run", "--steps", "1", "--quiet"], bad, cwd,
         allowed=cwd / "run")
