"""Tables: read CSV / Parquet / DataFrames, infer column types, validate, and write tables back.

The schema (:class:`TableSchema`) records, per column, what it is (continuous, integer, categorical,
boolean, datetime), its dtype, range and missing values, so that generated rows come back with the
input's columns, order and dtypes. It is JSON-safe and stored in the model file.

Documented automatic handling of awkward input (everything else is a one-line :class:`DataError`):

- **encoding**: CSV is read as UTF-8; on undecodable bytes it is re-read as Latin-1 (every byte
  decodes) with a warning naming the file.
- **delimiter**: a file that parses into one column whose header holds ``;``, tab or ``|`` is re-read
  with that separator; otherwise one column is an error (a tabular GAN needs 2+ columns).
- **mixed types**: a text column where at least 95% of the non-missing values are numbers is numeric;
  the non-numbers become missing values (logged with a count and an example). Below 95% it is categorical.
- **identifiers / free text**: a text column whose values are (nearly) all distinct (> 90% and > 50
  values) is dropped with a log line; it is not in the generated output. Force it with ``types``.
- **high cardinality**: a categorical column keeps its ``max_levels`` (default 100) most frequent levels
  as modelled levels; the next ``OTHER_KEEP`` (1000) levels form an "other" bucket that the model
  treats as one level and from which values are drawn in proportion to their frequency. Rarer levels are
  never generated. Memory is therefore bounded whatever the cardinality (a 10-million-level column costs
  ~1,100 levels), and very rare values, which identify people, are not reproduced.
- **missing values** are modelled: a categorical column gets a "missing" level, a numeric one a
  missing indicator; a column that is 100% missing is an error.
"""
from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, quote

log = logging.getLogger("ganforge.data")

KINDS = ("continuous", "integer", "categorical", "boolean", "datetime")
NUMERIC = ("continuous", "integer", "datetime")
_ALIASES = {"int": "integer", "integer": "integer", "float": "continuous", "continuous": "continuous",
            "num": "continuous", "numeric": "continuous", "cat": "categorical", "categorical": "categorical",
            "category": "categorical", "str": "categorical", "bool": "boolean", "boolean": "boolean",
            "date": "datetime", "datetime": "datetime", "drop": "drop", "id": "drop"}
MAX_LEVELS = 100          # modelled levels of a categorical column
OTHER_KEEP = 1000         # further levels kept in the "other" bucket
SMALL_INT_LEVELS = 10     # integer-valued numeric columns with at most this many values are categorical
MIXED_NUMERIC = 0.95      # share of numbers above which a text column is numeric (the rest -> missing)
ID_UNIQUE = 0.9           # share of distinct values above which a text column is an identifier


def _pd():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        raise DataError("tables need pandas: pip install pandas") from None
    return pd


# ----------------------------------------------------------------------------------------- reading
def read_table(source: Any) -> "pd.DataFrame":  # noqa: F821
    """A DataFrame from a CSV/TSV/Parquet path or a DataFrame, with the structural checks done."""
    pd = _pd()
    if isinstance(source, pd.DataFrame):
        df, where = source.copy(), "DataFrame"
        if df.columns.duplicated().any():
            dup = df.columns[df.columns.duplicated()][0]
            raise DataError(f"{where}: duplicate column name {quote(dup)}")
        df.columns = [str(c) for c in df.columns]
    else:
        path = Path(str(source))
        where = str(path)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
        if path.suffix.lower() in (".parquet", ".pq"):
            try:
                df = pd.read_parquet(path)
            except Exception as e:
                raise DataError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
            df.columns = [str(c) for c in df.columns]
            if len(set(df.columns)) != len(df.columns):
                raise DataError(f"{path}: duplicate column names")
        else:
            df = _read_csv(path)
    if df.shape[1] == 0:
        raise DataError(f"{where}: no columns")
    if df.shape[1] == 1:
        raise DataError(f"{where}: only one column ({quote(df.columns[0])}); a table needs at least two "
                        "(wrong delimiter, or not a CSV file?)")
    if len(df) == 0:
        raise DataError(f"{where}: a header but no rows")
    return df


def _read_csv(path: Path):
    pd = _pd()
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    encoding = "utf-8"
    try:
        header = _header(path, sep, encoding)
    except UnicodeDecodeError as e:
        log.warning("%s: not UTF-8 (byte 0x%02x at offset %d); reading it as Latin-1", path,
                    e.object[e.start], e.start)
        encoding = "latin-1"
        header = _header(path, sep, encoding)
    if len(header) == 1:
        for alt in (";", "\t", "|"):
            if alt in header[0]:
                sep, header = alt, _header(path, alt, encoding)
                break
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path}: duplicate column name {quote(name)} in the header")
        seen.add(name)
    try:
        df = pd.read_csv(path, sep=sep, encoding=encoding, low_memory=False)
    except UnicodeDecodeError as e:  # a bad byte after the first chunk
        log.warning("%s: not UTF-8 (byte at offset %d); reading it as Latin-1", path, e.start)
        df = pd.read_csv(path, sep=sep, encoding="latin-1", low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: not a readable CSV file ({str(e).splitlines()[0]})") from None
    return df


def _header(path: Path, sep: str, encoding: str) -> list[str]:
    import csv

    with open(path, newline="", encoding=encoding) as f:
        text = f.read(1 << 20)  # decode the first MiB strictly: most bad bytes show up here
    rows = csv.reader(text.splitlines()[:1], delimiter=sep)
    header = next(rows, [])
    if not header or all(not h.strip() for h in header):
        raise DataError(f"{path}: the file is empty (no header line)")
    return [h.strip() for h in header]


def write_table(df, path: str | Path) -> Path:
    """Write a DataFrame as CSV or Parquet (by suffix), atomically."""
    from ..fileio import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() in (".parquet", ".pq"):
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False, sep="\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    return path


# ----------------------------------------------------------------------------------------- schema
@dataclass
class ColumnSpec:
    """One column as the model sees it. ``levels``/``counts`` for discrete kinds; min/max for numeric."""

    name: str
    kind: str
    dtype: str                             # pandas dtype of the input column, restored on output
    missing: float = 0.0                   # share of missing values
    min: float | None = None
    max: float | None = None
    levels: list = field(default_factory=list)         # modelled levels (JSON-safe values)
    counts: list = field(default_factory=list)
    other_levels: list = field(default_factory=list)   # the "other" bucket: values and counts
    other_counts: list = field(default_factory=list)
    tz: str | None = None                  # timezone of a datetime column
    resolution: float | None = None        # datetime: seconds of the coarsest unit every value is a multiple of

    @property
    def discrete(self) -> bool:
        return self.kind in ("categorical", "boolean")


@dataclass
class TableSchema:
    columns: list[ColumnSpec]
    order: list[str]                       # the input's column order, dropped columns included
    dropped: list[str] = field(default_factory=list)
    rows: int = 0

    def __getitem__(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def output_order(self) -> list[str]:
        return [n for n in self.order if n not in self.dropped]

    def to_json(self) -> dict[str, Any]:
        return {"columns": [asdict(c) for c in self.columns], "order": self.order, "dropped": self.dropped,
                "rows": self.rows}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TableSchema":
        return cls([ColumnSpec(**c) for c in data["columns"]], list(data["order"]), list(data["dropped"]),
                   int(data.get("rows", 0)))


def parse_types(types: Any) -> dict[str, str]:
    """``{"age": "int"}`` or ``"age=int,zip=categorical"`` -> ``{"age": "integer", "zip": "categorical"}``."""
    if types is None or types == "":
        return {}
    if isinstance(types, str):
        pairs = {}
        for part in types.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ConfigError(f"types: expected COLUMN=TYPE, got {part.strip()!r}")
            k, v = part.split("=", 1)
            pairs[k.strip()] = v.strip()
        types = pairs
    if not isinstance(types, dict):
        raise ConfigError(f"types: expected a mapping or 'col=type,...', got {type(types).__name__}")
    out = {}
    for k, v in types.items():
        kind = _ALIASES.get(str(v).lower())
        if kind is None:
            raise ConfigError(f"types: {k}={v}: unknown type (use one of {', '.join(sorted(set(_ALIASES)))})")
        out[str(k)] = kind
    return out


def _json_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if not isinstance(v, (str, int, float, bool)) and v is not None:
        v = str(v)
    return v


def _numbers(s, name: str):
    """The column as float64, or None when it is not (mostly) numeric; non-numbers become NaN."""
    pd = _pd()
    if s.dtype.kind in "biuf":
        return s.astype("float64")
    if s.dtype.kind in "mM":
        return None
    present = s.notna()
    num = pd.to_numeric(s, errors="coerce")
    good = num.notna() & present
    n_present = int(present.sum())
    if n_present == 0 or int(good.sum()) == 0:
        return None
    share = good.sum() / n_present
    if share == 1.0:
        return num.astype("float64")
    if share >= MIXED_NUMERIC:
        bad = s[present & ~good]
        log.warning("column %s: mixed types: %d of %d values are not numbers (e.g. %s); treated as missing",
                    quote(name), len(bad), n_present, quote(bad.iloc[0]))
        return num.astype("float64")
    return None


def _datetimes(s):
    pd = _pd()
    if s.dtype.kind == "M":
        return s
    if s.dtype.kind not in "OUS" and str(s.dtype) not in ("string", "str"):
        return None
    sample = s.dropna().astype(str).head(200)
    if len(sample) == 0 or not sample.str.contains(r"\d[-/:.]\d|\d{4}", regex=True).all():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(s, errors="coerce", format="mixed")
        except (TypeError, ValueError):
            return None
    if parsed.notna().sum() == s.notna().sum():
        return parsed
    return None


def infer_schema(df, types: Any = None, max_levels: int = MAX_LEVELS):
    """Column types inferred from ``df`` (overridden by ``types``) -> (schema, frame of model values).

    The returned frame holds, per kept column, floats for numeric kinds (datetimes as seconds since
    the epoch, NaN for missing) and the original values (NaN/None for missing) for discrete kinds.
    """
    pd = _pd()
    forced = parse_types(types)
    unknown = sorted(set(forced) - set(df.columns))
    if unknown:
        raise ConfigError(f"types: no column named {unknown[0]!r} (columns: {', '.join(map(str, df.columns))})")
    specs: list[ColumnSpec] = []
    values: dict[str, Any] = {}
    dropped: list[str] = []
    n = len(df)
    for name in df.columns:
        s = df[name]
        present = s.notna()
        n_present = int(present.sum())
        if n_present == 0:
            raise DataError(f"column {quote(name)}: every value is missing; drop it or fill it")
        kind = forced.get(name)
        if kind == "drop":
            dropped.append(name)
            log.info("column %r: dropped (types)", name)
            continue
        dtype = str(s.dtype)
        num = dt = None
        if kind is None:
            if s.dtype.kind == "b" or (s.dtype == object and set(s.dropna().map(type).unique()) <= {bool, np.bool_}):
                kind = "boolean"
            elif (dt := _datetimes(s)) is not None:
                kind = "datetime"
            elif (num := _numbers(s, name)) is not None:
                vals = num[np.isfinite(num)]  # inf and 1e400 are dealt with below (missing, with a warning)
                integral = bool(np.all(np.mod(vals.to_numpy(), 1) == 0))
                if integral and 0 < vals.nunique() <= SMALL_INT_LEVELS:
                    kind = "categorical"
                else:
                    kind = "integer" if integral else "continuous"
            else:
                low = s.dropna().astype(str).str.lower()
                n_unique = low.nunique()
                if set(low.unique()) <= {"true", "false"}:
                    kind = "boolean"
                elif n_unique > ID_UNIQUE * n_present and n_unique > 50:
                    dropped.append(name)
                    log.info("column %r: dropped: looks like an identifier or free text (%d distinct values in "
                             "%d rows); force a type with types={%r: 'categorical'}", name, n_unique, n_present, name)
                    continue
                else:
                    kind = "categorical"
        spec = ColumnSpec(name=name, kind=kind, dtype=dtype, missing=round(1 - n_present / n, 6))
        if kind in NUMERIC:
            if kind == "datetime":
                dt = dt if dt is not None else _datetimes(s)
                if dt is None:
                    raise DataError(f"column {quote(name)}: declared datetime but its values do not parse as dates")
                if getattr(dt.dt, "tz", None) is not None:
                    spec.tz = str(dt.dt.tz)
                    dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
                col = (dt.astype("datetime64[ns]").astype("int64").astype("float64") / 1e9).where(dt.notna())
            else:
                col = num if num is not None else _numbers(s, name)
                if col is None:
                    raise DataError(f"column {quote(name)}: declared {kind} but its values are not numbers "
                                    f"(e.g. {quote(s.dropna().iloc[0])})")
                if col.notna().sum() == 0:
                    raise DataError(f"column {quote(name)}: no numeric values")
                infinite = np.isinf(col.to_numpy(dtype="float64"))
                if infinite.any():
                    # inf, -inf and numbers beyond float64 (1e400 parses as inf): no mixture can fit them
                    example = s[infinite].iloc[0]
                    example = example if isinstance(example, str) else float(example)
                    col = col.where(~infinite)
                    if col.notna().sum() == 0:
                        raise DataError(f"column {quote(name)}: no finite values (e.g. {quote(example)})")
                    log.warning("column %s: %d infinite or out-of-range values (e.g. %s); treated as missing",
                                quote(name), int(infinite.sum()), quote(example))
            if kind == "integer":
                col = col.round()
            if kind == "datetime":
                secs = col.dropna().to_numpy()
                spec.resolution = next((float(r) for r in (86400, 3600, 60, 1) if np.all(np.mod(secs, r) == 0)), None)
            spec.min, spec.max = float(col.min()), float(col.max())
            spec.missing = round(float(col.isna().mean()), 6)
            values[name] = col.to_numpy(dtype="float64")
        else:
            col = s
            if kind == "boolean" and s.dtype.kind not in "b":
                low = s.astype(str).str.lower()
                col = pd.Series(np.where(low == "true", True, False), index=s.index).where(present)
                col = col.astype(object).where(present, None)
            counts = col.dropna().value_counts(sort=True)
            if max_levels < 1:
                raise ConfigError(f"max_levels must be positive, got {max_levels}")
            top, rest = counts.iloc[:max_levels], counts.iloc[max_levels:max_levels + OTHER_KEEP]
            if len(counts) > max_levels:
                log.info("column %r: %d levels: the %d most frequent are modelled, the next %d share an "
                         "'other' level, %d rarer ones are not generated", name, len(counts), len(top),
                         len(rest), max(0, len(counts) - max_levels - OTHER_KEEP))
            spec.levels = [_json_value(v) for v in top.index]
            spec.counts = [int(c) for c in top.to_numpy()]
            spec.other_levels = [_json_value(v) for v in rest.index]
            spec.other_counts = [int(c) for c in rest.to_numpy()]
            values[name] = col.to_numpy(dtype=object)
        specs.append(spec)
    if len(specs) < 2:
        raise DataError(f"only {len(specs)} usable column(s) after dropping identifiers ({', '.join(dropped)}); "
                        "a table needs at least two")
    schema = TableSchema(specs, [str(c) for c in df.columns], dropped, n)
    return schema, values


def fingerprint(df) -> str:
    """A content hash of a DataFrame (values, column names and dtypes)."""
    pd = _pd()
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------- output
def restore_column(spec: ColumnSpec, values: np.ndarray):
    """Model values of one column (floats / objects, NaN or None for missing) -> a pandas Series of the
    input's dtype (rounded and clipped to the input's range for numeric kinds)."""
    pd = _pd()
    if spec.kind in NUMERIC:
        x = np.clip(values.astype("float64"), spec.min, spec.max)
        if spec.kind == "integer":
            x = np.round(x)
        if spec.kind == "datetime" and spec.resolution:
            x = np.round(x / spec.resolution) * spec.resolution
        if spec.kind == "datetime":
            s = pd.Series(pd.to_datetime(x, unit="s"))
            if spec.tz:
                return s.dt.tz_localize("UTC").dt.tz_convert(spec.tz)
            return _astype(s, spec.dtype, integral=False) if spec.dtype.startswith("datetime64") else s
        s = pd.Series(x)
        return _astype(s, spec.dtype, integral=spec.kind == "integer")
    s = pd.Series(values, dtype=object)
    if spec.kind == "boolean" and spec.dtype not in ("bool", "boolean"):
        return _astype(s, spec.dtype, integral=False)
    return _astype(s, spec.dtype, integral=False)


def _astype(s, dtype: str, integral: bool):
    has_na = bool(s.isna().any())
    target = dtype
    if s.dtype.kind == "f" and not dtype.startswith(("int", "uint", "Int", "UInt", "float", "Float")):
        # a numeric column that was text in the input (mixed types, forced types): numbers on output
        target = ("Int64" if has_na else "int64") if integral else "float64"
    if has_na and dtype.startswith(("int", "uint")):
        target = "float64" if not integral else dtype.replace("int", "Int").replace("uInt", "UInt")
    if has_na and dtype == "bool":
        target = "boolean"
    try:
        return s.astype(target)
    except (TypeError, ValueError):
        return s


__all__ = ["read_table", "write_table", "infer_schema", "parse_types", "TableSchema", "ColumnSpec",
           "fingerprint", "restore_column", "KINDS"]
