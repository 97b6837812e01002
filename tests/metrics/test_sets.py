"""Set metrics against direct formulas and known answers: Fréchet distance, KID, precision/recall,
density/coverage, Inception score, memorisation."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from ganforge.errors import ConfigError, DataError, GanforgeError
from ganforge.metrics import sets
from ganforge.metrics.sets import (FeatureStats, density_coverage, frechet_distance, inception_score, kid,
                                   memorization, precision_recall)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gaussian(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ (a / np.sqrt(d) + 0.3 * np.eye(d)) + shift


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The reference FID code path: scipy.linalg.sqrtm of the covariance product."""
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def mixture(rng: np.random.Generator, n_per_mode: int, modes) -> np.ndarray:
    """Eight well-separated 2-D Gaussians on a ring of radius 10 (std 0.3); samples from ``modes``."""
    angle = 2 * np.pi * np.arange(8) / 8
    centres = 10 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return np.concatenate([centres[m] + 0.3 * rng.normal(size=(n_per_mode, 2)) for m in modes])


# --------------------------------------------------------------------------- Fréchet distance

@pytest.mark.parametrize("d", [2, 16, 64])
def test_frechet_distance_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    a, b = gaussian(rng, 4 * d + 100, d), gaussian(rng, 3 * d + 80, d, shift=0.2)
    expected = scipy_fid(a, b)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # the same from streaming statistics, from (mu, sigma) pairs and from float32 tensors
    stats = FeatureStats().update(b[:7]).update(b[7:])
    pair = (a.mean(0), np.cov(a, rowvar=False))
    assert frechet_distance(pair, stats) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    t32 = frechet_distance(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    assert t32 == pytest.approx(expected, rel=1e-4)


def test_frechet_distance_of_a_set_with_itself_is_zero():
    a = gaussian(np.random.default_rng(0), 500, 32) + 50.0      # a large mean must not matter
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a, a) >= 0.0


def test_frechet_distance_grows_with_shift_and_with_noise():
    rng = np.random.default_rng(1)
    a = gaussian(rng, 800, 16)
    noise = rng.normal(size=a.shape)
    shifted = [frechet_distance(a, a + s) for s in (0.0, 0.05, 0.2, 0.5, 1.0, 3.0)]
    noisy = [frechet_distance(a, a + s * noise) for s in (0.0, 0.05, 0.2, 0.5, 1.0, 3.0)]
    assert np.all(np.diff(shifted) > 0) and np.all(np.diff(noisy) > 0)
    # a pure shift only moves the mean: FD = |shift|^2 exactly
    assert shifted[-1] == pytest.approx(16 * 3.0 ** 2, rel=1e-9)


def test_frechet_distance_with_singular_covariances():
    # fewer samples than dimensions, features in a 3-D subspace of 10-D: no Cholesky factor for
    # either covariance; the distance to a shifted copy is still exactly |shift|^2
    rng = np.random.default_rng(2)
    a = rng.normal(size=(8, 3)) @ rng.normal(size=(3, 10))
    shift = rng.normal(size=10)
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-7)
    # one singular, one regular covariance: compare with scipy (well-defined there)
    b = gaussian(rng, 200, 10)
    assert frechet_distance(a, b) == pytest.approx(scipy_fid(a, b), rel=1e-6)


# --------------------------------------------------------------------------- FeatureStats

def test_feature_stats_streaming_equals_one_shot_and_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    x = gaussian(rng, 1000, 24) + 1e4          # a large mean: the shifted sums keep the covariance exact
    stats = FeatureStats(max_items=150)
    for start, stop in [(0, 1), (1, 64), (64, 64), (64, 500), (500, 1000)]:
        stats.update(torch.tensor(x[start:stop]) if start % 2 else x[start:stop])
    assert stats.n == 1000 and stats.dim == 24
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-13)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(stats.features, x[:150].astype(np.float32))   # the first 150 rows

    # per-process statistics merged in any order equal the whole
    parts = [FeatureStats(max_items=150).update(x[i:i + 300]) for i in range(0, 1000, 300)]
    merged = FeatureStats(max_items=150)
    for p in parts:
        merged.merge(p)
    np.testing.assert_allclose(merged.mean, stats.mean, rtol=1e-13)
    np.testing.assert_allclose(merged.cov, stats.cov, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(merged.features, stats.features)

    path = tmp_path / "stats"                   # no suffix: saved exactly there
    stats.save(path)
    loaded = FeatureStats.load(path)
    assert loaded.n == stats.n and loaded.max_items == 150
    np.testing.assert_array_equal(loaded.cov, stats.cov)
    np.testing.assert_array_equal(loaded.features, stats.features)
    loaded.update(x[:10])                      # and it keeps accumulating
    assert loaded.n == 1010
    with pytest.raises(DataError, match="cannot read"):
        FeatureStats.load(tmp_path / "missing.npz")


# --------------------------------------------------------------------------- KID

def direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(u, v) = (u.v/d + 1)^3, written out pair by pair."""
    d, m = x.shape[1], len(x)
    k = lambda u, v: (float(u @ v) / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m)


def test_kid_matches_the_direct_formula():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 5)) + 0.3
    expected = direct_mmd2(x, y)
    # a subset as large as the sets is a permutation of them: every subset gives the full estimate
    exact = kid(x, y, subsets=7, subset_size=1000, float64_products=True)
    assert exact.mean == pytest.approx(expected, rel=1e-12)
    assert exact.std == pytest.approx(0.0, abs=1e-12)
    assert kid(x, y, subsets=3).mean == pytest.approx(expected, rel=1e-5)      # float32 products


def test_kid_is_unbiased_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same = kid(a, b, subsets=50, subset_size=200)
    assert abs(same.mean) < 3 * same.std
    shifted = kid(a, b + 0.3, subsets=50, subset_size=200)
    assert shifted.mean > 4 * shifted.std > 0
    assert kid(a, b + 0.6, subsets=50, subset_size=200).mean > shifted.mean
    # the subsets are drawn from the seed
    assert kid(a, b, subsets=5, subset_size=100, seed=1) == kid(a, b, subsets=5, subset_size=100, seed=1)
    assert kid(a, b, subsets=5, subset_size=100, seed=1) != kid(a, b, subsets=5, subset_size=100, seed=2)


def test_kid_reads_features_kept_by_feature_stats():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(100, 8)), rng.normal(size=(100, 8))
    kept_a, kept_b = FeatureStats(max_items=100).update(a), FeatureStats(max_items=100).update(b)
    assert kid(kept_a, kept_b, subsets=4, subset_size=50) == kid(a.astype(np.float32), b, subsets=4, subset_size=50)
    with pytest.raises(ConfigError, match="max_items"):
        kid(FeatureStats().update(a), b)


# --------------------------------------------------------------------------- precision / recall, density / coverage

def test_precision_recall_and_density_coverage_on_identical_clouds():
    rng = np.random.default_rng(7)
    real = mixture(rng, 100, range(8))
    assert precision_recall(real, real) == (1.0, 1.0)
    # the same set: every sample sits in its own ball and in exactly k others' -> density (k+1)/k;
    # a k-th neighbour lies on its ball's boundary, where float32 rounding may count it once more
    assert density_coverage(real, real, k=5) == pytest.approx((1.2, 1.0), abs=2e-3)
    fresh = mixture(rng, 100, range(8))            # a second sample of the same distribution
    p, r = precision_recall(real, fresh)
    assert p > 0.93 and r > 0.9
    d, c = density_coverage(real, fresh)
    assert 0.85 < d < 1.15 and c > 0.9


def test_precision_recall_and_density_coverage_on_disjoint_clouds():
    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + 100.0
    assert precision_recall(real, fake) == (0.0, 0.0)
    assert density_coverage(real, fake) == (0.0, 0.0)


def test_half_the_modes_gives_recall_and_coverage_one_half():
    rng = np.random.default_rng(9)
    real = mixture(rng, 100, range(8))
    fake = mixture(rng, 200, range(4))             # as many samples, all in 4 of the 8 modes
    p, r = precision_recall(real, fake)
    assert p > 0.93 and 0.42 < r < 0.52
    d, c = density_coverage(real, fake)
    assert 0.85 < d < 1.15 and 0.45 < c < 0.52


def test_blocked_distances_give_the_same_answers(monkeypatch):
    rng = np.random.default_rng(10)
    real, fake, gen = mixture(rng, 40, range(8)), mixture(rng, 30, range(6)), mixture(rng, 5, range(8))
    whole = (precision_recall(real, fake), density_coverage(real, fake), memorization(real, gen).ratio)
    monkeypatch.setattr(sets, "_BLOCK_ELEMENTS", 1000)   # blocks of a few rows
    blocked = (precision_recall(real, fake), density_coverage(real, fake), memorization(real, gen).ratio)
    assert whole[:2] == blocked[:2]
    np.testing.assert_array_equal(whole[2], blocked[2])


# --------------------------------------------------------------------------- Inception score

def test_inception_score_of_uniform_and_of_confident_balanced_predictions():
    assert inception_score(np.full((100, 10), 0.1)) == pytest.approx((1.0, 0.0), abs=1e-12)
    assert inception_score(np.zeros((100, 10))) == pytest.approx((1.0, 0.0), abs=1e-12)   # uniform logits
    one_hot = np.eye(10)[np.arange(1000) % 10]       # each split of 100 holds every class 10 times
    assert inception_score(one_hot) == pytest.approx((10.0, 0.0), abs=1e-9)
    assert inception_score(torch.tensor(50.0 * one_hot)).mean == pytest.approx(10.0, rel=1e-9)


def test_inception_score_matches_the_reference_formula():
    rng = np.random.default_rng(11)
    logits = 3 * rng.normal(size=(200, 7))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    scores = []
    for part in np.split(p, 4):
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    assert inception_score(logits, splits=4) == pytest.approx((np.mean(scores), np.std(scores)), rel=1e-10)
    assert inception_score(p, splits=4) == pytest.approx((np.mean(scores), np.std(scores)), rel=1e-10)


# --------------------------------------------------------------------------- memorisation

def test_memorization_flags_copies_and_not_fresh_samples():
    rng = np.random.default_rng(12)
    train = rng.normal(size=(500, 32))
    rows = rng.choice(500, 20, replace=False)
    copies = train[rows]
    near = train[rows[:10]] + 0.01 * rng.normal(size=(10, 32))
    fresh = rng.normal(size=(30, 32))
    result = memorization(train, np.concatenate([copies, near, fresh]))
    assert result.flagged[:30].all() and not result.flagged[30:].any()
    np.testing.assert_array_equal(result.nearest_index[:20], rows)
    np.testing.assert_array_equal(result.distance[:20], 0.0)
    assert 0.7 < np.median(result.ratio[30:]) < 1.5          # fresh samples: about the data's spacing
    assert result.fraction_flagged == pytest.approx(30 / 60)
    assert set(result.summary()) == {"memorization_fraction", "memorization_median_ratio",
                                     "memorization_threshold"}


# --------------------------------------------------------------------------- errors

def test_clear_errors_for_bad_inputs():
    rng = np.random.default_rng(13)
    a, b = rng.normal(size=(50, 8)), rng.normal(size=(50, 9))
    for fn in (frechet_distance, kid, precision_recall, density_coverage, memorization):
        with pytest.raises(ConfigError, match="feature dimensions differ"):
            fn(a, b)
    with pytest.raises(DataError, match="at least 4 samples in fake"):
        precision_recall(a, a[:3])
    with pytest.raises(DataError, match="at least 2 samples"):
        frechet_distance(a, a[:1])
    with pytest.raises(DataError, match="at least 10 samples"):
        inception_score(np.full((5, 3), 1 / 3))
    bad = a.copy()
    bad[7, 2] = np.nan
    with pytest.raises(DataError, match="non-finite.*row 7"):
        frechet_distance(a, bad)
    with pytest.raises(DataError, match=r"\[N, D\]"):
        FeatureStats().update(np.zeros(8))
    with pytest.raises(ConfigError, match="k must be"):
        precision_recall(a, a, k=0)
    with pytest.raises(GanforgeError):
        FeatureStats().update(a).update(b)


def _reference_neighbour_metrics(real, fake, k):
    """Precision, recall, density and coverage by brute force in float64, from differences."""
    def kth(a):
        d = ((a[:, None] - a[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]
    r_real, r_fake = kth(real), kth(fake)
    d = ((fake[:, None] - real[None]) ** 2).sum(-1)
    inside = d <= r_real[None]
    return (inside.any(1).mean(), (d <= r_fake[:, None]).any(0).mean(), inside.sum() / (k * len(fake)),
            inside.any(0).mean())


@pytest.mark.parametrize("radius", [10, 100])
def test_neighbour_metrics_decide_every_ball_as_float64_does(radius):
    # tight clusters far from the real set's mean: the float32 |x|^2 + |y|^2 - 2 x.y distances cannot tell
    # the closest neighbours apart there (before, 7 of 10 seeds disagreed at radius 10 and every one at
    # 100; a GPU's matrix products disagreed with the CPU's on such points)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        real, fake = mixture(rng, 50, range(8)), mixture(rng, 50, range(5))
        # the same clusters (std 0.3) on a ring of this radius
        real, fake = (x + x / np.linalg.norm(x, axis=1, keepdims=True) * (radius - 10) for x in (real, fake))
        pr, dc = precision_recall(real, fake, k=3), density_coverage(real, fake, k=3)
        assert (pr.precision, pr.recall, dc.density, dc.coverage) == pytest.approx(
            _reference_neighbour_metrics(real, fake, 3), abs=1e-12), seed


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_distance_metrics_on_cuda_match_cpu():
    rng = np.random.default_rng(14)
    real, fake = mixture(rng, 50, range(8)), mixture(rng, 50, range(5))
    assert precision_recall(real, fake, device="cuda") == precision_recall(real, fake)
    assert density_coverage(real, fake, device="cuda") == pytest.approx(density_coverage(real, fake))
    assert kid(real, fake, subsets=5, subset_size=100, device="cuda").mean == pytest.approx(
        kid(real, fake, subsets=5, subset_size=100).mean, rel=1e-5)
