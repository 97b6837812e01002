"""Rows <-> the vectors a tabular GAN sees (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN").

Continuous, integer and datetime columns get *mode-specific normalisation*: a Bayesian Gaussian
mixture (at most ``max_modes`` modes, fitted on a subsample) describes the column; a value is encoded
as the one-hot of a mode drawn from its posterior plus a scalar ``(x - mu) / (4 sigma)`` in [-1, 1].
A numeric column with missing values adds a 2-way one-hot "present / missing". Categorical and boolean
columns are one-hot over their levels, plus "other" and "missing" where they exist.

The state (mixtures, levels) is JSON-safe, so it is stored in the model file's metadata.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tables import NUMERIC, ColumnSpec, TableSchema

log = logging.getLogger("ganforge.data")

MIN_MODE_WEIGHT = 0.005
MAX_SCALED = 0.99


@dataclass(frozen=True)
class Span:
    """A slice of the encoded vector: ``act`` is "tanh" (a scalar) or "softmax" (a one-hot)."""

    start: int
    size: int
    act: str
    column: int     # index into schema.columns
    part: str       # "value" | "mode" | "missing" | "level"


class TableCodec:
    def __init__(self, schema: TableSchema, state: list[dict[str, Any]]):
        self.schema, self.state = schema, state
        self.spans: list[Span] = []
        pos = 0
        for i, (spec, st) in enumerate(zip(schema.columns, state)):
            if spec.kind in NUMERIC:
                self.spans += [Span(pos, 1, "tanh", i, "value"), Span(pos + 1, len(st["means"]), "softmax", i, "mode")]
                pos += 1 + len(st["means"])
                if st["has_missing"]:
                    self.spans.append(Span(pos, 2, "softmax", i, "missing"))
                    pos += 2
            else:
                self.spans.append(Span(pos, st["size"], "softmax", i, "level"))
                pos += st["size"]
        self.dim = pos
        #: the discrete columns the conditional vector chooses from: (column index, span)
        self.discrete = [(s.column, s) for s in self.spans if s.part == "level"]
        self.cond_offsets = np.cumsum([0] + [s.size for _, s in self.discrete]).tolist()
        self.cond_dim = self.cond_offsets[-1]

    # --------------------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, schema: TableSchema, values: dict[str, np.ndarray], max_modes: int = 10,
            fit_rows: int = 5000, seed: int = 0) -> "TableCodec":
        rng = np.random.default_rng(seed)
        state = []
        for spec in schema.columns:
            v = values[spec.name]
            if spec.kind in NUMERIC:
                x = v[~np.isnan(v)]
                st = _fit_mixture(x, max_modes, fit_rows, rng)
                st["has_missing"] = bool(np.isnan(v).any())
            else:
                st = {"has_other": bool(spec.other_levels), "has_missing": spec.missing > 0}
                st["size"] = len(spec.levels) + st["has_other"] + st["has_missing"]
            state.append(st)
        return cls(schema, state)

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema.to_json(), "state": self.state}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TableCodec":
        return cls(TableSchema.from_json(data["schema"]), data["state"])

    # --------------------------------------------------------------------------- encoding
    def level_indices(self, spec: ColumnSpec, st: dict[str, Any], v: np.ndarray) -> np.ndarray:
        """Level index of each value: modelled levels, then "other", then "missing"."""
        import pandas as pd

        lookup = {lv: i for i, lv in enumerate(spec.levels)}
        s = pd.Series(v, dtype=object)
        idx = s.map(lookup)
        missing = s.isna().to_numpy()
        other = idx.isna().to_numpy() & ~missing
        out = np.zeros(len(v), np.int64)
        known = ~(missing | other)
        out[known] = idx.to_numpy()[known].astype(np.int64)
        out[other] = len(spec.levels)              # unknown or rare values count as "other"
        out[missing] = len(spec.levels) + st["has_other"]
        if other.any() and not st["has_other"]:
            raise ValueError(f"column {spec.name!r}: values outside the known levels")
        return out

    def transform(self, values: dict[str, np.ndarray], seed: int = 0) -> np.ndarray:
        """Model values (as from :func:`infer_schema`) -> float32 matrix [N, dim]."""
        rng = np.random.default_rng(seed)
        n = len(next(iter(values.values())))
        out = np.zeros((n, self.dim), np.float32)
        rows = np.arange(n)
        for span in self.spans:
            spec, st = self.schema.columns[span.column], self.state[span.column]
            v = values[spec.name]
            if span.part == "value":
                x = v.astype(np.float64)
                miss = np.isnan(x)
                mu, sd, w = (np.asarray(st[k]) for k in ("means", "stds", "weights"))
                xf = np.where(miss, mu[np.argmax(w)], x)[:, None]
                logp = np.log(w) - np.log(sd) - 0.5 * ((xf - mu) / sd) ** 2
                mode = np.argmax(logp + rng.gumbel(size=logp.shape), axis=1)   # a draw from the posterior
                mode[miss] = np.argmax(w)
                alpha = np.clip((xf[:, 0] - mu[mode]) / (4 * sd[mode]), -MAX_SCALED, MAX_SCALED)
                alpha[miss] = 0.0
                out[:, span.start] = alpha
                out[rows, span.start + 1 + mode] = 1.0
                if st["has_missing"]:
                    out[rows, span.start + 1 + len(mu) + miss.astype(np.int64)] = 1.0
            elif span.part == "level":
                out[rows, span.start + self.level_indices(spec, st, v)] = 1.0
        return out

    def hard(self, raw: np.ndarray) -> np.ndarray:
        """Make every softmax span one-hot (argmax); used on generator outputs before :meth:`inverse`."""
        out = raw.copy()
        for span in self.spans:
            if span.act == "softmax":
                block = raw[:, span.start:span.start + span.size]
                out[:, span.start:span.start + span.size] = np.eye(span.size, dtype=out.dtype)[block.argmax(1)]
        return out

    def inverse(self, x: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
        """Matrix [N, dim] -> model values per column (floats with NaN / objects with None)."""
        rng = np.random.default_rng(seed)
        out: dict[str, np.ndarray] = {}
        for span in self.spans:
            spec, st = self.schema.columns[span.column], self.state[span.column]
            if span.part == "value":
                mu, sd = np.asarray(st["means"]), np.asarray(st["stds"])
                k = len(mu)
                mode = x[:, span.start + 1:span.start + 1 + k].argmax(1)
                alpha = np.clip(x[:, span.start], -1.0, 1.0)
                v = alpha * 4 * sd[mode] + mu[mode]
                if st["has_missing"]:
                    miss = x[:, span.start + 1 + k:span.start + 3 + k].argmax(1) == 1
                    v = np.where(miss, np.nan, v)
                out[spec.name] = v
            elif span.part == "level":
                idx = x[:, span.start:span.start + span.size].argmax(1)
                levels = np.empty(len(spec.levels) + 2, dtype=object)
                levels[:len(spec.levels)] = spec.levels
                levels[len(spec.levels):] = None
                v = levels[np.minimum(idx, len(spec.levels) + 1)]
                if st["has_other"]:
                    other = idx == len(spec.levels)
                    if other.any():
                        p = np.asarray(spec.other_counts, np.float64)
                        pool = np.empty(len(spec.other_levels), dtype=object)
                        pool[:] = spec.other_levels
                        v[other] = pool[rng.choice(len(pool), size=int(other.sum()), p=p / p.sum())]
                out[spec.name] = v
        return out


def _fit_mixture(x: np.ndarray, max_modes: int, fit_rows: int, rng: np.random.Generator) -> dict[str, Any]:
    """Modes (means, stds, weights) of a Bayesian Gaussian mixture fitted on at most ``fit_rows`` values."""
    lo, hi = float(x.min()), float(x.max())
    floor = max((hi - lo) * 1e-3, 1e-6 * max(1.0, abs(lo), abs(hi)))
    uniq = np.unique(x[: min(len(x), 100_000)])
    if len(uniq) <= 1 or max_modes <= 1:
        return {"means": [float(x.mean())], "stds": [max(float(x.std()), floor)], "weights": [1.0]}
    sub = x if len(x) <= fit_rows else rng.choice(x, fit_rows, replace=False)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    k = int(min(max_modes, len(np.unique(sub))))
    bgm = BayesianGaussianMixture(n_components=k, weight_concentration_prior_type="dirichlet_process",
                                  weight_concentration_prior=1e-3, max_iter=100, n_init=1,
                                  random_state=int(rng.integers(2**31 - 1)))
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1):  # small fits: extra threads only spin-wait
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(sub.reshape(-1, 1))
    w = bgm.weights_
    keep = w > MIN_MODE_WEIGHT
    if not keep.any():
        keep = w == w.max()
    means = bgm.means_[keep, 0]
    stds = np.maximum(np.sqrt(bgm.covariances_.reshape(-1)[keep]), floor)
    w = w[keep] / w[keep].sum()
    order = np.argsort(means)
    return {"means": means[order].tolist(), "stds": stds[order].tolist(), "weights": w[order].tolist()}


__all__ = ["TableCodec", "Span"]
