"""Saliency task: the synthetic scenes, a few training steps, grey maps out, evaluate, the CLI, bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.data.builtin import saliency_scene, saliency_scenes
from ganforge.errors import ConfigError, DataError

torch.set_num_threads(1)
TINY = dict(crop=32, width=8, steps=3, batch=2, precision="fp32", threads=1, progress=False, eval_every=3,
            checkpoint_every=1000)


def test_synthetic_scenes_put_the_peak_on_the_salient_object():
    images, maps = saliency_scenes(6, size=48, seed=1)
    assert images.shape == (6, 48, 48, 3) and maps.shape == (6, 48, 48) and maps.dtype == np.uint8
    again, _ = saliency_scenes(3, size=48, seed=1)
    assert np.array_equal(again, images[:3])                 # a smaller n is a prefix
    cues = set()
    for i in range(12):
        image, m, info = saliency_scene(np.random.default_rng([1, i]), 48)
        cues.add(info["cue"])
        y, x = np.unravel_index(int(m.argmax()), m.shape)
        assert abs(x + 0.5 - info["cx"]) <= 1 and abs(y + 0.5 - info["cy"]) <= 1 and m.max() == 255
        if info["cue"] != "size":  # a colour target is the most saturated thing in the scene
            sat = image.max(2).astype(float) - image.min(2)
            assert sat[int(info["cy"]), int(info["cx"])] >= 0.8 * sat.max()
    assert cues == {"colour", "size", "both"}


def write_pairs(root, n=3, size=32, map_size=None):
    images, maps = saliency_scenes(n, size=size, seed=2)
    (root / "im").mkdir(parents=True)
    (root / "map").mkdir()
    for i in range(n):
        Image.fromarray(images[i]).save(root / "im" / f"s{i}.jpg")
        m = maps[i] if map_size is None else np.zeros((map_size, map_size), np.uint8)
        Image.fromarray(m).save(root / "map" / f"s{i}.png")
    return str(root / "im"), str(root / "map")


def test_trains_on_user_pairs_and_predicts_grey_maps(tmp_path):
    images, maps = write_pairs(tmp_path)
    model = ganforge.train("saliency", images=images, maps=maps, out=tmp_path / "run", **TINY)
    assert model.task == "saliency" and model.meta["nets"]["G"]["out_channels"] == 1
    grid = np.asarray(Image.open(tmp_path / "run" / "samples" / "step-000003.png"))
    assert grid.shape[1] == 3 * 32 + 4 * 2                   # image | predicted | true map
    out = model.apply(np.zeros((40, 50, 3), np.uint8))
    assert out.shape == (40, 50) and out.dtype == np.float32 and 0 <= out.min() <= out.max() <= 1
    assert np.array_equal(model.predict(np.zeros((40, 50, 3), np.uint8)), out)
    assert model.apply(Image.new("RGB", (50, 40))).mode == "L"
    assert not model.can("sample") and "eval-saliency" in model.verbs()
    scores = model.evaluate(images, maps)
    assert set(scores) == {"cc", "nss", "kl", "auc_judd", "sim", "n"} and scores["n"] == 3
    # user fixation images (non-zero = fixation) instead of the maps' peaks
    (tmp_path / "fix").mkdir()
    for i in range(3):
        f = np.zeros((32, 32), np.uint8)
        f[5, 7] = 255
        Image.fromarray(f).save(tmp_path / "fix" / f"s{i}.png")
    with_fix = model.evaluate(images, maps, fixations=str(tmp_path / "fix"))
    assert with_fix["cc"] == pytest.approx(scores["cc"]) and with_fix["nss"] != pytest.approx(scores["nss"])
    # the verb: what `ganforge eval-saliency MODEL ...` prints, and the JSON it writes
    line = model.eval_saliency(images=images, maps=maps, level=0.5, output=tmp_path / "scores.json")
    assert line.startswith("cc=") and "auc_judd=" in line and "n=3" in line and line.endswith("scores.json")
    assert json.loads((tmp_path / "scores.json").read_text())["cc"] == pytest.approx(scores["cc"])
    with pytest.raises(ConfigError, match="images and maps go together"):
        model.eval_saliency(images=images)


def test_saliency_run_defaults_are_the_old_cli_ones(tmp_path):
    from ganforge.api import resolve

    run, options = resolve("saliency", {"data": "builtin:saliency"})
    assert (run.steps, run.batch, run.beta1, run.beta2, run.eval_every) == (2000, 16, 0.5, 0.999, 200)
    assert (options.crop, options.width) == (64, 32)


def test_builtin_data_cli_train_apply_and_eval(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["train", "saliency", "--data", "builtin:saliency?n=8&size=32", "--out",
                            str(tmp_path / "run"), "--crop", "32", "--width", "8", "--steps", "2", "--batch", "2",
                            "--precision", "fp32", "--threads", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval-saliency", str(tmp_path / "run"), "--data", "builtin:saliency?n=3&size=32&seed=9",
                            "-o", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    assert "auc_judd=" in r.output and json.loads((tmp_path / "s.json").read_text())["n"] == 3
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "in.png")
    r = runner.invoke(app, ["apply", str(tmp_path / "run"), str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "o.png").mode == "L"


def test_bad_input(tmp_path):
    images, maps = write_pairs(tmp_path, map_size=20)
    with pytest.raises(DataError, match=r"s0.png: size 20x20 differs from its pair"):
        ganforge.train("saliency", images=images, maps=maps, out=tmp_path / "run", **TINY)
    with pytest.raises(ConfigError, match="images and maps go together"):
        ganforge.train("saliency", images=images, out=tmp_path / "run", **TINY)
    with pytest.raises(ConfigError, match="give one data source"):
        ganforge.train("saliency", images=images, maps=maps, data="builtin:saliency", out=tmp_path / "run", **TINY)
    with pytest.raises(DataError, match="unknown option"):
        ganforge.train("saliency", data="builtin:saliency?m=3", out=tmp_path / "run", **TINY)
    with pytest.raises(DataError, match="data must be builtin:saliency"):
        ganforge.train("saliency", data=images, out=tmp_path / "run", **TINY)
    r = CliRunner().invoke(app, ["train", "saliency", "--out", str(tmp_path / "r"), "--unknown"])
    assert r.exit_code != 0


def test_fixation_images_must_match(tmp_path):
    from ganforge.data.saliency import read_fixations

    (tmp_path / "fix").mkdir()
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(tmp_path / "fix" / "a.png")
    assert read_fixations(tmp_path / "fix", ["a.jpg"], [(8, 9)])[0].shape == (8, 9)
    with pytest.raises(DataError, match="fixation image is 9x8 but its image is 10x10"):
        read_fixations(tmp_path / "fix", ["a.jpg"], [(10, 10)])
    with pytest.raises(DataError, match="no fixation image named 'b'"):
        read_fixations(tmp_path / "fix", ["b.png"], [(8, 9)])
