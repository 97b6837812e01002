"""Shape-set metrics: surface points, Chamfer distance, MMD / COV / 1-NNA."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.data.voxels import objects
from ganforge.metrics.shapes import (chamfer_matrix, iou_distance_matrix, mmd_cov, one_nna, point_clouds,
                                     shape_set_scores, surface_points)


def cube(r: int = 16, lo: int = 4, hi: int = 12) -> np.ndarray:
    g = np.zeros((r, r, r), bool)
    g[lo:hi, lo:hi, lo:hi] = True
    return g


def test_surface_points_lie_on_the_boundary():
    pts = surface_points(cube(), 2000)
    assert pts.shape == (2000, 3) and pts.min() >= 4 / 16 and pts.max() <= 12 / 16
    on_face = (np.abs(pts - 4 / 16) <= 1 / 16) | (np.abs(pts - 12 / 16) <= 1 / 16)
    assert on_face.any(1).all()                                   # no point from the inside of the cube


def test_chamfer_is_zero_for_the_same_cloud_and_grows_with_distance():
    a = point_clouds(np.stack([cube(), cube(lo=5, hi=13), cube(lo=8, hi=16)]), 256)
    d = chamfer_matrix(a, a)
    assert np.allclose(np.diag(d), 0, atol=1e-7) and np.allclose(d, d.T, atol=1e-6)
    assert 0 < d[0, 1] < d[0, 2]
    # by hand for two single points
    p, q = torch.tensor([[[0.0, 0, 0]]]), torch.tensor([[[0.3, 0.4, 0]]])
    assert chamfer_matrix(p, q)[0, 0] == pytest.approx(2 * 0.25)


def test_iou_distance_by_hand():
    a, b = cube(lo=4, hi=12), cube(lo=8, hi=12)
    assert iou_distance_matrix(a[None], b[None])[0, 0] == pytest.approx(1 - 4 ** 3 / 8 ** 3)


def test_mmd_cov_and_one_nna_tell_collapse_copying_and_a_fair_sample_apart():
    ref, _ = objects(24, seed=1, r=32)
    fresh, _ = objects(24, seed=2, r=32)
    fair = shape_set_scores(fresh, ref, points=128)
    collapsed = shape_set_scores(np.repeat(fresh[:1], 24, 0), ref, points=128)
    copies = shape_set_scores(ref.copy(), ref, points=128)
    assert collapsed["cov_cd"] <= 1 / 24 + 1e-9 < fair["cov_cd"]
    assert collapsed["1nna_cd"] > 0.9 and 0.2 < fair["1nna_cd"] < 0.85 and copies["1nna_iou"] == 0.0
    assert copies["mmd_iou"] == 0.0 and fair["mmd_cd"] < collapsed["mmd_cd"]


def test_one_nna_by_hand():
    # two generated points near 0, two reference points near 10: every nearest neighbour is of its own set
    g, r = np.array([0.0, 1.0]), np.array([10.0, 11.0])
    dist = lambda x, y: np.abs(x[:, None] - y[None])   # noqa: E731
    assert one_nna(dist(g, g), dist(g, r), dist(r, r)) == 1.0
    assert mmd_cov(dist(g, r)) == {"mmd": pytest.approx(9.5), "coverage": 0.5}
