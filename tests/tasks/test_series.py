"""Time series: readers, a tiny training, labels and variable lengths, the metrics, the CLI."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.data.series import load_series, sines
from ganforge.errors import ConfigError, DataError
from ganforge.metrics.series import (autocorrelation_gap, cross_correlation_gap, discriminative_score,
                                     predictive_score)

torch.set_num_threads(1)
TINY = dict(steps=30, batch=16, hidden=16, layers=1, precision="fp32", threads=1, progress=False,
            eval_every=1000, checkpoint_every=1000)


def long_csv(path, n=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = "up" if i % 2 else "down"
        length = rng.integers(8, 13)
        for t in range(length):
            rows.append({"series_id": f"s{i}", "time": t, "a": (t if label == "up" else -t) + rng.normal(),
                         "b": rng.normal(), "label": label})
    pd.DataFrame(rows).sample(frac=1, random_state=0).to_csv(path, index=False)   # rows in any order
    return path


def test_long_csv_is_read_sorted_scaled_and_padded(tmp_path):
    d = load_series(str(long_csv(tmp_path / "s.csv")))
    assert d.x.shape[0] == 40 and d.x.shape[1] == 12 and d.features == ["a", "b"]
    assert d.label_names == ["down", "up"] and set(d.lengths.tolist()) <= set(range(8, 13))
    assert d.x.min() >= -1 and d.x.max() <= 1 and (d.x[~d.mask] == 0).all()
    up = d.x[d.labels == 1, :, 0]
    assert (up[:, 7] > up[:, 0]).float().mean() > 0.9   # time order kept inside each series


def test_series_bad_input(tmp_path):
    with pytest.raises(DataError, match="no 'series_id' column"):
        pd.DataFrame({"id": [1, 1], "time": [0, 1], "a": [1, 2]}).to_csv(tmp_path / "x.csv", index=False)
        load_series(str(tmp_path / "x.csv"))
    pd.DataFrame({"series_id": [1, 1], "time": [0, 1], "a": ["x", "y"]}).to_csv(tmp_path / "y.csv", index=False)
    with pytest.raises(DataError, match="'a' is not numeric"):
        load_series(str(tmp_path / "y.csv"))
    np.save(tmp_path / "z.npy", np.full((2, 3, 1), np.nan))
    with pytest.raises(DataError, match="NaN"):
        load_series(str(tmp_path / "z.npy"))


def test_train_sample_with_labels_and_lengths(tmp_path):
    model = ganforge.train("series", data=str(long_csv(tmp_path / "s.csv")), out=tmp_path / "run", **TINY)
    x, lengths, labels = model.sample_arrays(10, condition="up", seed=0)
    assert x.shape == (10, 12, 2) and (labels == "up").all() and set(lengths) <= set(range(8, 13))
    for row, n in zip(x, lengths):
        assert np.isfinite(row[:n]).all() and np.isnan(row[n:]).all()
    again = ganforge.load(tmp_path / "run").sample_arrays(10, condition="up", seed=0)[0]
    np.testing.assert_array_equal(np.nan_to_num(x), np.nan_to_num(again))
    frame = model.sample(5, seed=1)
    assert list(frame.columns) == ["series_id", "time", "a", "b", "label"]
    assert frame.equals(model.sample_frame(5, seed=1))
    assert model.conditions() == ["down", "up"]
    with pytest.raises(ConfigError, match="not one of"):
        model.sample(2, condition="sideways")
    # the long frame and the arrays are the same series
    frame = model.sample(4, seed=2, condition="down")
    x, lengths, _ = model.sample_arrays(4, seed=2, condition="down")
    assert (frame["label"] == "down").all() and frame.groupby("series_id").size().tolist() == lengths.tolist()
    np.testing.assert_allclose(frame[["a", "b"]].to_numpy(), x[~np.isnan(x[..., 0])], rtol=1e-6)


def test_write_samples_each_and_preview(tmp_path):
    model = ganforge.train("series", data=str(long_csv(tmp_path / "s.csv")), out=tmp_path / "run",
                           **dict(TINY, steps=2))
    frame = model.sample(7, seed=0)
    x, lengths, _ = model.sample_arrays(7, seed=0)
    [npy] = model.write_samples(frame, tmp_path / "s.npy")
    np.testing.assert_array_equal(np.load(npy), x)           # (N, T, F), NaN past each length
    [csv] = model.write_samples(frame, tmp_path / "s.csv")
    pd.testing.assert_frame_equal(pd.read_csv(csv), frame, check_dtype=False)
    with pytest.raises(ConfigError, match=".csv, .npy"):
        model.write_samples(frame, tmp_path / "s.png")
    each = model.write_each(frame, tmp_path / "each")
    assert len(each) == 7 and len(pd.read_csv(each[3])) == lengths[3]
    png, csv = model.preview(frame, tmp_path / "preview")
    assert png.suffix == ".png" and png.stat().st_size > 1000 and csv.suffix == ".csv"


def test_run_defaults_are_the_former_cli_defaults():
    from ganforge.api import resolve

    run, _ = resolve("series", {})
    assert (run.steps, run.batch, run.precision) == (2000, 64, "fp32")


def test_metrics_separate_real_from_noise():
    real, fresh = sines(400, seed=0), sines(400, seed=1)
    noise = np.random.default_rng(0).uniform(0.5, 1, real.shape).astype(np.float32)
    assert discriminative_score(real, noise, iterations=1000) > 0.3   # ~5 s: the protocol's GRU is tiny
    assert discriminative_score(real, fresh, iterations=300) < 0.15
    assert autocorrelation_gap(real, fresh) < 0.05 < autocorrelation_gap(real, noise)
    assert predictive_score(real, fresh, iterations=300) < predictive_score(real, noise, iterations=300)


def test_cli_train_and_sample_series(tmp_path):
    run = CliRunner()
    r = run.invoke(app, ["train", "series", "builtin:sines?n=64&length=12", "--out", str(tmp_path / "run"),
                         "--steps", "10", "--batch", "16", "--hidden", "16", "--quiet", "--threads", "1"],
                   catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = run.invoke(app, ["sample", str(tmp_path / "run"), "--n", "7", "-o", str(tmp_path / "s.npy")],
                   catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "s.npy").shape == (7, 12, 5)
    r = run.invoke(app, ["sample", str(tmp_path / "run"), "--n", "3", "-o", str(tmp_path / "s.csv"),
                         "--label", "x"], catch_exceptions=False)
    assert r.exit_code == 1 and "without labels" in r.output


def test_report_command_writes_scores_and_pictures_for_series(tmp_path, monkeypatch):
    import ganforge.metrics.series as series_metrics

    monkeypatch.setattr(series_metrics, "ITERATIONS", (60, 60))
    real, synth = long_csv(tmp_path / "real.csv", n=30), long_csv(tmp_path / "synth.csv", n=30, seed=1)
    r = CliRunner().invoke(app, ["report", str(real), str(synth), "-o", str(tmp_path / "rep.html")],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "discriminative" in r.output
    page = (tmp_path / "rep.html").read_text()
    assert page.count("data:image/png;base64") == 3          # two features + the autocorrelation plot
    result = pd.read_json(tmp_path / "rep.json", typ="series")
    assert result["series"]["cut_to_length"] == 8 and result["series"]["features"] == ["a", "b"]
    np.save(tmp_path / "bad.npy", np.zeros((5, 8, 3)))
    r = CliRunner().invoke(app, ["report", str(real), str(tmp_path / "bad.npy"), "--kind", "series"])
    assert r.exit_code == 1 and "differ from the real ones" in r.output


def test_model_file_from_before_the_global_head_loads_and_samples_as_it_did():
    """A file written before ``global_input``/``global_head`` (tests/fixtures/series_before_global_head/make.py
    at commit 62a4b98) rebuilds the old generator (no latent input at every step) and gives the same series."""
    from pathlib import Path

    folder = Path(__file__).parents[1] / "fixtures" / "series_before_global_head"
    model = ganforge.load(folder / "model.safetensors")
    assert "global_input" not in model.meta["nets"]["G"] and not model.G.global_input
    np.testing.assert_allclose(model.sample_arrays(3, seed=0)[0], np.load(folder / "samples.npy"), rtol=1e-5, atol=1e-6)


def test_whole_series_head_and_latent_input_and_r1(tmp_path):
    """The default networks have the whole-series verdict and the latent at every step; the D phase with R1
    and the lsgan loss runs and writes its penalty to the log; the head honours each series' length."""
    from ganforge.nets.series import SeriesDiscriminator

    model = ganforge.train("series", data=str(long_csv(tmp_path / "s.csv")), out=tmp_path / "run", r1=1.0,
                           loss="lsgan", **dict(TINY, steps=3))
    assert model.meta["nets"]["G"]["global_input"] is True and model.G.global_input
    records = [__import__("json").loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("D/r1" in r for r in records)
    # one direction: a verdict must not read past a series' end (both directions read the zero padding backwards)
    D = SeriesDiscriminator(2, hidden=8, layers=1, bidirectional=False, global_head=True)
    x = torch.randn(2, 6, 2)
    mask = torch.arange(6)[None] < torch.tensor([[4], [6]])
    changed = x.clone()
    changed[0, 4:] = 100.0                      # past the first series' length: must not change its verdict
    torch.testing.assert_close(D(x, mask)[0], D(changed, mask)[0])
    with pytest.raises(ConfigError, match="loss must be one of"):
        ganforge.train("series", data="builtin:sines?n=32", out=tmp_path / "bad", loss="wgan", **TINY)


def test_cross_correlation_gap_sees_broken_links_between_features():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 10, 1))
    linked = np.concatenate([a, a + 0.1 * rng.normal(size=a.shape)], 2)          # features correlated ~0.99
    again = np.concatenate([b := rng.normal(size=a.shape), b + 0.1 * rng.normal(size=a.shape)], 2)
    shuffled = np.concatenate([a, rng.permutation(linked[..., 1:])], 2)           # same marginals, no link
    assert cross_correlation_gap(linked, again) < 0.02 < 0.9 < cross_correlation_gap(linked, shuffled)
    assert cross_correlation_gap(a, a) is None
