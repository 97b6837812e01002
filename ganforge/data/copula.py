"""A Gaussian copula over a table's columns: the small-table model the table task can choose instead of its GAN.

Each column gets a *normal score*: numeric values by rank (ties broken at random), discrete levels by the
interval of the cumulative frequency each level occupies (a uniform draw inside it), both mapped through the
inverse normal CDF. A nominal column's levels are laid out in the order of their mean position on the numeric
columns' first principal axis, so a level tied to high or low values sits at that end of the scale. The model is the correlation matrix of those scores plus each column's marginal:

- numeric columns: the quantiles of the present values on :func:`quantile_grid` (at most one quantile per
  20 rows on small tables, so the stored numbers never amount to a list of real values), sampled by
  linear interpolation; missing values at the column's missing rate;
- discrete columns: the level frequencies the codec already stores (levels, "other", "missing").

Sampling draws correlated normals (noise times the Cholesky factor, the job of the registered network
:class:`~ganforge.nets.tabular.TableCopula`), maps them through the normal CDF and each marginal's inverse.
This is the model of SDV's ``GaussianCopulaSynthesizer`` with empirical marginals instead of fitted
parametric ones. Like the codec's state, everything here is JSON-safe and lives in the model file.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from .table_codec import TableCodec
from .tables import NUMERIC

#: score clip: u in [EPS, 1 - EPS] keeps the normal scores finite
EPS = 1e-6


def quantile_grid(rows: int) -> np.ndarray:
    """Stored quantiles of a numeric column: 101 on large tables, fewer on small ones (at most one per 20
    rows, at least 11), so that the stored quantiles never amount to a list of the column's real values."""
    return np.linspace(0, 1, int(min(101, max(11, rows // 20))))


class GaussianCopula:
    """Marginals (JSON) + the correlation of the columns' normal scores; see the module docstring."""

    def __init__(self, columns: list[dict[str, Any]], corr: np.ndarray):
        self.columns, self.corr = columns, np.asarray(corr, np.float64)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, codec: TableCodec, values: dict[str, np.ndarray], seed: int = 0) -> "GaussianCopula":
        rng = np.random.default_rng(seed)
        n = len(next(iter(values.values())))
        grid = quantile_grid(n)
        columns: list[dict[str, Any]] = []
        scores: list[np.ndarray | None] = []
        for spec, st in zip(codec.schema.columns, codec.state):   # numeric columns first: they order the levels
            if spec.kind not in NUMERIC:
                columns.append({"name": spec.name, "kind": "discrete"})
                scores.append(None)
                continue
            x = np.asarray(values[spec.name], np.float64)
            miss = np.isnan(x)
            present = x[~miss]
            columns.append({"name": spec.name, "kind": "numeric", "missing": float(miss.mean()),
                            "quantiles": np.quantile(present, grid).tolist()})
            # ranks of the present values (ties at random); a missing value takes a random score
            u = rng.random(n)
            order = np.lexsort((rng.random(len(present)), present))
            ranks = np.empty(len(present))
            ranks[order] = np.arange(len(present))
            u[~miss] = (ranks + 0.5) / len(present)
            scores.append(ndtri(np.clip(u, EPS, 1 - EPS)))
        axis = _main_axis([z for z in scores if z is not None], n)
        for j, (spec, st) in enumerate(zip(codec.schema.columns, codec.state)):
            if scores[j] is not None:
                continue
            idx = codec.level_indices(spec, st, values[spec.name])
            freq = np.bincount(idx, minlength=st["size"]).astype(np.float64)
            # a nominal column has no order of its own: lay its levels along the numeric columns' main axis,
            # so that a level tied to high (or low) values sits at that end of the normal scale
            means = np.bincount(idx, weights=axis, minlength=st["size"]) / np.maximum(freq, 1)
            rank = np.argsort(np.where(freq > 0, means, np.inf), kind="stable")   # codec index at each position
            pos = np.empty_like(rank)
            pos[rank] = np.arange(len(rank))
            cum = np.r_[0.0, np.cumsum(freq[rank])] / n
            columns[j].update(frequencies=(freq[rank] / n).tolist(), levels=rank.tolist())
            p = pos[idx]
            u = cum[p] + rng.random(n) * (cum[p + 1] - cum[p])
            scores[j] = ndtri(np.clip(u, EPS, 1 - EPS))
        z = np.stack(scores, 1)
        corr = np.corrcoef(z, rowvar=False) if n > 2 else np.eye(z.shape[1])
        return cls(columns, _nearest_correlation(np.atleast_2d(np.nan_to_num(corr))))

    @property
    def dim(self) -> int:
        return len(self.columns)

    def cholesky(self) -> np.ndarray:
        return np.linalg.cholesky(self.corr)

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "corr": self.corr.round(6).tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "GaussianCopula":
        return cls(data["columns"], np.asarray(data["corr"], np.float64))

    # ------------------------------------------------------------------ sampling
    def decode(self, z: np.ndarray, codec: TableCodec, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Correlated normal scores [N, columns] -> model values per column (as the codec's ``inverse``)."""
        u = ndtr(np.asarray(z, np.float64))
        n = len(u)
        onehot = np.zeros((n, codec.dim), np.float32)
        spans = {codec.schema.columns[c].name: s for c, s in codec.discrete}
        numeric: dict[str, np.ndarray] = {}
        for j, col in enumerate(self.columns):
            if col["kind"] == "numeric":
                q = np.asarray(col["quantiles"])
                x = np.interp(u[:, j], np.linspace(0, 1, len(q)), q)
                x[rng.random(n) < col["missing"]] = np.nan
                numeric[col["name"]] = x
            else:
                cum = np.cumsum(col["frequencies"])
                pos = np.minimum(np.searchsorted(cum, u[:, j] * cum[-1], side="right"), len(cum) - 1)
                span = spans[col["name"]]
                onehot[np.arange(n), span.start + np.asarray(col["levels"])[pos]] = 1.0
        out = codec.inverse(onehot, seed=int(rng.integers(2**31 - 1)))   # levels, "other" draws, missing
        out.update(numeric)
        return out

    def describe(self) -> dict[str, Any]:
        """How the exported network's scores become values (for ``export_graph``'s decoding)."""
        return {"columns": self.columns,
                "how": ["u = Phi(score) (the standard normal CDF), one score per column in this order",
                        "numeric: value = interp(u, linspace(0, 1, len(quantiles)), quantiles); then missing "
                        "with probability 'missing'",
                        "discrete: the position i with cumsum(frequencies)[i-1] <= u < cumsum(frequencies)[i]; "
                        "levels[i] is the level's index among the column's levels, then 'other', then missing"]}


def _main_axis(scores: list[np.ndarray], n: int) -> np.ndarray:
    """Each row's position on the first principal axis of the numeric columns' scores (zeros without any)."""
    if not scores:
        return np.zeros(n)
    z = np.stack(scores, 1)
    if z.shape[1] == 1:
        return z[:, 0]
    _, _, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    return (z - z.mean(0)) @ vt[0]


def _nearest_correlation(c: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """A symmetric positive-definite correlation matrix close to ``c`` (eigenvalues floored, unit diagonal)."""
    c = (c + c.T) / 2
    w, v = np.linalg.eigh(c)
    c = (v * np.maximum(w, floor)) @ v.T
    d = np.sqrt(np.diag(c))
    c = c / np.outer(d, d)
    np.fill_diagonal(c, 1.0)
    return c
