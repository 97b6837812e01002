"""Tabular fidelity, detection, utility and privacy metrics on tables whose answers are known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ganforge.metrics.tabular import (detection, fidelity, independent_columns, ks_statistic, privacy, report,
                                      tv_distance, utility)


def people(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    group = np.where(x + 0.5 * rng.normal(size=n) > 0, "high", "low")
    return pd.DataFrame({"x": x, "y": 2 * x + 0.3 * rng.normal(size=n), "group": group,
                         "n": rng.integers(0, 100, n)})


def test_ks_and_tv_match_references():
    from scipy.stats import ks_2samp
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.3, 1, size=200)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic)
    assert tv_distance(np.array(["a", "a", "b"]), np.array(["b", "b", "b"])) == pytest.approx(2 / 3)


def test_fidelity_ranks_copies_above_fresh_samples_above_independent_columns():
    real, fresh = people(2000, 0), people(2000, 1)
    assert fidelity(real, real)["score"] == pytest.approx(1.0)
    same = fidelity(real, fresh)
    indep = fidelity(real, independent_columns(real, 2000, seed=2))
    assert same["score"] > 0.9 and indep["column_shapes"] > 0.9
    assert indep["pair_trends"] < same["pair_trends"] - 0.1   # independence loses the x-y correlation


def test_detection_tells_noise_but_not_fresh_samples():
    real = people(1000, 0)
    assert detection(real, people(1000, 1))["score"] > 0.7
    noise = people(1000, 1).assign(y=lambda d: np.random.default_rng(3).normal(size=len(d)))
    assert detection(real, noise)["score"] < 0.2


def test_utility_of_real_samples_is_close_to_trtr():
    train, test = people(1000, 0), people(500, 2)
    out = utility(train, people(1000, 1), test, target="group")
    for family in ("logistic", "boosted_trees"):
        assert out[family]["trtr"]["accuracy"] > 0.7 and out[family]["ratio"] > 0.9
    assert utility(train, people(1000, 1), test, target="y")["ridge"]["tstr"]["r2"] > 0.9


def test_privacy_flags_copies_and_membership():
    train, holdout = people(500, 0), people(500, 1)
    leaked = privacy(train, train.copy(), holdout)
    assert leaked["exact_copy_rate"]["synthetic"] == 1.0 and leaked["membership_inference_auc"] > 0.9
    fresh = privacy(train, people(500, 2), holdout)
    assert fresh["exact_copy_rate"]["synthetic"] == 0.0 and abs(fresh["membership_inference_auc"] - 0.5) < 0.1
    assert fresh["share_closer_than_holdout_p5"] < 0.15


def test_report_has_every_section_and_says_where_the_holdout_came_from():
    out = report(people(600, 0), people(600, 1), target="group")
    assert {"fidelity", "fidelity_of_holdout", "detection", "utility", "privacy"} <= set(out)
    assert "20%" in out["note"] and out["rows"] == {"real": 480, "synthetic": 600, "holdout": 120}
