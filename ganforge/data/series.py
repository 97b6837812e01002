"""Time series: read a long-format CSV, a ``.npy``/``.npz`` array or a built-in set into scaled tensors.

- Long CSV: one row per (series, time step): ``series_id, time, feature..., [label]`` (the id, time and label
  column names are options). Rows are sorted by time within each series; series may have different lengths
  (padded, with a mask). Feature columns must be numeric.
- ``.npy`` of shape (N, T, F) or (N, T); ``.npz`` with ``x`` (or ``series``) and optional ``y`` (or ``labels``).
- ``builtin:sines?n=10000&seed=0``: the TimeGAN paper's sines (5 features, length 24, frequency and phase
  uniform in [0, 0.1] per feature), scaled to [0, 1] as in the paper.

Features are scaled to [-1, 1] per feature with the real min/max, which the model file keeps to undo it.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import torch

from ..errors import DataError, quote, short_reason
from .small import MIN_SERIES, warn_if_small


@dataclass
class SeriesSet:
    x: torch.Tensor                      # float32 (N, T, F) in [-1, 1], zero past each series' length
    lengths: torch.Tensor                # int64 (N,)
    labels: torch.Tensor | None          # int64 (N,) or None
    label_names: list = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def mask(self) -> torch.Tensor:
        return torch.arange(self.x.shape[1])[None, :] < self.lengths[:, None]

    def unscale(self, x: np.ndarray) -> np.ndarray:
        lo, hi = np.asarray(self.lo), np.asarray(self.hi)
        return (np.clip(x, -1, 1) + 1) / 2 * (hi - lo) + lo

    def describe(self) -> dict[str, Any]:
        import hashlib
        h = hashlib.sha256(self.x.numpy().tobytes())
        if self.labels is not None:
            h.update(self.labels.numpy().tobytes())
        return {"source": self.source, "n": len(self), "length": int(self.x.shape[1]), "features": self.features,
                "labels": [str(v) for v in self.label_names], "fingerprint": h.hexdigest()[:16],
                "variable_length": bool((self.lengths != self.x.shape[1]).any())}


def sines(n: int = 10_000, length: int = 24, features: int = 5, seed: int = 0) -> np.ndarray:
    """The TimeGAN sines: x_f(t) = sin(freq_f * t + phase_f), freq/phase ~ U[0, 0.1], scaled to [0, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)[None, :, None]
    freq = rng.uniform(0, 0.1, (n, 1, features))
    phase = rng.uniform(0, 0.1, (n, 1, features))
    return ((np.sin(freq * t + phase) + 1) / 2).astype(np.float32)


def load_series(source: str, length: int | None = None, id_col: str = "series_id", time_col: str = "time",
                label_col: str | None = "label") -> SeriesSet:
    """Read ``source`` into a :class:`SeriesSet` (``length`` truncates longer series)."""
    labels = None
    lengths = None
    features: list[str] = []
    if source.startswith("builtin:"):
        name, _, query = source[len("builtin:"):].partition("?")
        if name != "sines":
            raise DataError(f"{source}: unknown built-in series set (known: sines)")
        params = dict(parse_qsl(query))
        try:
            x = sines(int(params.get("n", 10_000)), int(params.get("length", 24)), int(params.get("features", 5)),
                      int(params.get("seed", 0)))
        except ValueError as e:
            raise DataError(f"{source}: {e}") from None
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        if path.suffix in (".npy", ".npz"):
            x, labels = _read_array(path)
        elif path.suffix.lower() in (".csv", ".tsv"):
            x, lengths, labels, features = _read_long(path, id_col, time_col, label_col)
        else:
            raise DataError(f"{path}: expected .csv (long format), .npy or .npz")
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or min(x.shape) == 0:
        raise DataError(f"{source}: expected series of shape (N, T, F), got {x.shape}")
    if x.dtype.kind not in "fiu":
        raise DataError(f"{source}: series must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if lengths is None:
        lengths = np.full(len(x), x.shape[1])
        if np.isnan(x).any():
            raise DataError(f"{source}: contains NaN values")
        if np.isinf(x).any():
            raise DataError(f"{source}: contains infinite (or beyond float32) values")
    if length is not None:
        x, lengths = x[:, :length], np.minimum(lengths, length)
    if labels is not None and len(labels) != len(x):
        raise DataError(f"{source}: {len(labels)} labels for {len(x)} series")
    features = features or [f"f{i}" for i in range(x.shape[2])]
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
    vals = x[valid]
    lo, hi = vals.min(0), vals.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = np.where(valid[..., None], (x - lo) / span * 2 - 1, 0.0).astype(np.float32)
    label_names: list = []
    lab = None
    if labels is not None:
        label_names, inv = np.unique(np.asarray(labels).astype(str), return_inverse=True)
        label_names, lab = list(label_names), torch.from_numpy(inv.astype(np.int64))
    if not source.startswith("builtin:"):
        warn_if_small(len(x), "series", source, MIN_SERIES)
    return SeriesSet(torch.from_numpy(scaled), torch.from_numpy(lengths.astype(np.int64)), lab, label_names,
                     features, lo.tolist(), np.where(hi > lo, hi, lo + 1.0).tolist(), source)


def _read_array(path: Path):
    """(series, labels or None) from a .npy or .npz; a damaged or pickled file is a one-line DataError."""
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        with np.load(path, allow_pickle=False) as z:
            key = next((k for k in ("x", "series") if k in z), None)
            if key is None:
                raise DataError(f"{path}: no 'x' or 'series' array (has {', '.join(z.files)})")
            ykey = next((k for k in ("y", "labels") if k in z), None)
            return z[key], (z[ykey] if ykey else None)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        # numpy's words for a truncated file, an object (pickle) array, or bytes that are not .npy at all
        raise DataError(f"{path}: not a readable {path.suffix} array ({short_reason(e)})") from None


def _read_long(path: Path, id_col: str, time_col: str, label_col: str | None):
    from .tables import read_table

    df = read_table(path)
    for col in (id_col, time_col):
        if col not in df.columns:
            raise DataError(f"{path}: no {col!r} column (columns: {', '.join(df.columns)}); long format is "
                            f"{id_col}, {time_col}, feature..., [label]")
    has_label = label_col is not None and label_col in df.columns
    feats = [c for c in df.columns if c not in (id_col, time_col) and not (has_label and c == label_col)]
    if not feats:
        raise DataError(f"{path}: no feature columns besides {id_col!r} and {time_col!r}")
    for c in feats:
        if df[c].dtype.kind not in "biuf":
            raise DataError(f"{path}: feature column {quote(c)} is not numeric (e.g. {quote(df[c].dropna().iloc[0])})")
        if df[c].isna().any():
            raise DataError(f"{path}: feature column {quote(c)} has missing values (row {int(df[c].isna().argmax()) + 2})")
        if np.isinf(df[c].to_numpy(dtype=np.float64)).any():
            raise DataError(f"{path}: feature column {quote(c)} has infinite or out-of-range values "
                            f"(row {int(np.isinf(df[c].to_numpy(dtype=np.float64)).argmax()) + 2})")
    df = df.sort_values([id_col, time_col], kind="stable")
    groups = df.groupby(id_col, sort=False)
    sizes = groups.size().to_numpy()
    n, t = len(sizes), int(sizes.max())
    x = np.zeros((n, t, len(feats)), np.float32)
    pos = groups.cumcount().to_numpy()
    gid = groups.ngroup().to_numpy()
    x[gid, pos] = df[feats].to_numpy(np.float32)
    labels = None
    if has_label:
        first = groups[label_col].agg(["first", "nunique"])
        if (first["nunique"] > 1).any():
            bad = first.index[first["nunique"] > 1][0]
            raise DataError(f"{path}: series {bad!r} has more than one {label_col!r} value")
        labels = first["first"].to_numpy()
    return x, sizes, labels, feats
