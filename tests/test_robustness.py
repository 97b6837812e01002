"""Attacks (FGSM, PGD) on a tiny trained classifier, the evaluation table, the purifier task and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.data import load_images
from ganforge.errors import CheckpointError, ConfigError, DataError
from ganforge.metrics.robustness import Classifier, evaluate, fgsm, load_classifier, pgd, table
from ganforge.tasks.purifier import PurifierModel

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(scope="module")
def digits():
    d = load_images("builtin:digits", 16)
    return d.images.float() / 127.5 - 1, d.labels


@pytest.fixture(scope="module")
def scripted(tmp_path_factory, digits):
    """A linear classifier on 16x16 digits (~95% accurate), saved as TorchScript."""
    x, y = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(256, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    path = tmp_path_factory.mktemp("clf") / "linear.pt"
    torch.jit.script(net.eval()).save(str(path))
    return path


def test_attacks_lower_accuracy_and_respect_eps(scripted, digits):
    x, y = digits
    clf = load_classifier(scripted, size=16, channels=1)
    x, y = x[:400], y[:400]
    acc = lambda images: float((clf(images).argmax(1) == y).float().mean())  # noqa: E731
    clean = acc(x)
    assert clean > 0.9
    for eps in (0.05, 0.1):
        a_f = fgsm(clf, x, y, eps)
        a_p = pgd(clf, x, y, eps, steps=10, gen=torch.Generator().manual_seed(0))
        for adv in (a_f, a_p):
            assert float((adv - x).abs().max()) <= 2 * eps + 1e-5   # L-inf, [0, 1] scale -> x2 in [-1, 1]
            assert adv.min() >= -1 and adv.max() <= 1
        assert acc(a_f) < clean - 0.15 and acc(a_p) <= acc(a_f) + 0.02
    per_image = fgsm(clf, x[:4], y[:4], torch.tensor([0.0, 0.1, 0.0, 0.2]))
    assert torch.equal(per_image[0], x[0]) and float((per_image[3] - x[3]).abs().max()) > 0.3
    report = evaluate(clf, x, y, attacks=["fgsm"], eps=[0.1], batch=150)
    assert report["clean"] == pytest.approx(clean) and report["rows"][0]["purified"] is None
    assert "fgsm" in table(report)


def test_bad_inputs(scripted, digits, tmp_path):
    x, y = digits
    with pytest.raises(ConfigError, match="input size and channels"):
        load_classifier(scripted)
    with pytest.raises(CheckpointError, match="no such classifier"):
        load_classifier(tmp_path / "nope.pt", 16, 1)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="TorchScript"):
        load_classifier(tmp_path / "junk.pt", 16, 1)
    clf = load_classifier(scripted, size=16, channels=1)
    with pytest.raises(ConfigError, match="eps must be"):
        fgsm(clf, x[:2], y[:2], 1.5)
    with pytest.raises(ConfigError, match="unknown attack"):
        evaluate(clf, x[:2], y[:2], attacks=["cw"])
    with pytest.raises(DataError, match="labels outside"):
        evaluate(clf, x[:2], torch.tensor([0, 12]))


def test_domain_classifier_file(tmp_path, digits):
    from ganforge.metrics.features import train_domain_features

    train_domain_features("builtin:digits", tmp_path / "c.safetensors", size=16, epochs=0.2, stages=((4, 1),),
                          feature_dim=8, threads=1)
    clf = load_classifier(tmp_path / "c.safetensors")
    assert isinstance(clf, Classifier) and clf.classes == [str(i) for i in range(10)]
    assert clf(digits[0][:3]).shape == (3, 10)
    np.savez(tmp_path / "u.npz", images=np.zeros((40, 16, 16), np.uint8) + np.arange(40)[:, None, None].astype(np.uint8))
    train_domain_features(str(tmp_path / "u.npz"), tmp_path / "rot.safetensors", epochs=0.2, stages=((4, 1),),
                          feature_dim=8, threads=1)
    with pytest.raises(CheckpointError, match="no class logits"):
        load_classifier(tmp_path / "rot.safetensors")


def test_purifier_train_purify_and_cli(scripted, digits, tmp_path):
    x, y = digits
    model = ganforge.train("purifier", classifier=str(scripted), size=16, channels=1, data="builtin:digits",
                           out=tmp_path / "pur", steps=40, batch=32, width=8, threads=1, progress=False,
                           eval_every=10**9, checkpoint_every=10**9)
    out = model.purify(x[:5])
    assert out.shape == (5, 1, 16, 16) and out.min() >= -1 and out.max() <= 1
    assert model.meta["classifier"]["input_size"] == 16 and model.meta["data"]["labels"] == "data"
    with pytest.raises(DataError, match="expected"):
        model.purify(torch.zeros(2, 3, 16, 16))
    # the 'robustness' verb from Python, with this purifier and without one (self None: the classifier alone)
    text = model.robustness(classifier=scripted, size=16, channels=1, data="builtin:digits", attack="fgsm", eps="0.1",
                            n=60, output=tmp_path / "v.json")
    assert "after purification" in text and text.endswith(f"wrote {tmp_path / 'v.json'}")
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["n"] == 60 and report["rows"][0]["purified"] is not None
    bare = PurifierModel.verbs()["robustness"]
    assert bare.__ganforge_verb__["model"] == "optional" and bare.__ganforge_verb__["model_flag"] == "--purifier"
    text = bare(None, classifier=scripted, size=16, channels=1, data="builtin:digits", attack="fgsm", eps="0.1", n=60)
    assert "after purification" not in text and "fgsm" in text
    with pytest.raises(ConfigError, match="give --purifier"):
        bare(None, classifier=scripted, size=16, channels=1, data="builtin:digits", white_box=True)
    with pytest.raises(TypeError, match="'classifier'"):           # a required flag in the CLI
        bare(None, data="builtin:digits")
    with pytest.raises(ConfigError, match="comma list"):
        bare(None, classifier=scripted, size=16, channels=1, data="builtin:digits", eps="a,b")
    run = CliRunner()
    r = run.invoke(app, ["robustness", "--classifier", str(scripted), "--size", "16", "--channels", "1", "--data",
                         "builtin:digits", "--purifier", str(tmp_path / "pur"), "--eps", "0.1", "--n", "100",
                         "--pgd-steps", "5", "--white-box", "-o", str(tmp_path / "r.json")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "after purification" in r.output and "pgd" in r.output and (tmp_path / "r.json").is_file()
    np.savez(tmp_path / "nolabels.npz", images=np.zeros((10, 16, 16), np.uint8))
    r = run.invoke(app, ["robustness", "--classifier", str(scripted), "--size", "16", "--channels", "1",
                         "--data", str(tmp_path / "nolabels.npz")])
    assert r.exit_code == 1 and "need labels" in r.output
    r = run.invoke(app, ["robustness", "--classifier", str(scripted), "--size", "16", "--channels", "1",
                         "--data", "builtin:digits", "--eps", "a,b"])
    assert r.exit_code == 1 and "comma list" in r.output
    r = run.invoke(app, ["score", str(tmp_path / "pur"), "builtin:digits"])
    assert r.exit_code == 1 and "cannot score" in r.output
    r = run.invoke(app, ["train", "purifier", "--classifier", str(tmp_path / "pur" / "model.safetensors"),
                         "--data", "builtin:digits", "--out", str(tmp_path / "p2"), "--steps", "1"])
    assert r.exit_code == 1 and "not a classifier" in r.output
