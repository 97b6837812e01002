"""The held-out gain check of augment_dataset / `ganforge augment`: the split, that the GAN never sees the
held-out images, the report, --no-check, --model with and without --data, and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import ganforge
from ganforge import artifact
from ganforge.cli.app import app
from ganforge.data import ImageSet, load_images
from ganforge.errors import ConfigError, DataError
from ganforge.recipes import heldout_gain
from ganforge.recipes.heldout_gain import mcnemar_p, measure_gain, split_holdout, verdict

torch.set_num_threads(1)
TINY = dict(size=16, width=8, steps=2, batch=16, precision="fp32", threads=1, eval_every=1000,
            checkpoint_every=1000)


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    root = tmp_path_factory.mktemp("check")
    result = ganforge.augment_dataset("builtin:digits", root / "syn", per_class=4, progress=False, check_steps=20,
                                      **TINY)
    return root, result


def test_split_is_stratified_seeded_and_disjoint():
    labels = torch.tensor([0] * 50 + [1] * 12 + [2] * 3)
    names = ["a", "b", "c"]
    train, held = split_holdout(labels, names, fraction=0.2, seed=3)
    assert torch.bincount(labels[held], minlength=3).tolist() == [10, 2, 1]    # 20% of each class, at least 1
    assert not set(train.tolist()) & set(held.tolist()) and len(train) + len(held) == len(labels)
    again, held2 = split_holdout(labels, names, fraction=0.2, seed=3)
    assert torch.equal(held, held2) and torch.equal(train, again)
    assert not torch.equal(held, split_holdout(labels, names, fraction=0.2, seed=4)[1])
    # never takes a class below what the GAN needs; says which class when it cannot hold one out
    _, held = split_holdout(labels[:62], names[:2], fraction=0.2, seed=0, min_train=11)
    assert torch.bincount(labels[:62][held]).tolist() == [10, 1]
    with pytest.raises(DataError, match="class 'c' has 3 images, too few"):
        split_holdout(labels, names, fraction=0.2, seed=0, min_train=3)
    with pytest.raises(ConfigError, match="holdout must be a fraction"):
        split_holdout(labels, names, fraction=1.0)


def test_the_gan_never_sees_the_held_out_images_and_the_report_says_what_helped(checked):
    root, result = checked
    run = root / "syn-run"
    full = load_images("builtin:digits", 16)
    held = torch.tensor(json.loads((run / "heldout.json").read_text())["held_out_indices"])
    train = torch.from_numpy(np.setdiff1d(np.arange(len(full)), held.numpy()))
    assert len(held) == sum(max(1, round(0.2 * int(n))) for n in torch.bincount(full.labels))
    # the GAN learnt from exactly the other images: its training data is the split file, and nothing else
    split = load_images(str(run / "train-split.npz"), 16)
    assert split.class_names == full.class_names and torch.equal(split.images, full.images[train])
    assert torch.equal(split.labels, full.labels[train])
    meta = artifact.read_meta(run / "model.safetensors")
    assert meta["data"]["fingerprint"] == split.fingerprint != full.fingerprint
    assert meta["data"]["n"] == len(full) - len(held)
    c = result.check
    assert c is not None and c.held_out == len(held) and c.train == len(train) and c.synthetic == 40
    assert 0 <= c.real_accuracy <= 1 and 0 <= c.augmented_accuracy <= 1
    assert c.gain == pytest.approx(100 * (c.augmented_accuracy - c.real_accuracy), abs=0.01)
    assert c.better - c.worse == round((c.augmented_accuracy - c.real_accuracy) * c.held_out)
    report = json.loads((root / "syn" / "report.json").read_text())
    assert report["check"]["real_accuracy"] == round(c.real_accuracy, 5)
    assert report["check"]["augmented_accuracy"] == round(c.augmented_accuracy, 5)
    assert report["check"]["verdict"] == c.verdict and f"on {len(held)} held-out images" in c.verdict
    assert report["split"]["held_out"] == len(held) and report["split"]["fingerprint"] == full.fingerprint
    # the report does not turn OUT into something else: it still reads back as the synthetic classes
    assert len(load_images(str(root / "syn"), 16)) == 40


def test_filter_classifier_learns_from_the_training_split_only(tmp_path, monkeypatch):
    import ganforge.metrics.features as features

    seen = {}

    class Stop(Exception):
        pass

    def fake(data, *args, **kwargs):
        seen["n"], seen["fingerprint"] = len(data), data.fingerprint
        raise Stop

    monkeypatch.setattr(features, "train_domain_features", fake)
    with pytest.raises(Stop):
        ganforge.augment_dataset("builtin:digits", tmp_path / "o", per_class=1, progress=False, filter="train", **TINY)
    split = load_images(str(tmp_path / "o-run" / "train-split.npz"), 16)
    assert seen == {"n": len(split), "fingerprint": split.fingerprint}


def test_the_check_sees_harm_done_by_mislabelled_synthetic_images():
    full = load_images("builtin:digits", 16)
    train, held = split_holdout(full.labels, full.class_names, fraction=0.5, seed=0)
    small = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:200]]
    sub = lambda idx: ImageSet(full.images[idx], full.labels[idx], full.class_names, "digits")  # noqa: E731
    # "synthetic" images that are real digits with the wrong class: pure label noise, weighted heavily
    wrong = (full.labels[train] + 1 + torch.randint(0, 9, (len(train),), generator=torch.Generator().manual_seed(1))) % 10
    bad = measure_gain(sub(small), sub(held), (full.images[train], wrong), synthetic_weight=3.0, steps=120)
    assert bad.gain < -5 and not bad.helped and "did not help" in bad.verdict and bad.worse > bad.better
    good = measure_gain(sub(small), sub(held), (full.images[train], full.labels[train]), synthetic_weight=1.0,
                        steps=120)
    assert good.gain > bad.gain and good.augmented_accuracy > bad.augmented_accuracy


def test_verdict_and_mcnemar():
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(3, 3) == 1.0
    assert mcnemar_p(10, 0) == pytest.approx(2 / 1024) and mcnemar_p(0, 10) == mcnemar_p(10, 0)
    assert verdict(1.3, 0.01, 120) == (True, "synthetic images helped: +1.3 points on 120 held-out images")
    helped, text = verdict(0.8, 0.5, 120)
    assert not helped and "did not clearly help" in text and "+0.8 points on 120 held-out images" in text
    assert verdict(-0.8, 0.5, 120) == (False, "synthetic images did not help on your data (-0.8 points on 120 "
                                              "held-out images): use real + shifts")


def test_cli_no_check_model_with_and_without_data_and_bad_input(checked, tmp_path):
    root, result = checked
    runner = CliRunner()
    base = ["augment", "--size", "16", "--width", "8", "--steps", "2", "--batch", "16", "--precision", "fp32",
            "--threads", "1", "--quiet"]
    r = runner.invoke(app, [*base, "--data", "builtin:digits", "--per-class", "1", "--out", str(tmp_path / "n"),
                            "--no-check"])
    assert r.exit_code == 0, r.output
    assert "held-out check was turned off" in r.output and "did not help" not in r.output
    assert not (tmp_path / "n-run" / "heldout.json").exists()
    assert json.loads((tmp_path / "n" / "report.json").read_text())["check"] is None
    assert artifact.read_meta(tmp_path / "n-run" / "model.safetensors")["data"]["n"] == len(load_images("builtin:digits", 16))
    # a trained model without --data: no check, and the command says so
    r = runner.invoke(app, ["augment", "--model", str(result.model), "--per-class", "1", "--out", str(tmp_path / "m")])
    assert r.exit_code == 0 and "no held-out check" in r.output and "--data" in r.output
    # with --data: the split its run recorded is reused, so the GAN never saw the held-out images
    r = runner.invoke(app, ["augment", "--model", str(result.model), "--data", "builtin:digits", "--per-class", "1",
                            "--check-steps", "5", "--out", str(tmp_path / "d"), "--quiet"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert "real + shifts" in lines[-3] and "heldout.json" in lines[-2] and lines[-1].startswith("synthetic images")
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert report["split"]["held_out"] == result.check.held_out
    # bad input: one line each, no traceback
    for args, text in [(["--holdout", "0"], "holdout must be a fraction"),
                       (["--synthetic-weight", "-1"], "synthetic_weight must be a positive"),
                       (["--check-steps", "0"], "check_steps must be a positive")]:
        r = runner.invoke(app, [*base, "--data", "builtin:digits", "--per-class", "1", "--out", str(tmp_path / "x"),
                                *args])
        assert r.exit_code != 0 and text in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "x-run").exists()
    r = runner.invoke(app, ["augment", "--model", str(result.model), "--data", "builtin:shapes?n=40",
                            "--per-class", "1", "--out", str(tmp_path / "s")])
    assert r.exit_code != 0 and "the check needs the same classes" in r.output
    with pytest.raises(ConfigError, match="--data only serves the held-out check"):
        ganforge.augment_dataset("builtin:digits", tmp_path / "y", per_class=1, model=result.model, check=False)
    with pytest.raises(ConfigError, match="leave out the training options"):
        ganforge.augment_dataset(out=tmp_path / "y", per_class=1, model=result.model, steps=3)


def test_a_class_too_small_to_hold_out_is_refused_before_training(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (21, 16, 16), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", images=x, labels=np.array([0] * 11 + [1] * 10))
    with pytest.raises(DataError, match="class '1' has 10 images, too few to hold one out"):
        ganforge.augment_dataset(str(tmp_path / "d.npz"), tmp_path / "o", per_class=1, progress=False, **TINY)
    assert not (tmp_path / "o-run").exists()
    # without the check the same data trains (10 per class is the conditional GAN's minimum)
    r = ganforge.augment_dataset(str(tmp_path / "d.npz"), tmp_path / "o", per_class=1, progress=False, check=False,
                                 **TINY)
    assert r.check is None and r.count == 2
    assert heldout_gain.HOLDOUT == 0.2
