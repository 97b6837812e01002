"""Augmenting a labelled set: class-folder layout, manifest, reproducible images, the CLI, bad input."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.data import load_images
from ganforge.errors import ConfigError, DataError

torch.set_num_threads(1)
TINY = dict(size=16, width=8, steps=2, batch=16, precision="fp32", threads=1, eval_every=1000,
            checkpoint_every=1000)


@pytest.fixture(scope="module")
def augmented(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    # the held-out check has its own tests (test_augment_check.py); off here, the GAN learns from all the data
    result = ganforge.augment_dataset("builtin:digits", root / "syn", per_class=3, progress=False, check=False,
                                      **TINY)
    return root, result


def test_writes_class_folders_and_a_manifest(augmented):
    root, result = augmented
    out = root / "syn"
    assert result.classes == [str(i) for i in range(10)] and result.count == 30 and result.step == 2
    assert sorted(p.name for p in out.iterdir()) == sorted([*map(str, range(10)), "manifest.csv", "report.json"])
    assert (root / "syn-run" / "model.safetensors").exists()          # the run lives beside OUT, not in it
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert len(rows) == 30 and list(rows[0]) == ["file", "class", "seed", "model", "step"]
    assert all(r["file"].startswith(r["class"] + "/") and (out / r["file"]).exists() for r in rows)
    assert len({r["seed"] for r in rows}) == 30
    # each image is the model's sample for its seed and class
    model = ganforge.load(rows[0]["model"])
    r = rows[13]
    again = model.sample(1, seed=int(r["seed"]), condition=r["class"])[0]
    assert np.array_equal(np.asarray(Image.open(out / r["file"])), again[..., 0])
    # the output reads back as a labelled set, by folders and by the manifest
    for source in (out, out / "manifest.csv"):
        data = load_images(str(source), 16)
        assert len(data) == 30 and data.class_names == [str(i) for i in range(10)]
        assert torch.bincount(data.labels).tolist() == [3] * 10


def test_cli_with_a_trained_model_and_bad_input(augmented, tmp_path):
    root, result = augmented
    runner = CliRunner()
    r = runner.invoke(app, ["augment", "--model", str(result.model), "--per-class", "2", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "o").rglob("*.png"))) == 20
    r = runner.invoke(app, ["augment", "--model", str(result.model), "--per-class", "2", "--out", str(tmp_path / "o")])
    assert r.exit_code != 0 and "is not empty" in r.output
    r = runner.invoke(app, ["augment", "--model", str(result.model), "--per-class", "0", "--out", str(tmp_path / "z")])
    assert r.exit_code != 0 and "per_class must be a positive" in r.output
    with pytest.raises(ConfigError, match="per_class must be a positive"):
        ganforge.augment_dataset("builtin:digits", tmp_path / "n", per_class=-1)
    with pytest.raises(ConfigError, match="leave out the training options"):
        ganforge.augment_dataset(out=tmp_path / "n", per_class=1, model=result.model, minutes=1)


def test_unlabelled_data_is_refused_before_training(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((16, 16), i * 20, np.uint8)).save(folder / f"{i}.png")
    with pytest.raises(DataError, match="conditional training needs labels"):
        ganforge.augment_dataset(str(folder), tmp_path / "o", per_class=2, progress=False, **TINY)
    assert not (tmp_path / "o-run" / "model.safetensors").exists()
    # an unconditional model cannot augment by class
    plain = ganforge.train("image", data="builtin:digits", out=tmp_path / "plain", progress=False, **TINY)
    with pytest.raises(ConfigError, match="not a class-conditional image model"):
        ganforge.augment_dataset(out=tmp_path / "o2", per_class=1, model=plain.path)


def test_filter_keeps_only_samples_the_classifier_assigns_to_their_class(augmented, tmp_path):
    from ganforge.metrics.features import load_features, train_domain_features

    root, _ = augmented
    clf = train_domain_features("builtin:digits", tmp_path / "clf.safetensors", size=16, epochs=2, batch=64,
                                stages=((8, 1), (16, 1)), feature_dim=16, seed=0)
    result = ganforge.augment_dataset(out=tmp_path / "f", model=root / "syn-run", per_class=2, filter=clf.path,
                                      min_confidence=0.0, progress=False)
    assert result.written is not None and 0 < result.accepted <= 1 and result.count == sum(result.written.values())
    net = load_features(clf.path)
    back = load_images(str(tmp_path / "f" / "manifest.csv"), 16, channels=1)
    pred = net.logits(back.images).argmax(1)
    names = net.meta["classes"]
    assert [names[i] for i in pred.tolist()] == [back.class_names[i] for i in back.labels.tolist()]
    strict = ganforge.augment_dataset(out=tmp_path / "g", model=root / "syn-run", per_class=2, filter=clf.path,
                                      min_confidence=0.999999, progress=False)
    assert strict.count < 20 and strict.accepted < result.accepted    # few pass; short classes are reported
    with pytest.raises(ConfigError, match="filter 'train' trains a classifier on --data"):
        ganforge.augment_dataset(out=tmp_path / "h", model=root / "syn-run", per_class=2, filter="train")
