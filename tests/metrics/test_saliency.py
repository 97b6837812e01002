"""Saliency metrics against values worked out by hand on tiny maps."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ganforge.errors import DataError
from ganforge.metrics import saliency as sal

PEAK = np.array([[0, 0, 0], [0, 4, 0], [0, 0, 0]], float)   # one blob in the centre
UNIFORM = np.ones((3, 3))


def test_identical_maps_score_perfectly():
    s = sal.score(PEAK, PEAK)
    assert s["cc"] == pytest.approx(1.0)
    assert s["sim"] == pytest.approx(1.0)
    assert s["kl"] == pytest.approx(0.0, abs=1e-6)
    assert s["auc_judd"] == pytest.approx(1.0)
    # fixation = the centre; mean 4/9, std 8*sqrt(2)/9 -> (4 - 4/9) / (8 sqrt 2 / 9) = 2 sqrt 2
    assert s["nss"] == pytest.approx(2 * math.sqrt(2))


def test_uniform_prediction_is_chance():
    s = sal.score(UNIFORM, PEAK)
    assert s["cc"] == 0.0 and s["nss"] == 0.0
    assert s["auc_judd"] == pytest.approx(0.5)
    assert s["sim"] == pytest.approx(1 / 9)             # min(1/9, 1) at the centre, 0 elsewhere
    assert s["kl"] == pytest.approx(math.log(9), rel=1e-5)  # 1 * log(1 / (1/9))


def test_shifted_blob():
    pred, gt = np.array([[0, 1, 0, 0]], float), np.array([[0, 0, 1, 0]], float)
    assert sal.cc(pred, gt) == pytest.approx(-1 / 3)     # centred dot -0.25 over norm^2 0.75
    assert sal.sim(pred, gt) == 0.0
    # a graded prediction: fixation (index 2) has value 1; negatives 0, 2, 0
    pred = np.array([[0, 2, 1, 0]], float)
    fix = gt > 0
    assert sal.auc_judd(pred, fix) == pytest.approx(5 / 6)   # ROC (0,0) (1/3,1) (1,1)
    assert sal.nss(pred, fix) == pytest.approx(0.25 / math.sqrt(0.6875))
    assert sal.kl(pred, gt) == pytest.approx(math.log(3), rel=1e-5)
    assert sal.sim(pred, gt) == pytest.approx(1 / 3)


def test_scale_does_not_matter_and_order_does():
    rng = np.random.default_rng(0)
    gt, pred = rng.random((8, 8)), rng.random((8, 8))
    a, b = sal.score(pred, gt), sal.score(pred * 255, gt * 3)
    for k in sal.METRICS:
        assert a[k] == pytest.approx(b[k])
    near = sal.score(gt + 0.1 * pred, gt)
    assert near["cc"] > a["cc"] and near["kl"] < a["kl"] and near["sim"] > a["sim"]


def test_fixations_from_map_and_evaluate():
    f = sal.fixations_from_map(np.array([[0, 2, 4, 1]]), level=0.5)
    assert f.tolist() == [[False, True, True, False]]
    out = sal.evaluate([PEAK, UNIFORM], [PEAK, PEAK])
    assert out["n"] == 2 and out["auc_judd"] == pytest.approx(0.75) and out["cc"] == pytest.approx(0.5)


def test_bad_input_is_one_line():
    with pytest.raises(DataError, match="prediction is 4x1 but the ground truth is 3x3"):
        sal.cc(np.zeros((1, 4)), PEAK)
    with pytest.raises(DataError, match="no fixations"):
        sal.nss(PEAK, np.zeros((3, 3)))
    with pytest.raises(DataError, match="all zero"):
        sal.fixations_from_map(np.zeros((3, 3)))
    with pytest.raises(DataError, match="must be 2-D"):
        sal.cc(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(DataError, match="2 predictions for 1"):
        sal.evaluate([PEAK, PEAK], [PEAK])
