"""Anomaly detection's f-AnoGAN and nearest-neighbour scores, the held-out check and old model files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import ganforge
from ganforge.errors import ConfigError
from ganforge.nets.autoencoder import FeatureBank, FeatureDiscriminator
from ganforge.tasks.anomaly import AnomalyOptions, compute_scores, synthetic_anomalies
from .test_anomaly import toy

torch.set_num_threads(1)
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "anomaly_before_fanogan"
TINY = dict(size=16, width=8, z_dim=16, batch=32, threads=1, progress=False, eval_every=10**9,
            checkpoint_every=10**9, log_every=50)


class HalfG(nn.Module):
    """x_hat = x / 2; z = z_hat = 0."""

    def forward(self, x):
        z = x.new_zeros(x.shape[0], 2)
        return x / 2, z, z


class DoublingD(nn.Module):
    """Features f(x) = 2x; a logit of 0."""

    def forward(self, x):
        return x.new_zeros(x.shape[0], 1), 2 * x


def test_fanogan_score_is_pixel_residual_plus_kappa_feature_residual():
    x = torch.tensor([[[[0.5, -1.0], [1.0, 0.0]]]])  # mean x^2 = 2.25 / 4
    out = compute_scores(HalfG(), x, D=DoublingD(), kappa=2.0)
    m = 2.25 / 4
    # residual: mean (x - x/2)^2 = m/4; feature residual: mean (2x - x)^2 = m
    np.testing.assert_allclose(out["residual"], [m / 4], rtol=1e-6)
    np.testing.assert_allclose(out["feature_residual"], [m], rtol=1e-6)
    np.testing.assert_allclose(out["fanogan"], [m / 4 + 2.0 * m], rtol=1e-6)
    assert "knn" not in out and "fanogan" not in compute_scores(HalfG(), x)


def test_feature_bank_gives_the_k_nearest_distances():
    bank = FeatureBank(n=3, dim=2, k=1)
    bank.features.copy_(torch.tensor([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]]).half())
    q = torch.tensor([[0.0, 1.0], [3.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(bank(q).numpy(), [1.0, 3.0, 0.0], atol=1e-3)
    bank.k = 2
    np.testing.assert_allclose(bank(torch.zeros(1, 2)).numpy(), [2.5], atol=1e-3)   # (0 + 5) / 2
    # the bank round-trips through a state dict in half precision
    again = FeatureBank(n=3, dim=2, k=2)
    again.load_state_dict(bank.state_dict())
    assert again.features.dtype == torch.float16 and torch.equal(again.features, bank.features)


def test_pooled_features_have_one_unit_part_per_stage():
    D = FeatureDiscriminator(size=16, channels=1, width=4)   # stages of 4, 8 channels (8x8, 4x4)
    f = D.pooled_features(torch.randn(3, 1, 16, 16))
    assert f.shape == (3, 4 * (4 + 8))
    np.testing.assert_allclose(f[:, :16].norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(f[:, 16:].norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)


def test_synthetic_anomalies_change_every_image():
    x = torch.rand(6, 1, 16, 16) * 2 - 1
    odd, kinds = synthetic_anomalies(x, seed=0)
    assert kinds == ["patch", "rotation", "tiles"] * 2 and odd.shape == x.shape
    assert all((odd[i] - x[i]).abs().max() > 0 for i in range(6))
    torch.testing.assert_close(odd[1], torch.rot90(x[1], 1, (1, 2)))
    assert torch.equal(odd[2].flatten().sort().values, x[2].flatten().sort().values)   # tiles: the same pixels


def test_train_with_knn_score_keeps_d_and_a_capped_bank(tmp_path, caplog):
    from sklearn.metrics import roc_auc_score

    np.savez(tmp_path / "n.npz", images=toy(120, False, 0))
    with caplog.at_level("INFO", logger="ganforge.tasks.anomaly"):
        m = ganforge.train("anomaly", data=str(tmp_path / "n.npz"), out=tmp_path / "run", steps=40, score="knn",
                           bank=50, k=2, **TINY)
    assert set(m.nets) == {"G", "D", "bank"} and m.nets["bank"].features.shape == (50, 4 * (8 + 16))
    check = m.meta["holdout_check"]
    assert check["score"] == "knn" and check["n_normal"] == check["n_synthetic"] == 6
    assert 0 <= check["auroc"] <= 1 and set(check["by_kind"]) == {"patch", "rotation", "tiles"}
    assert check["line"] in caplog.text and "held-out check: the knn score" in check["line"]
    assert set(check["by_score"]) == {"latent", "recon", "mixed", "fanogan", "knn"}
    assert check["by_score"]["knn"] == check["auroc"]
    images = np.concatenate([toy(20, False, 1), toy(20, True, 2)])
    y = np.r_[np.zeros(20), np.ones(20)]
    for kind in ("knn", "fanogan"):
        assert roc_auc_score(y, m.score(images, kind=kind)) > 0.9, kind
    again = ganforge.load(m.path)
    np.testing.assert_allclose(again.score(images), m.score(images), rtol=1e-5)
    assert m.predict(images)[20:].mean() > 0.8


def test_scores_that_need_a_discriminator_or_bank_are_refused_without_one():
    with pytest.raises(ConfigError, match="needs the discriminator"):
        AnomalyOptions(score="fanogan", w_adv=0.0).validate()
    with pytest.raises(ConfigError, match="needs the discriminator"):
        AnomalyOptions(w_feat=1.0, w_adv=0.0).validate()
    with pytest.raises(ConfigError, match="needs a feature bank"):
        AnomalyOptions(score="knn", bank=0).validate()
    AnomalyOptions(score="recon", w_enc=0.0, w_adv=1.0).validate()


def test_model_file_from_before_the_new_scores_loads_as_it_was():
    m = ganforge.load(FIXTURE / "model.safetensors")
    opt = m.options
    assert opt.score == "latent" and opt.bank == 0 and opt.w_feat == 0 and opt.negatives == 0
    assert m.D is None and "bank" not in m.nets
    images = np.zeros((3, 16, 16), np.uint8) + np.arange(3)[:, None, None].astype(np.uint8) * 60
    expected = np.load(FIXTURE / "scores.npy")
    np.testing.assert_allclose(m.score(images), expected[0], rtol=1e-5)
    np.testing.assert_allclose(m.score(images, kind="recon"), expected[1], rtol=1e-5)
    for kind in ("fanogan", "knn"):
        with pytest.raises(ConfigError, match="keeps no discriminator"):
            m.score(images, kind=kind)
