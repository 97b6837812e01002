"""Reading tables, inferring column types, bad-input messages, and the codec's round trip."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from ganforge.data.table_codec import TableCodec
from ganforge.data.tables import (OTHER_KEEP, infer_schema, parse_types, read_table, restore_column,
                                  write_table)
from ganforge.errors import ConfigError, DataError


def mixed_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": np.where(rng.random(n) < 0.5, rng.normal(30, 3, n), rng.normal(80, 5, n)),
        "sex": rng.choice(["F", "M"], n),
        "kids": rng.integers(0, 4, n),
        "member": rng.random(n) < 0.3,
        "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
        "score": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(2, n)),
        "user_id": [f"u{i:05d}" for i in range(n)],
    })


def kinds(schema):
    return {c.name: c.kind for c in schema.columns}


def test_types_are_inferred_and_identifiers_dropped(caplog):
    with caplog.at_level(logging.INFO, logger="ganforge.data"):
        schema, values = infer_schema(mixed_frame())
    assert kinds(schema) == {"age": "integer", "income": "continuous", "sex": "categorical", "kids": "categorical",
                             "member": "boolean", "joined": "datetime", "score": "continuous"}
    assert schema.dropped == ["user_id"] and "user_id" in caplog.text and "identifier" in caplog.text
    assert schema["score"].missing == pytest.approx(np.isnan(values["score"]).mean(), abs=1e-6)
    assert schema["age"].min >= 18 and schema["age"].max <= 89


def test_types_can_be_overridden():
    schema, _ = infer_schema(mixed_frame(), types="age=categorical,kids=int,user_id=categorical,score=drop")
    k = kinds(schema)
    assert k["age"] == "categorical" and k["kids"] == "integer" and k["user_id"] == "categorical"
    assert "score" not in k and "score" in schema.dropped
    assert parse_types({"a": "float", "b": "bool"}) == {"a": "continuous", "b": "boolean"}
    with pytest.raises(ConfigError, match="nope"):
        infer_schema(mixed_frame(), types={"nope": "int"})
    with pytest.raises(ConfigError, match="unknown type"):
        parse_types("age=banana")


def test_codec_round_trip_keeps_values_dtypes_and_missing():
    df = mixed_frame()
    schema, values = infer_schema(df)
    codec = TableCodec.fit(schema, values, seed=0)
    x = codec.transform(values, seed=0)
    assert x.dtype == np.float32 and x.shape == (len(df), codec.dim)
    back = codec.inverse(x)
    for spec in schema.columns:
        out = restore_column(spec, back[spec.name])
        assert str(out.dtype) == str(df[spec.name].dtype), spec.name
        if spec.kind == "continuous":
            np.testing.assert_allclose(out.to_numpy(), df[spec.name].to_numpy(), rtol=1e-4, atol=1e-4)
        else:
            assert out.equals(df[spec.name]), spec.name
    # each one-hot span holds exactly one 1 per row
    for span in codec.spans:
        if span.act == "softmax":
            assert np.all(x[:, span.start:span.start + span.size].sum(1) == 1)


def test_continuous_column_finds_its_modes():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": np.r_[rng.normal(-10, 1, 500), rng.normal(10, 1, 500)], "c": ["a", "b"] * 500})
    schema, values = infer_schema(df)
    codec = TableCodec.fit(schema, values, seed=0)
    means = sorted(codec.state[0]["means"])
    assert len(means) >= 2 and means[0] == pytest.approx(-10, abs=1) and means[-1] == pytest.approx(10, abs=1)


def test_high_cardinality_is_bounded_and_other_bucket_sampled():
    rng = np.random.default_rng(0)
    n = 20_000
    common = rng.choice([f"c{i}" for i in range(5)], n // 2)
    rare = np.array([f"r{i}" for i in range(n // 2)])      # 10,000 levels seen once each
    df = pd.DataFrame({"city": np.r_[common, rare], "v": rng.normal(size=n)})
    schema, values = infer_schema(df, types={"city": "categorical"}, max_levels=3)
    spec = schema["city"]
    assert len(spec.levels) == 3 and len(spec.other_levels) == OTHER_KEEP
    codec = TableCodec.fit(schema, values)
    assert codec.spans[0].size == 4  # 3 levels + other: memory does not grow with the 10,005 levels
    back = codec.inverse(codec.transform(values), seed=1)["city"]
    allowed = set(spec.levels) | set(spec.other_levels)
    assert set(back) <= allowed and len(set(back) & set(spec.other_levels)) > 100


def test_mixed_types_numbers_with_a_few_words_become_missing(caplog):
    vals = [str(i) for i in range(100)] + ["unknown"] * 3
    df = pd.DataFrame({"x": vals, "y": ["a", "b"] * 51 + ["a"]})
    with caplog.at_level(logging.WARNING, logger="ganforge.data"):
        schema, values = infer_schema(df)
    assert schema["x"].kind == "integer" and np.isnan(values["x"]).sum() == 3
    assert "mixed types" in caplog.text and "'x'" in caplog.text
    half = pd.DataFrame({"x": ["1", "2", "a", "b"] * 10, "y": range(40)})
    assert infer_schema(half)[0]["x"].kind == "categorical"


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("a,b\n", "no rows"),
    ("a\n1\n2\n", "only one column"),
    ("a,b,a\n1,2,3\n", "duplicate column name 'a'"),
])
def test_bad_files_give_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as e:
        read_table(path)
    assert "bad.csv" in str(e.value) and "\n" not in str(e.value)


def test_all_missing_column_is_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,,x\n2,,y\n")
    with pytest.raises(DataError, match="column 'b': every value is missing"):
        infer_schema(read_table(path))


def test_latin1_is_read_with_a_warning_and_semicolons_are_detected(tmp_path, caplog):
    path = tmp_path / "t.csv"
    path.write_bytes("name;city\nJosé;Zürich\nAnn;Köln\n".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="ganforge.data"):
        df = read_table(path)
    assert list(df.columns) == ["name", "city"] and df["city"].tolist() == ["Zürich", "Köln"]
    assert "not UTF-8" in caplog.text and "Latin-1" in caplog.text


def test_missing_file_and_dataframe_duplicates(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    df = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match="duplicate column name 'a'"):
        read_table(df)


def test_write_and_read_csv_and_parquet(tmp_path):
    df = mixed_frame(50).drop(columns=["joined"])
    back = read_table(write_table(df, tmp_path / "t.csv"))
    assert list(back.columns) == list(df.columns) and len(back) == 50
    pytest.importorskip("pyarrow")
    back = read_table(write_table(mixed_frame(50), tmp_path / "t.parquet"))
    assert back.dtypes.to_dict() == mixed_frame(50).dtypes.to_dict()
