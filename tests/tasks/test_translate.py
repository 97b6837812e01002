"""Translation: pix2pix and CycleGAN train a few steps, sample grids, apply on any size, the CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.errors import ConfigError, DataError
from tests.shared import DATA, needs

torch.set_num_threads(1)
TINY = dict(crop=32, width=8, steps=4, batch=2, precision="fp32", threads=1, progress=False, eval_every=2,
            checkpoint_every=1000)


def pairs_folder(path, n=4, h=40, w=48):
    """Side-by-side A|B images where B is A's colour negative (a learnable mapping)."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(path / f"{i}.png")
    return path


def test_pix2pix_trains_writes_grids_and_applies_any_size(tmp_path):
    model = ganforge.train("translate", pairs=str(pairs_folder(tmp_path / "p")), out=tmp_path / "run", **TINY)
    grid = np.asarray(Image.open(tmp_path / "run" / "samples" / "step-000004.png"))
    assert grid.shape[1] == 3 * 32 + 4 * 2          # input | output | target
    assert model.task == "translate" and model.meta["step"] == 4
    out = model.apply(np.zeros((45, 70, 3), np.uint8))
    assert out.shape == (45, 70, 3) and out.dtype == np.uint8
    tiled = model.apply(np.full((45, 70, 3), 128, np.uint8), tile=32)
    assert tiled.shape == (45, 70, 3)
    with pytest.raises(ConfigError, match="option 'mask' is not known to a model of task 'translate'"):
        model.apply(np.zeros((8, 8, 3), np.uint8), mask="m.png")
    pil = model.apply(Image.new("RGB", (33, 17)))
    assert isinstance(pil, Image.Image) and pil.size == (33, 17)


def test_cyclegan_on_shuffled_halves(tmp_path):
    src = pairs_folder(tmp_path / "p", n=4)
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    order = [1, 2, 3, 0]                              # a derangement: no pair survives
    for i, f in enumerate(sorted(src.iterdir())):
        im = np.asarray(Image.open(f))
        Image.fromarray(im[:, :48]).save(tmp_path / "A" / f"a{i}.png")
        Image.fromarray(np.asarray(Image.open(src / f"{order[i]}.png"))[:, 48:]).save(tmp_path / "B" / f"b{i}.png")
    with pytest.raises(DataError, match="no file of the same name"):
        ganforge.train("translate", a=str(tmp_path / "A"), b=str(tmp_path / "B"), out=tmp_path / "x", **TINY)
    model = ganforge.train("translate", a=str(tmp_path / "A"), b=str(tmp_path / "B"), unpaired=True,
                           out=tmp_path / "run", pool_size=2, **TINY)
    grid = np.asarray(Image.open(tmp_path / "run" / "samples" / "step-000004.png"))
    assert grid.shape[0] == 8 * 32 + 9 * 2           # 4 A rows and 4 B rows
    x = np.zeros((20, 30, 3), np.uint8)
    assert model.apply(x).shape == model.apply(x, direction="BtoA").shape == (20, 30, 3)
    assert model.meta["nets"]["G"]["class"] == "tasks.translate.CycleGenerators"   # rebuilt by the registry
    assert model.apply_options == ("tile", "compare", "direction")
    assert not model.can("sample") and model.capabilities()["apply"]


def test_translate_run_defaults_are_the_old_cli_ones(tmp_path):
    from ganforge.api import resolve

    run, options = resolve("translate", {"pairs": str(tmp_path)})
    assert (run.steps, run.batch, run.beta1, run.beta2, run.eval_every) == (2000, 4, 0.5, 0.999, 200)
    assert options.direction == "AtoB" and options.crop == 128


def test_bad_files_among_pairs_are_skipped_and_listed(tmp_path):
    from ganforge.data.pairs import read_matched, read_side_by_side

    p = pairs_folder(tmp_path / "p")
    (p / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((8, 9, 3), np.uint8)).save(p / "odd.png")
    s = read_side_by_side(p)
    assert len(s) == 4 and sorted(f.rsplit("/", 1)[-1] for f, _ in s.skipped) == ["broken.png", "odd.png"]
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), i * 40, np.uint8)).save(a / f"{i}.png")
        Image.fromarray(np.full((32 if i < 2 else 30, 32, 3), 9, np.uint8)).save(b / f"{i}.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(a / "alone.png")
    m = read_matched(a, b)
    assert m.a.names == ["0", "1"] and [r for _, r in m.skipped][0].startswith("no file of the same name")
    assert "differs from its pair" in m.skipped[1][1]
    model = ganforge.train("translate", a=str(a), b=str(b), out=tmp_path / "run", **TINY)
    assert model.meta["step"] == 4


def test_translate_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="give the data"):
        ganforge.train("translate", out=tmp_path / "r", **TINY)
    with pytest.raises(ConfigError, match="direction must be one of AtoB, BtoA"):
        ganforge.train("translate", pairs=str(tmp_path), direction="up", out=tmp_path / "r", **TINY)
    with pytest.raises(DataError, match=r"0\.png: image is 48x40, smaller than the crop 64x64"):
        ganforge.train("translate", pairs=str(pairs_folder(tmp_path / "p")), out=tmp_path / "r", **dict(TINY, crop=64))


def test_cli_train_translate_and_apply_folder(tmp_path):
    runner = CliRunner()
    pairs = pairs_folder(tmp_path / "p", n=3)
    r = runner.invoke(app, ["train", "translate", "--pairs", str(pairs), "--out", str(tmp_path / "run"), "--crop", "32",
                            "--width", "8", "--steps", "2", "--batch", "2", "--precision", "fp32", "--quiet"])
    assert r.exit_code == 0, r.output
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.new("RGB", (50, 30)).save(tmp_path / "in" / "one.jpg")
    Image.new("RGB", (20, 20)).save(tmp_path / "in" / "sub" / "two.png")
    r = runner.invoke(app, ["apply", str(tmp_path / "run"), str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                            "--compare", "--tile", "32"])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "out" / "one.png").size == (50 + 4 + 50, 30)   # input | output
    assert (tmp_path / "out" / "sub" / "two.png").exists()
    r = runner.invoke(app, ["apply", str(tmp_path / "run"), str(tmp_path / "in"), "-o", str(tmp_path / "o2"),
                            "--mask", str(tmp_path / "in" / "one.jpg")])
    assert r.exit_code == 1 and "option 'mask' is not known" in r.output


def test_apply_rejects_a_model_without_apply_path(tmp_path):
    ganforge.train("series", data="builtin:sines?n=32", out=tmp_path / "s", steps=2, batch=8, hidden=8,
                   precision="fp32", progress=False, eval_every=1000, checkpoint_every=1000)
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    r = CliRunner().invoke(app, ["apply", str(tmp_path / "s"), str(tmp_path / "x.png"), "-o", str(tmp_path / "y.png")])
    assert r.exit_code == 1 and "a 'series' model cannot be applied to files; it can: sample" in r.output


@needs(DATA / "facades")
def test_facades_label_to_photo_steps(tmp_path):
    model = ganforge.train("translate", pairs=str(DATA / "facades" / "test"), limit=4, direction="BtoA",
                           out=tmp_path / "run", **dict(TINY, crop=64))
    out = model.apply_path(DATA / "facades" / "test" / "1.jpg", tmp_path / "o.png")
    assert Image.open(out[0]).size == (512, 256)


@needs(DATA / "facades")
def test_cyclegan_on_facades_halves_with_no_pair_left(tmp_path):
    from ganforge.data.pairs import read_side_by_side

    pairs = read_side_by_side(DATA / "facades" / "test", limit=4)
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    for i in range(4):
        Image.fromarray(pairs.a.images[i]).save(tmp_path / "A" / f"{i}.png")
        Image.fromarray(pairs.b.images[(i + 1) % 4]).save(tmp_path / "B" / f"{i}.png")   # shifted: no pair survives
    model = ganforge.train("translate", a=str(tmp_path / "A"), b=str(tmp_path / "B"), unpaired=True,
                           out=tmp_path / "run", **TINY)
    assert model.apply(pairs.a.images[0][:100, :90]).shape == (100, 90, 3)
