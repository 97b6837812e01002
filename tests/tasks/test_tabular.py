"""The table task end to end on a tiny table: training, sampling, exact conditions, the model file, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.data.table_codec import TableCodec
from ganforge.data.tables import infer_schema
from ganforge.metrics.tabular import fidelity
from ganforge.tasks.tabular import CondSampler, ConditionError

torch.set_num_threads(1)
TINY = dict(steps=120, batch=100, z_dim=16, gen_dims=[64, 64], dis_dims=[64, 64], eval_every=40, log_every=20,
            checkpoint_every=1000, precision="fp32", threads=1, progress=False, eval_rows=300)


def table(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    age = np.where(sex == "F", rng.integers(18, 60, n), rng.integers(30, 90, n))
    return pd.DataFrame({
        "age": age,
        "income": np.where(rng.random(n) < 0.5, rng.normal(30, 3, n), rng.normal(80, 5, n)) + 0.2 * age,
        "sex": sex,
        "city": rng.choice(["north", "south", "east", "rare"], n, p=[0.6, 0.3, 0.09, 0.01]),
        "member": rng.random(n) < 0.3,
        "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
        "score": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(2, n)),
    })


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    df = table()
    df.to_csv(folder / "t.csv", index=False)
    out = folder / "run"
    model = ganforge.train("table", data=str(folder / "t.csv"), out=out, **TINY)
    return df, out, model


def test_samples_have_the_input_columns_order_dtypes_and_ranges(trained):
    df, _, model = trained
    s = model.sample(500, seed=1)
    assert isinstance(s, pd.DataFrame) and len(s) == 500 and list(s.columns) == list(df.columns)
    real = pd.read_csv(trained[1].parent / "t.csv")   # what the model read (the CSV's dtypes)
    for c in df.columns:
        expected = "datetime64" if c == "joined" else str(real[c].dtype)
        assert str(s[c].dtype).startswith(expected), c
    assert s["age"].between(df["age"].min(), df["age"].max()).all()
    assert s["income"].between(df["income"].min(), df["income"].max()).all()
    assert set(s["sex"]) <= {"F", "M"} and set(s["city"]) <= set(df["city"])
    assert s["score"].isna().any() and s["score"].notna().any()     # missing values are modelled
    assert (s["joined"].dt.normalize() == s["joined"]).all()        # dates stay dates


def test_training_learns_something_and_keeps_the_best_model(trained):
    df, out, model = trained
    s = model.sample(1000, seed=0)
    score = fidelity(df, s)
    assert score["column_shapes"] > 0.75, score
    # a table of uniform noise in the same ranges scores clearly worse
    rng = np.random.default_rng(0)
    noise = s.copy()
    noise["income"] = rng.uniform(df["income"].min(), df["income"].max(), len(s))
    noise["age"] = rng.integers(df["age"].min(), df["age"].max() + 1, len(s))
    assert fidelity(df, noise)["column_shapes"] < score["column_shapes"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/score" in r]
    assert len(evals) >= 3
    best = max(evals, key=lambda r: r["eval/score"])
    assert model.meta["best"]["step"] == best["step"] and model.meta["step"] == best["step"]
    assert model.meta["data"]["validation_rows"] == 120 and model.meta["data"]["fingerprint"]


def test_where_conditions_are_exact(trained):
    _, _, model = trained
    s = model.sample(300, condition="sex=F,age>40", seed=3)
    assert len(s) == 300 and (s["sex"] == "F").all() and (s["age"] > 40).all()
    s = model.sample(200, condition="city=rare", seed=3)            # a 1% level, natively conditioned
    assert len(s) == 200 and (s["city"] == "rare").all()
    s = model.sample(100, condition=["city!=north", "income<=60", "joined>=2021-01-01"], seed=4)
    assert (s["city"] != "north").all() and (s["income"] <= 60).all()
    assert (s["joined"] >= pd.Timestamp("2021-01-01")).all()
    s = model.sample(50, condition="score=", seed=5)                # missing values can be asked for
    assert s["score"].isna().all()


@pytest.mark.parametrize("where, message", [
    ("city=Paris", "'Paris' is not a level of 'city'"),
    ("age>200", "impossible: 'age' is generated within"),
    ("age=40.5", "is integer"),
    ("height>3", "no column 'height'"),
    ("sex>F", "only = and != apply"),
    ("age>>3", "is not a number"),
    ("nonsense", "cannot read"),
])
def test_impossible_conditions_say_why(trained, where, message):
    with pytest.raises(ConditionError, match=message):
        trained[2].sample(10, condition=where)


def test_where_is_a_deprecated_alias_of_condition(trained):
    model = trained[2]
    with pytest.warns(DeprecationWarning, match="condition"):
        old = model.sample(20, where="sex=F", seed=2)
    pd.testing.assert_frame_equal(old, model.sample(20, condition="sex=F", seed=2))


def test_write_samples_preview_and_contract(trained, tmp_path):
    from ganforge.errors import ConfigError
    from ganforge.tasks.tabular import TableOptions

    df, _, model = trained
    assert isinstance(model.options, TableOptions) and model.conditions() is None and model.can("sample")
    rows = model.sample(30, seed=0, condition="sex=M")
    import importlib.util

    parquet = importlib.util.find_spec("pyarrow") or importlib.util.find_spec("fastparquet")
    for suffix in (".csv", ".parquet") if parquet else (".csv",):
        [path] = model.write_samples(rows, tmp_path / f"s{suffix}")
        back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        assert len(back) == 30 and list(back.columns) == list(df.columns) and (back["sex"] == "M").all()
    with pytest.raises(ConfigError, match=".csv, .parquet"):
        model.write_samples(rows, tmp_path / "s.png")
    [csv] = model.preview(rows, tmp_path / "preview.png")
    assert csv.suffix == ".csv" and len(pd.read_csv(csv)) == 30


def test_run_defaults_are_the_former_cli_defaults():
    from ganforge.api import resolve

    run, options = resolve("table", {"data": "t.csv"})
    assert (run.steps, run.batch, run.eval_every, run.log_every, run.precision) == (3000, 500, 200, 50, "fp32")
    assert options.patience == 10 and options.min_delta == 0.001
    run, _ = resolve("table", {"data": "t.csv", "minutes": 2.0})
    assert run.steps is None and run.minutes == 2.0


def test_too_rare_conditions_stop_within_the_budget(trained):
    _, _, model = trained
    top = model.codec.schema["income"].max
    with pytest.raises(ConditionError, match="too rare"):
        model.sample(100, condition=f"income>{top - 1e-6}", max_draws=5000)


def test_reloaded_model_gives_identical_samples(trained):
    _, out, model = trained
    again = ganforge.load(out)
    a, b = model.sample(200, seed=7, condition="sex=M"), again.sample(200, seed=7, condition="sex=M")
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(again.sample(200, seed=8, condition="sex=M"))
    assert (out / "model-last.safetensors").exists() or model.meta["best"]["step"] == model.meta["step"]


def test_model_file_holds_no_pickles_and_json_codec(trained):
    from safetensors import safe_open
    _, out, _ = trained
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["ganforge"])
        assert all(k.startswith("G.") for k in f.keys())
    codec = TableCodec.from_json(meta["codec"])
    assert codec.schema.output_order == list(table().columns)


def test_training_by_sampling_draws_rows_with_the_chosen_level():
    df = table(400)
    schema, values = infer_schema(df)
    codec = TableCodec.fit(schema, values)
    level_idx = [codec.level_indices(schema.columns[c], codec.state[c], values[schema.columns[c].name])
                 for c, _ in codec.discrete]
    freq = [np.bincount(li, minlength=s.size).tolist() for li, (_, s) in zip(level_idx, codec.discrete)]
    sampler = CondSampler(codec, level_idx, freq)
    cond, col, level, rows = sampler.train_batch(2000, torch.Generator().manual_seed(0))
    for j in range(len(codec.discrete)):
        pick = (col == j).numpy()
        assert np.array_equal(level_idx[j][rows.numpy()[pick]], level.numpy()[pick])
    assert torch.all(cond.sum(1) == 1)
    # log-frequency: the 1% city level is drawn far more often than 1% of the time
    city = next(j for j, (c, _) in enumerate(codec.discrete) if schema.columns[c].name == "city")
    rare = schema["city"].levels.index("rare")
    share = ((col == city) & (level == rare)).sum().item() / (col == city).sum().item()
    assert share > 0.1


def test_dataframe_input_and_types_through_the_api(tmp_path):
    df = table(300)
    model = ganforge.train("table", data=df, types={"age": "categorical"}, out=tmp_path / "run",
                           **dict(TINY, steps=20, eval_every=10))
    assert model.meta["data"]["columns"]["age"] == "categorical"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["options"]["data"].startswith("DataFrame 300x7")
    assert set(model.sample(100)["age"]) <= set(df["age"])
    level = int(df["age"].value_counts().index[0])     # a numeric level of a categorical column
    s = model.sample(30, condition=f"age={level}", seed=1)
    assert s["age"].dtype == df["age"].dtype and (s["age"] == level).all()


def test_cli_train_sample_where_and_report(tmp_path):
    df = table(300)
    df.to_csv(tmp_path / "t.csv", index=False)
    run = CliRunner()
    r = run.invoke(app, ["train", "table", str(tmp_path / "t.csv"), "--out", str(tmp_path / "run"), "--steps", "20",
                         "--batch", "50", "--eval-every", "10", "--quiet", "--threads", "1", "--types", "kids=int"],
                   catch_exceptions=False)
    assert r.exit_code == 1 and "no column named 'kids'" in r.output
    r = run.invoke(app, ["train", "table", str(tmp_path / "t.csv"), "--out", str(tmp_path / "run"), "--steps", "20",
                         "--batch", "50", "--eval-every", "10", "--quiet", "--threads", "1", "--target", "sex"],
                   catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = run.invoke(app, ["sample", str(tmp_path / "run"), "--rows", "80", "-o", str(tmp_path / "s.csv"),
                         "--where", "sex=M,age>=50", "--seed", "2"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = pd.read_csv(tmp_path / "s.csv")
    assert len(s) == 80 and list(s.columns) == list(df.columns) and (s["sex"] == "M").all() and (s["age"] >= 50).all()
    r = run.invoke(app, ["sample", str(tmp_path / "run"), "--rows", "5", "-o", str(tmp_path / "x.csv"),
                         "--where", "city=Paris"], catch_exceptions=False)
    assert r.exit_code == 1 and r.output.startswith("error: where city=Paris: impossible")
    r = run.invoke(app, ["report", str(tmp_path / "t.csv"), str(tmp_path / "s.csv"), "-o",
                         str(tmp_path / "report.html"), "--target", "city"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "report.json").read_text())
    assert {"fidelity", "detection", "utility", "privacy"} <= set(rep)
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()


def test_private_training_spends_at_most_its_epsilon_and_says_so(tmp_path):
    from ganforge.engine.privacy import PrivacyAccount

    model = ganforge.train("table", data=table(600), out=tmp_path / "dp", **dict(TINY, steps=400),
                           dp_epsilon=2.0, dp_noise=1.5)
    privacy = model.meta["privacy"]
    assert privacy["epsilon"] <= 2.0 and privacy["steps"] == model.meta["step"] < 400
    assert "privacy budget spent" in model.meta["stopped_early"]["reason"]
    account = PrivacyAccount(privacy["sample_rate"], 1.5, privacy["delta"], 1.0)
    assert account.epsilon(privacy["steps"] + 1) > 2.0 >= account.epsilon(privacy["steps"])
    config = json.loads((tmp_path / "dp" / "config.json").read_text())["options"]
    assert config["pac"] == 1 and config["calibrate"] is False and config["select"] is False
    assert list(model.sample(50, seed=0).columns) == list(table(10).columns)


def test_private_gradient_is_clipped_per_record_and_noised():
    from ganforge.engine.privacy import private_gradient_loss

    net = torch.nn.Linear(3, 1, bias=False)
    x = torch.tensor([[100.0, 0, 0], [0, 0.01, 0]])
    loss, clipped = private_gradient_loss(net, x, lambda out: out, expected_n=2, max_grad_norm=1.0, noise=0.0,
                                          gen=torch.Generator().manual_seed(0))
    loss.backward()
    # record 1's gradient (100, 0, 0) is clipped to norm 1; record 2's (0, 0.01, 0) is kept; sum / 2
    assert torch.allclose(net.weight.grad, torch.tensor([[0.5, 0.005, 0.0]]), atol=1e-5) and clipped == 0.5
    net.weight.grad = None
    loss, _ = private_gradient_loss(net, x[:0], lambda out: out, 2, 1.0, 1.0, torch.Generator().manual_seed(0))
    loss.backward()
    assert net.weight.grad.abs().sum() > 0          # noise even when no record was drawn


def test_too_small_an_epsilon_is_refused_before_training(tmp_path):
    with pytest.raises(ganforge.GanforgeError, match="less than one step costs"):
        ganforge.train("table", data=table(300), out=tmp_path / "dp", **TINY, dp_epsilon=0.01)


def test_early_stopping_ends_a_run_that_stopped_improving(tmp_path):
    model = ganforge.train("table", data=table(), out=tmp_path / "es", **dict(TINY, steps=2000, eval_every=20),
                           patience=2, min_delta=0.5)
    assert model.meta["step"] < 2000 and "early stop" in model.meta["stopped_early"]["reason"]


def test_a_dataframe_run_resumes_with_its_dataframe_and_says_how_without_it(tmp_path):
    df = table(400)
    ganforge.train("table", data=df, out=tmp_path / "r", **dict(TINY, steps=40))
    with pytest.raises(ganforge.GanforgeError, match="ganforge.resume"):
        ganforge.resume(tmp_path / "r", steps=60, progress=False)
    model = ganforge.resume(tmp_path / "r", steps=60, progress=False, data=df)
    assert model.meta["step"] == 60
