"""The table task's model families: the Gaussian copula, --model auto's choice, and SDMetrics-compatible scores."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import ndtr

import ganforge
from ganforge.data.copula import GaussianCopula
from ganforge.data.table_codec import TableCodec
from ganforge.data.tables import infer_schema
from ganforge.metrics.tabular import fidelity, independent_columns, sdmetrics_quality

from .test_tabular import TINY, table

torch.set_num_threads(1)


def correlated(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Two strongly dependent numeric columns (one skewed), a categorical tied to them, an integer, gaps."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.exp(0.8 * x + 0.3 * rng.normal(size=n))             # monotone in x: rank correlation ~0.93
    group = np.where(x + 0.3 * rng.normal(size=n) > 0.5, "high", np.where(x < -0.5, "low", "mid"))
    return pd.DataFrame({"x": x, "y": y, "group": group, "count": rng.poisson(3, n),
                         "gappy": np.where(rng.random(n) < 0.25, np.nan, rng.normal(10, 2, n))})


def test_copula_keeps_marginals_dependence_and_missing_rates():
    df = correlated()
    schema, values = infer_schema(df)
    codec = TableCodec.fit(schema, values)
    cop = GaussianCopula.fit(codec, values, seed=0)
    z = np.random.default_rng(1).standard_normal((4000, cop.dim)) @ cop.cholesky()[0].T
    out = cop.decode(z, codec, np.random.default_rng(2))
    assert np.corrcoef(np.argsort(np.argsort(out["x"])), np.argsort(np.argsort(out["y"])))[0, 1] > 0.85
    assert abs(np.nanmedian(out["y"]) - df["y"].median()) < 0.15 * df["y"].median()
    assert out["y"].min() >= df["y"].min() and out["y"].max() <= df["y"].max()   # quantiles: never outside
    assert abs(np.isnan(out["gappy"]).mean() - 0.25) < 0.04
    levels, counts = np.unique(out["group"].astype(str), return_counts=True)
    real = df["group"].value_counts(normalize=True)
    assert {str(v): c / len(z) for v, c in zip(levels, counts)} == pytest.approx(real.to_dict(), abs=0.04)
    high = out["group"].astype(str) == "high"
    assert np.mean(out["x"][high]) > 0.5 > np.mean(out["x"][~high])   # the category follows x
    assert GaussianCopula.from_json(cop.to_json()).corr == pytest.approx(cop.corr, abs=1e-5)
    assert len(cop.parts) == 1 and cop.cholesky().shape == (1, cop.dim, cop.dim)


def test_copula_stores_no_list_of_real_values():
    df = correlated(200)
    schema, values = infer_schema(df)
    cop = GaussianCopula.fit(TableCodec.fit(schema, values), values)
    for col in cop.parts[0]["columns"]:
        if col["kind"] == "numeric":
            assert len(col["quantiles"]) <= max(11, 200 // 20)


def test_a_copula_sample_is_stratified_and_its_tails_thin_out():
    df = correlated(300)
    df["label"] = np.where(df["x"] > 0.8, "top", "rest")
    schema, values = infer_schema(df)
    codec = TableCodec.fit(schema, values)
    cop = GaussianCopula.fit(codec, values, seed=0, target="label")
    rng = np.random.default_rng(0)
    k = cop.components(301, rng)
    assert np.bincount(k).tolist() in ([round(w * 301) for w in cop.weights],   # each copula its share
                                       [int(w * 301) + d for w, d in zip(cop.weights, (1, 0))],
                                       [int(w * 301) + d for w, d in zip(cop.weights, (0, 1))])
    z = rng.standard_normal((301, cop.dim))
    strat = GaussianCopula.stratify(z, k, rng)
    for part in range(len(cop.weights)):   # one value in each stratum, in the order of the draw
        rows = k == part
        u = np.sort(ndtr(strat[rows, 0]))
        assert np.all(np.floor(u * rows.sum()) == np.arange(rows.sum()))
        assert (np.argsort(strat[rows, 0]) == np.argsort(z[rows, 0])).all()
    # the skewed column: 300 rows keep 15 quantiles; sampled means stay near the real one, not inflated by
    # spreading one row in fourteen evenly between the last two quantiles
    one = GaussianCopula.fit(codec, values, seed=0)
    out = one.decode(GaussianCopula.stratify(rng.standard_normal((30_000, one.dim)), np.zeros(30_000, int), rng),
                     codec, rng)
    assert abs(np.mean(out["y"]) / df["y"].mean() - 1) < 0.05
    assert np.mean(out["y"] > np.quantile(df["y"], 0.97)) < 0.035


def test_model_copula_fits_in_no_steps_and_samples_like_a_gan_model(tmp_path):
    df = correlated()
    model = ganforge.train("table", data=df, out=tmp_path / "c", model="copula", **TINY)
    assert model.meta["step"] == 0 and model.meta["family"] == "copula"
    assert "copula" in model.meta["stopped_early"]["reason"]
    synth = model.sample(800, seed=3)
    assert list(synth.columns) == list(df.columns) and synth["count"].dtype == df["count"].dtype
    assert fidelity(df, synth)["score"] > fidelity(df, independent_columns(df, 800))["score"] + 0.03
    again = ganforge.load(tmp_path / "c" / "model.safetensors").sample(800, seed=3)
    pd.testing.assert_frame_equal(synth, again)
    only = model.sample(50, seed=0, condition="group=low,x<0")   # conditions: met by rejection
    assert len(only) == 50 and (only["group"] == "low").all() and (only["x"] < 0).all()
    graph = model.export_graph()
    scores = graph.module(*graph.inputs.values())
    assert scores.shape == (2, len(df.columns)) and "how" in graph.decoding


def test_a_target_gives_each_class_its_own_copula():
    rng = np.random.default_rng(0)
    n = 900
    label = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    shift = {"a": -2.0, "b": 0.0, "c": 2.0}
    x = np.array([shift[v] for v in label]) + rng.normal(size=n)
    # within class c, y follows x; within a and b, it does not
    y = np.where(label == "c", x, 0.0) + rng.normal(size=n)
    df = pd.DataFrame({"x": x, "y": y, "label": label})
    schema, values = infer_schema(df)
    codec = TableCodec.fit(schema, values)
    cop = GaussianCopula.fit(codec, values, seed=0, target="label")
    assert len(cop.weights) == 3 and cop.weights == pytest.approx(sorted([0.5, 0.3, 0.2], reverse=True), abs=0.05)
    k = np.random.default_rng(1).choice(3, 6000, p=cop.weights)
    noise = np.random.default_rng(2).standard_normal((6000, cop.dim))
    z = np.einsum("nij,nj->ni", cop.cholesky()[k], noise)
    out = cop.decode(z, codec, np.random.default_rng(3), k)
    lab = out["label"].astype(str)
    for v in "abc":   # each class keeps its location, and only class c its correlation
        assert abs(out["x"][lab == v].mean() - shift[v]) < 0.35
    assert np.corrcoef(out["x"][lab == "c"], out["y"][lab == "c"])[0, 1] > 0.4
    assert abs(np.corrcoef(out["x"][lab == "a"], out["y"][lab == "a"])[0, 1]) < 0.25
    assert np.quantile(out["x"], [0.1, 0.5, 0.9]) == pytest.approx(np.quantile(x, [0.1, 0.5, 0.9]), abs=0.25)
    assert (lab == "c").mean() == pytest.approx(0.2, abs=0.03)
    again = GaussianCopula.from_json(cop.to_json())
    assert again.cholesky() == pytest.approx(cop.cholesky(), abs=1e-4) and again.target == "label"


def test_model_auto_keeps_the_better_family_and_says_why(tmp_path):
    df = correlated()
    # a GAN of 10 steps cannot match the copula: auto must keep the copula, and the GAN as model-last
    model = ganforge.train("table", data=df, out=tmp_path / "a", model="auto", **dict(TINY, steps=10, eval_every=5))
    choice = model.meta["choice"]
    assert model.meta["family"] == "copula" and choice["family"] == "copula"
    assert choice["copula"] > choice["gan"] and "Gaussian copula" in choice["reason"]
    last = ganforge.load(tmp_path / "a" / "model-last.safetensors")
    assert last.meta["family"] == "gan" and last.meta["step"] == 10


def test_model_auto_keeps_the_gan_when_it_scores_higher(tmp_path, monkeypatch):
    from ganforge.tasks import tabular

    real_fit = tabular.GaussianCopula.fit

    def poor_fit(codec, values, seed=0, target=None):   # a copula that forgot dependence and spread
        cop = real_fit(codec, values, seed)
        cop.parts[0]["corr"] = np.eye(cop.dim)
        for col in cop.parts[0]["columns"]:
            if col["kind"] == "numeric":
                col["quantiles"] = [float(np.median(col["quantiles"]))] * len(col["quantiles"])
        return cop

    monkeypatch.setattr(tabular.GaussianCopula, "fit", staticmethod(poor_fit))
    df = table(1200)
    model = ganforge.train("table", data=df, out=tmp_path / "g", model="auto", **dict(TINY, steps=160))
    choice = model.meta["choice"]
    assert choice["gan"] > choice["copula"], choice
    assert model.meta["family"] == "gan" and choice["family"] == "gan" and "over the Gaussian copula" in choice["reason"]


def test_model_auto_resumes_with_its_choice(tmp_path):
    df = correlated()
    ganforge.train("table", data=df, out=tmp_path / "r", model="auto", **dict(TINY, steps=10, eval_every=5))
    model = ganforge.resume(tmp_path / "r", steps=20, progress=False, data=df)
    assert model.meta["family"] == "copula" and model.meta["choice"]["family"] == "copula"


def test_model_options_that_cannot_work_together_are_refused(tmp_path):
    with pytest.raises(ganforge.GanforgeError, match="differential privacy"):
        ganforge.train("table", data=table(300), out=tmp_path / "x", model="copula", dp_epsilon=1.0, **TINY)
    with pytest.raises(ganforge.GanforgeError, match="select"):
        ganforge.train("table", data=table(300), out=tmp_path / "y", model="auto", select=False, **TINY)
    with pytest.raises(ganforge.GanforgeError, match="model"):
        ganforge.train("table", data=table(300), out=tmp_path / "z", model="bayes", **TINY)


def test_sdmetrics_quality_follows_the_quality_report_definitions():
    rng = np.random.default_rng(0)
    n = 400
    a = rng.normal(size=n)
    real = pd.DataFrame({"a": a, "b": a + 0.1 * rng.normal(size=n), "c": rng.normal(size=n),
                         "k": np.where(a > 0, "p", "q")})
    q = sdmetrics_quality(real, real.copy())
    assert q == {"overall": 1.0, "column_shapes": 1.0, "column_pair_trends": 1.0}
    # b independent of a in the synthetic rows: the (a, b) pair drops to 1 - |r| / 2; (a, c) and (b, c)
    # have no real trend (|r| <= 0.5) and do not count; (a, k) and (b, k) are contingency pairs
    synth = real.copy()
    synth["b"] = rng.permutation(real["b"].to_numpy())
    r_real = np.corrcoef(real["a"], real["b"])[0, 1]
    r_synth = np.corrcoef(synth["a"], synth["b"])[0, 1]
    q = sdmetrics_quality(real, synth, {"a": "numeric", "b": "numeric", "c": "numeric", "k": "discrete"})
    assert q["column_shapes"] == pytest.approx(1.0)
    pair_ab = 1 - abs(r_real - r_synth) / 2
    assert q["column_pair_trends"] < 1.0
    assert pair_ab <= q["column_pair_trends"] + 1e-12   # the other counted pairs score between pair_ab and 1
    # missing values: dropped from KS, so a column with gaps but the same present values keeps its shape
    gappy = real.copy()
    gappy.loc[::4, "c"] = np.nan
    assert sdmetrics_quality(gappy, gappy.dropna().sample(200, random_state=0, replace=True).reset_index(drop=True)
                             )["column_shapes"] > 0.85
