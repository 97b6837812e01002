"""The three front doors (CLI, Python API, studio) are made from one registry and resolve the same runs.

- A toy task registered in this file only is a CLI command, trains from the API and the CLI, and is in
  the studio's catalog.
- For every registered task, ``ganforge train TASK --dry-run``, ``ganforge.train(TASK, dry_run=True)`` and
  the studio's dry run resolve identical configs, and every option field is reachable from the CLI and the
  studio.
- The CLI stays small and names no task.
"""
from __future__ import annotations

import ast
import dataclasses
import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

import ganforge
from ganforge import tasks
from ganforge.cli import app
from ganforge.config import option
from ganforge.engine import AdversarialTask, Phase
from ganforge.nets import registry
from ganforge.predict.base import Model

PACKAGE = Path(ganforge.__file__).parent


# ------------------------------------------------------------------ a toy task, registered here only
@registry.register
class ToyMLP(nn.Module):
    def __init__(self, n_in: int, n_out: int, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, n_out))

    def forward(self, x):
        return self.net(x)


@dataclasses.dataclass
class ToyOptions:
    data: str = option("ring", "Only 'ring': points on a ring of Gaussians.")
    modes: int = option(4, "Gaussians on the ring.")
    hidden: int = option(16, "Width of both networks.")

    def validate(self) -> None:
        if self.data != "ring":
            raise ganforge.GanforgeError(f"data: only 'ring', got {self.data!r}")


class ToyPoints(Model):
    Options = ToyOptions
    sample_suffixes = (".npy",)

    def sample(self, n, *, seed=0, condition=None):
        z = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return self.nets["G"](z).numpy()

    def write_samples(self, result, path, *, nrow=None):
        np.save(path, result)
        return [Path(path)]


class ToyTask(AdversarialTask):
    """Toy points: a tiny GAN on a ring of Gaussians (registered by a test)."""

    Options = ToyOptions
    Predictor = ToyPoints
    run_defaults = {"steps": 7, "batch": 32, "beta1": 0.5, "eval_every": 1000}

    def __init__(self, options: ToyOptions, seed: int = 0, progress=None):
        options.validate()
        self.options = options
        self.modules = {"G": ToyMLP(2, 2, options.hidden), "D": ToyMLP(2, 1, options.hidden)}
        self.phases = [Phase("D", "D"), Phase("G", "G")]

    def sample_batch(self, batch, gen, device):
        angle = torch.randint(self.options.modes, (batch,), generator=gen) * (2 * math.pi / self.options.modes)
        return torch.stack([angle.cos(), angle.sin()], 1) + 0.05 * torch.randn(batch, 2, generator=gen)

    def loss(self, phase, batch, nets, gen):
        z = torch.randn(batch.shape[0], 2, generator=gen)
        if phase == "D":
            real, fake = nets["D"](batch), nets["D"](nets["G"](z).detach())
            return nn.functional.softplus(-real).mean() + nn.functional.softplus(fake).mean(), {}
        return nn.functional.softplus(-nets["D"](nets["G"](z))).mean(), {}

    def data_description(self):
        return {"source": "ring", "n": 0}

    def export(self, nets, ema):
        tensors, specs = registry.export({"G": ema if ema is not None else nets["G"]})
        return tensors, {"nets": specs, "options": dataclasses.asdict(self.options)}


@pytest.fixture
def toy_task():
    tasks.register("toy-points")(ToyTask)
    yield "toy-points"
    tasks._TASKS.pop("toy-points", None)


def test_a_task_registered_in_a_test_is_a_command_trains_everywhere_and_is_in_the_studio(toy_task, tmp_path):
    runner = CliRunner()
    listing = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0 and "toy-points" in listing.output
    flags = runner.invoke(app, ["train", "toy-points", "--help"], env={"COLUMNS": "200"}).output
    assert "--modes" in flags and "--hidden" in flags and "--dry-run" in flags and "--devices" in flags

    model = ganforge.train("toy-points", out=tmp_path / "api", progress=False, threads=1)
    assert isinstance(model, ToyPoints) and model.meta["step"] == 7 and model.sample(5).shape == (5, 2)
    assert model.meta["config"]["run"]["beta1"] == 0.5          # the task's run defaults apply

    r = runner.invoke(app, ["train", "toy-points", "--out", str(tmp_path / "cli"), "--steps", "3", "--modes", "3",
                            "--quiet", "--threads", "1"])
    assert r.exit_code == 0, r.output
    loaded = ganforge.load(tmp_path / "cli")
    assert loaded.meta["step"] == 3 and loaded.options.modes == 3
    r = runner.invoke(app, ["sample", str(tmp_path / "cli"), "--n", "4", "-o", str(tmp_path / "p.npy")])
    assert r.exit_code == 0, r.output and np.load(tmp_path / "p.npy").shape == (4, 2)
    r = runner.invoke(app, ["sample", str(tmp_path / "cli"), "--psi", "0.7", "-o", str(tmp_path / "p.npy")])
    assert r.exit_code == 1 and "does not take 'psi'" in r.output
    r = runner.invoke(app, ["apply", str(tmp_path / "cli"), str(tmp_path / "p.npy"), "-o", str(tmp_path / "q")])
    assert r.exit_code == 1 and "cannot be applied" in r.output

    pytest.importorskip("fastapi")
    from ganforge.studio import catalog
    entry = next(t for t in catalog.catalog() if t["name"] == "toy-points")
    assert [f["name"] for f in entry["fields"]] == ["modes", "hidden"]
    assert entry["fields"][0]["help"] == "Gaussians on the ring."
    assert next(f for f in entry["run_fields"] if f["name"] == "steps")["default"] == 7


# ------------------------------------------------------------------ every task: one resolved config
def _pairs_zip() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(4):
            a = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
            png = io.BytesIO()
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(png, "PNG")
            zf.writestr(f"p/{i}.png", png.getvalue())
    return buf.getvalue()


def _photos_zip() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            png = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)).save(png, "PNG")
            zf.writestr(f"ph/{i}.png", png.getvalue())
    return buf.getvalue()


def _table_csv() -> bytes:
    rng = np.random.default_rng(0)
    rows = [f"{rng.integers(18, 80)},{rng.choice(['F', 'M'])},{rng.normal(50, 10):.2f}" for _ in range(60)]
    return ("age,sex,income\n" + "\n".join(rows) + "\n").encode()


def _classifier(path: Path) -> str:
    torch.manual_seed(0)
    torch.jit.script(nn.Sequential(nn.Flatten(), nn.Linear(256, 10))).save(str(path))
    return str(path)


# per task: (options beyond the data, uploaded data set as (bytes, filename, kind) or a builtin source)
INPUTS = {
    "anomaly": ({"size": 16, "limit": 100}, "builtin:digits"),
    "blend": ({"size": 16}, "builtin:shapes?n=40"),
    "image": ({"size": 16, "limit": 100}, "builtin:digits"),
    "purifier": ({"size": 16, "channels": 1, "limit": 100, "classifier": "{classifier}"}, "builtin:digits"),
    "restore": ({"kind": "denoise", "crop": 32}, (_photos_zip, "ph.zip", "images")),
    "saliency": ({"crop": 32}, "builtin:saliency?n=8&size=32"),
    "series": ({}, "builtin:sines"),
    "table": ({"target": "sex"}, (_table_csv, "t.csv", "table")),
    "text2image": ({"size": 16}, "builtin:scenes?n=20"),
    "translate": ({"crop": 32}, (_pairs_zip, "p.zip", "pairs")),
    "video": ({"size": 16}, "builtin:moving_digits?n=16"),
    "voxels": ({}, "builtin:objects?n=8"),
}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from ganforge.studio.app import Settings, create_app

    ws = tmp_path_factory.mktemp("doors") / "ws"
    with TestClient(create_app(Settings(workspace=ws, workers=1))) as client:
        client.tmp = tmp_path_factory.mktemp("doors-data")
        yield client


def _cli_flags(kwargs: dict) -> list[str]:
    out = []
    for k, v in kwargs.items():
        flag = "--" + k.replace("_", "-")
        out += [flag if v else f"--no-{flag[2:]}"] if isinstance(v, bool) else [flag, str(v)]
    return out


def _comparable(config: dict) -> dict:
    config = json.loads(json.dumps(config, default=str))
    config["run"].pop("out")
    return config


@pytest.mark.parametrize("task", sorted(INPUTS))
def test_cli_api_and_studio_resolve_the_same_run(task, studio):
    assert set(tasks.names()) <= set(INPUTS) | {"toy-points"}, "add the new task to INPUTS"
    options, data = INPUTS[task]
    options = {k: (v.format(classifier=_classifier(studio.tmp / "c.pt")) if isinstance(v, str) else v)
               for k, v in options.items()}
    body = {"task": task, "preset": "custom", "options": options, "dry_run": True}
    if isinstance(data, str):
        body["data"] = data
    else:
        make, filename, kind = data
        ds = studio.post("/api/datasets", params={"kind": kind, "filename": filename}, content=make())
        assert ds.status_code in (200, 201), ds.text
        body["dataset_id"] = ds.json()["id"]
    r = studio.post("/api/runs", json=body)
    assert r.status_code == 201, r.text
    from_studio = r.json()
    # the same data for the CLI and the API: where the studio stored the upload (or the builtin source)
    given = dict(options, **{k: from_studio["options"][k] for k in ("data", "pairs", "a", "b")
                             if from_studio["options"].get(k) is not None})
    from_api = ganforge.train(task, out="runs/x", dry_run=True, **given)
    r = CliRunner().invoke(app, ["train", task, "--dry-run", "--out", "runs/x", *_cli_flags(given)])
    assert r.exit_code == 0, r.output
    from_cli = json.loads(r.output)
    assert _comparable(from_cli) == _comparable(from_api) == _comparable(from_studio)


def test_every_option_field_is_reachable_from_the_cli_and_the_studio():
    pytest.importorskip("fastapi")
    from ganforge.cli.train import task_fields
    from ganforge.studio import catalog

    runner = CliRunner()
    for name in tasks.names():
        option_fields, run_fields = task_fields(name)
        text = runner.invoke(app, ["train", name, "--help"], env={"COLUMNS": "250"}).output
        for f in option_fields + run_fields:
            assert "--" + f["name"].replace("_", "-") in text, f"{name}: --{f['name']} missing from the CLI"
            assert f["help"], f"{name}: field {f['name']!r} has no help text"
        studio = catalog.describe_task(name)
        offered = {f["name"] for f in studio["fields"]} | {"data"}
        assert {f["name"] for f in option_fields} <= offered, name


# ------------------------------------------------------------------ the CLI stays a thin front door
def test_the_cli_is_small_and_names_no_task():
    files = sorted((PACKAGE / "cli").glob("*.py"))
    assert sum(len(f.read_text().splitlines()) for f in files) < 700
    # data set kinds ("table", "series") are a vocabulary of their own that happens to share two words
    names = set(tasks.names()) - {tasks.get(n).data_kind for n in tasks.names()}
    for folder in ("cli", "studio"):
        for f in sorted((PACKAGE / folder).rglob("*.py")):
            literals = {n.value for n in ast.walk(ast.parse(f.read_text())) if isinstance(n, ast.Constant)
                        and isinstance(n.value, str)}
            assert not literals & names, f"{f.relative_to(PACKAGE)} names tasks {sorted(literals & names)}"
    kinds = {tasks.get(n).data_kind for n in tasks.names()} - {None}
    for kind in kinds:  # the studio preselects one application per data kind, told by the tasks
        assert sum(tasks.get(n).primary and tasks.get(n).data_kind == kind for n in tasks.names()) == 1, kind
    js = (PACKAGE / "studio" / "static" / "app.js").read_text()
    assert not [n for n in names if f'"{n}"' in js], "the studio page names a task"
