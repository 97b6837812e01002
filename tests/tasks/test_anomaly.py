"""Anomaly detection: a tiny GANomaly separates obvious anomalies, threshold, heat maps, CLI, bad input."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.errors import ConfigError, DataError
from ganforge.tasks.anomaly import AnomalyOptions

torch.set_num_threads(1)
TINY = dict(size=16, width=8, z_dim=16, batch=32, threads=1, progress=False, eval_every=10**9,
            checkpoint_every=10**9, log_every=50)


def toy(n: int, anomalous: bool, seed: int) -> np.ndarray:
    """Normal: a soft blob near the centre. Anomalous: the same plus a bright square in the top-left corner."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:16, :16]
    out = np.empty((n, 16, 16), np.uint8)
    for i in range(n):
        cy, cx = 7.5 + rng.normal(0, 0.7, 2)
        im = 200 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8) + rng.normal(0, 5, (16, 16))
        if anomalous:
            im[1:6, 1:6] = 255
        out[i] = np.clip(im, 0, 255)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("anomaly")
    np.savez(tmp / "normal.npz", images=toy(300, False, 0))
    model = ganforge.train("anomaly", data=str(tmp / "normal.npz"), out=tmp / "run", steps=150, **TINY)
    return tmp, model


def test_scores_separate_anomalies_and_heat_map_points_at_them(trained):
    from sklearn.metrics import roc_auc_score

    _, model = trained
    normal, odd = toy(40, False, 1), toy(40, True, 2)
    images = np.concatenate([normal, odd])
    y = np.r_[np.zeros(40), np.ones(40)]
    for kind in ("latent", "recon", "mixed"):
        assert roc_auc_score(y, model.score(images, kind=kind)) > 0.95, kind
    flagged = model.predict(images)
    assert flagged[40:].mean() > 0.9 and flagged[:40].mean() < 0.3
    res = model.analyze(odd[:5])
    maps = res["maps"]
    assert maps.shape == (5, 16, 16) and res["reconstructions"].shape == (5, 1, 16, 16)
    assert maps[:, 1:6, 1:6].mean() > 3 * maps[:, 8:, 8:].mean()   # the heat is where the square is
    panel = model.heatmap_panels(res)[0]
    assert panel.dtype == np.uint8 and panel.shape[2] == 3 and panel.shape[0] >= 96
    # a reloaded model gives the same scores; float tensors and uint8 arrays agree
    again = ganforge.load(model.path)
    np.testing.assert_allclose(again.score(odd[:5]), model.score(torch.from_numpy(odd[:5, None]).float() / 127.5 - 1),
                               rtol=1e-5)
    assert model.meta["holdout_scores"]["n"] == 15 and model.threshold > 0
    assert len(list((model.path.parent / "samples").glob("step-*.png"))) == 1   # inputs / reconstructions / heat


def test_plain_autoencoder_baseline_has_no_discriminator(tmp_path, caplog):
    np.savez(tmp_path / "n.npz", images=toy(60, False, 0))
    with caplog.at_level("INFO", logger="ganforge.tasks.anomaly"):
            m = ganforge.train("anomaly", data=str(tmp_path / "n.npz"), out=tmp_path / "ae", steps=5, w_adv=0.0,
                           w_enc=0.0, score="recon", **TINY)
    # the automatic threshold is logged at the end of training (the CLI printed it before)
    assert f"automatic threshold (recon score, 95% of held-out normal images): {m.threshold:.5g}" in caplog.text
    assert set(m.nets) == {"G"} and m.nets["G"].encoder2 is None and "D" not in m.meta["nets"]
    assert m.score(toy(3, True, 1)).shape == (3,)
    with pytest.raises(ConfigError, match="plain autoencoder"):
        m.score(toy(3, True, 1), kind="latent")


def test_bad_options_and_data(tmp_path):
    with pytest.raises(ConfigError, match="score must be one of"):
        AnomalyOptions(score="best").validate()
    with pytest.raises(ConfigError, match="holdout"):
        AnomalyOptions(holdout=0.9).validate()
    with pytest.raises(ConfigError, match="needs the second encoder"):
        AnomalyOptions(w_enc=0.0).validate()
    np.savez(tmp_path / "few.npz", images=toy(6, False, 0))
    with pytest.raises(DataError, match="too few"):
        ganforge.train("anomaly", data=str(tmp_path / "few.npz"), out=tmp_path / "r", steps=1, **TINY)
    with pytest.raises(DataError, match="needs labelled data"):
        ganforge.train("anomaly", data=str(tmp_path / "few.npz"), normal_class="3", out=tmp_path / "r", steps=1, **TINY)
    with pytest.raises(DataError, match="no class 'x'"):
        ganforge.train("anomaly", data="builtin:digits", normal_class="x", out=tmp_path / "r", steps=1, **TINY)


def image_folder(folder):
    """Two normal images, one anomalous in a sub-folder and an unreadable file."""
    (folder / "sub").mkdir(parents=True)
    for i, im in enumerate(toy(2, False, 5)):
        Image.fromarray(im).save(folder / f"normal{i}.png")
    Image.fromarray(toy(1, True, 6)[0]).save(folder / "sub" / "odd.png")
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


def test_score_verb_from_python(tmp_path, trained):
    _, model = trained
    assert "score" in model.verbs()
    folder = image_folder(tmp_path / "imgs")
    msg = model.score_files(str(folder), output=tmp_path / "s.csv", heatmaps=tmp_path / "hm", threshold="auto")
    assert msg == (f"scored 3 images (latent score) -> {tmp_path / 's.csv'}; 1 above the threshold "
                   f"{model.threshold:.5g}; 3 heat maps in {tmp_path / 'hm'}")
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert [row["name"] for row in rows] == ["normal0.png", "normal1.png", "sub/odd.png"]
    assert [row["anomaly"] for row in rows] == ["0", "0", "1"]
    assert sorted(p.name for p in (tmp_path / "hm").iterdir()) == ["normal0.png", "normal1.png", "sub__odd.png"]
    # without a threshold: no 'anomaly' column; another score kind with a numeric threshold
    model.score_files(str(folder), output=tmp_path / "plain.csv")
    assert list(csv.DictReader(open(tmp_path / "plain.csv")))[0].keys() == {"name", "score"}
    assert "recon score" in model.score_files(str(folder), output=tmp_path / "r.csv", kind="recon", threshold="0.5")
    with pytest.raises(ConfigError, match="'auto' or a number"):
        model.score_files(str(folder), output=tmp_path / "x.csv", threshold="high")
    with pytest.raises(ConfigError, match="calibrated for the 'latent' score"):
        model.score_files(str(folder), output=tmp_path / "x.csv", threshold="auto", kind="recon")
    with pytest.raises(ConfigError, match="score kind must be one of"):
        model.score_files(str(folder), output=tmp_path / "x.csv", kind="best")


def test_cli_train_and_score(tmp_path, trained):
    tmp, model = trained
    run = CliRunner()
    folder = image_folder(tmp_path / "imgs")
    r = run.invoke(app, ["score", str(tmp / "run"), str(folder), "-o", str(tmp_path / "s.csv"), "--heatmaps",
                         str(tmp_path / "hm"), "--threshold", "auto"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert [row["name"] for row in rows] == ["normal0.png", "normal1.png", "sub/odd.png"]
    assert [row["anomaly"] for row in rows] == ["0", "0", "1"]
    assert sorted(p.name for p in (tmp_path / "hm").iterdir()) == ["normal0.png", "normal1.png", "sub__odd.png"]
    r = run.invoke(app, ["score", str(tmp / "run"), str(folder), "--threshold", "high", "-o", str(tmp_path / "x.csv")])
    assert r.exit_code == 1 and "--threshold must be 'auto' or a number" in r.output
    r = run.invoke(app, ["score", str(tmp / "run"), str(tmp_path / "missing"), "-o", str(tmp_path / "x.csv")])
    assert r.exit_code == 1 and "not found" in r.output
    # train through the CLI on one class of a labelled set
    r = run.invoke(app, ["train", "anomaly", "--data", "builtin:digits", "--normal-class", "0", "--out",
                         str(tmp_path / "run"), "--size", "16", "--steps", "3", "--width", "8", "--z-dim", "8",
                         "--batch", "16", "--quiet", "--threads", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "model.safetensors").is_file()
    trained_here = ganforge.load(tmp_path / "run")
    assert trained_here.meta["data"]["source"] == "builtin:digits (class 0)" and trained_here.threshold > 0
