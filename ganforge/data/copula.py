"""A Gaussian copula over a table's columns: the small-table model the table task can choose instead of its GAN.

Each column gets a *normal score*: numeric values by rank (ties broken at random), discrete levels by the
interval of the cumulative frequency each level occupies (a uniform draw inside it), both mapped through the
inverse normal CDF. A nominal column's levels are laid out in the order of their mean position on the numeric
columns' first principal axis, so a level tied to high or low values sits at that end of the scale. A copula
is the correlation matrix of those scores plus each column's marginal:

- numeric columns: the quantiles of the present values on :func:`quantile_grid` (at most one quantile per
  20 rows, at least 11, so the stored numbers never amount to a list of real values), sampled by
  interpolation in the normal score (see :func:`_quantile_value`: tails thin out as a normal's do); missing values at the column's missing rate;
  an integer column with at most 50 distinct values (a count, years of schooling) keeps the frequency of
  each value instead, as a categorical column keeps its levels;
- discrete columns: the level frequencies (over the codec's levels, "other" and "missing").

Sampling draws correlated normals (noise times the Cholesky factor, the job of the registered network
:class:`~ganforge.nets.tabular.TableCopula`), maps them through the normal CDF and each marginal's inverse.
A batch is stratified (:meth:`GaussianCopula.components`, :meth:`GaussianCopula.stratify`): each copula gets
its share of the rows and each column one value from each of its equal-probability strata, so a few hundred
synthetic rows carry the model's marginals without the sampling noise of independent draws.
This is the model of SDV's ``GaussianCopulaSynthesizer`` with empirical marginals instead of fitted
parametric ones.

Given a target column, the model is a *mixture of copulas*: one per target level (per fifth of a numeric
target's range, fewer below 300 rows), each fitted on its own rows, with its own marginals and correlations,
drawn in proportion to its rows. Each class keeps its own distribution, so a model trained on the synthetic
rows learns what one trained on the real rows would (a label that is a threshold on another column stays
exact). A small group's correlation is pulled towards the whole table's (d + 2 pseudo-rows).
Like the codec's state, everything here is JSON-safe and lives in the model file.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from .table_codec import TableCodec
from .tables import NUMERIC

#: score clip: u in [EPS, 1 - EPS] keeps the normal scores finite
EPS = 1e-6
#: an integer column with at most this many distinct values keeps their frequencies, not quantiles
MAX_INTEGER_VALUES = 50


def quantile_grid(rows: int) -> np.ndarray:
    """Stored quantiles of a numeric column: 101 on large tables, fewer on small ones (at most one per 20
    rows, at least 11), so that the stored quantiles never amount to a list of the column's real values."""
    return np.linspace(0, 1, int(min(101, max(11, rows // 20))))


class GaussianCopula:
    """A mixture of Gaussian copulas, one per group of rows (one group without a target); see the module
    docstring. ``parts``: dicts of ``weight``, ``columns`` (the marginals) and ``corr``."""

    def __init__(self, parts: list[dict[str, Any]], target: str | None = None):
        self.parts, self.target = parts, target
        self.weights = np.asarray([p["weight"] for p in parts], np.float64)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, codec: TableCodec, values: dict[str, np.ndarray], seed: int = 0,
            target: str | None = None) -> "GaussianCopula":
        """Fit on model values (as from ``infer_schema``); with ``target``, one copula per target group."""
        rng = np.random.default_rng(seed)
        n = len(next(iter(values.values())))
        whole = _fit_part(codec, values, rng)
        group = _groups(codec, values, target, rng) if target is not None else None
        if group is None:
            return cls([{"weight": 1.0, **whole}])
        d = len(whole["columns"])
        parts = []
        for g in range(group.max() + 1):
            rows = np.flatnonzero(group == g)
            orders = {c["name"]: c["levels"] for c in whole["columns"] if c["kind"] == "discrete"}
            part = _fit_part(codec, {k: v[rows] for k, v in values.items()}, rng, orders)
            m = len(rows)
            corr = (m * np.asarray(part["corr"]) + (d + 2) * np.asarray(whole["corr"])) / (m + d + 2)
            parts.append({"weight": m / n, "columns": part["columns"], "corr": _nearest_correlation(corr)})
        return cls(parts, target)

    @property
    def dim(self) -> int:
        return len(self.parts[0]["columns"])

    @property
    def corr(self) -> np.ndarray:
        """The correlation of the scores (the first copula's, the only one without a target)."""
        return np.asarray(self.parts[0]["corr"])

    def cholesky(self) -> np.ndarray:
        """Each copula's Cholesky factor [copulas, d, d]."""
        return np.linalg.cholesky(np.asarray([p["corr"] for p in self.parts], np.float64))

    def to_json(self) -> dict[str, Any]:
        parts = [{"weight": round(float(p["weight"]), 8), "columns": p["columns"],
                  "corr": np.asarray(p["corr"]).round(6).tolist()} for p in self.parts]
        return {"parts": parts, "target": self.target}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "GaussianCopula":
        return cls(data["parts"], data.get("target"))

    # ------------------------------------------------------------------ sampling
    def components(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The copula of each of ``n`` rows, stratified: each copula gets floor(n x weight) rows and the
        remainder is drawn in proportion to what is left (systematic sampling), in random order."""
        share = n * self.weights / self.weights.sum()
        counts = np.floor(share).astype(int)
        rest = n - counts.sum()
        if rest:
            frac = share - counts
            points = (rng.random() + np.arange(rest)) * frac.sum() / rest
            counts += np.bincount(np.searchsorted(np.cumsum(frac), points, side="right"),
                                  minlength=len(counts))[:len(counts)]
        return rng.permutation(np.repeat(np.arange(len(counts)), counts))

    @staticmethod
    def stratify(z: np.ndarray, component: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A drawn batch of scores made a stratified one (Iman-Conover / Latin hypercube): within each copula,
        the m rows' scores of a column become one uniform draw from each of the m equal-probability strata,
        assigned in the order of the drawn scores. The dependence is the draw's, each column's values follow
        the marginal without the sampling noise of m independent draws (which, on a table of a few hundred
        rows, blurs what a model trained on the synthetic rows learns)."""
        z = np.array(z, np.float64)
        for k in np.unique(component):
            rows = np.flatnonzero(component == k)
            m = len(rows)
            ranks = np.argsort(np.argsort(z[rows], axis=0, kind="stable"), axis=0, kind="stable")
            z[rows] = ndtri(np.clip((ranks + rng.random(ranks.shape)) / m, EPS, 1 - EPS))
        return z

    def decode(self, z: np.ndarray, codec: TableCodec, rng: np.random.Generator,
               component: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Normal scores [N, columns], row i drawn from copula ``component[i]`` -> model values per column
        (as the codec's ``inverse``)."""
        u = ndtr(np.asarray(z, np.float64))
        n = len(u)
        component = np.zeros(n, int) if component is None else np.asarray(component)
        onehot = np.zeros((n, codec.dim), np.float32)
        spans = {codec.schema.columns[c].name: s for c, s in codec.discrete}
        numeric = {c["name"]: np.full(n, np.nan) for c in self.parts[0]["columns"] if c["kind"] == "numeric"}
        for k, part in enumerate(self.parts):
            rows = np.flatnonzero(component == k)
            for j, col in enumerate(part["columns"]):
                uj = u[rows, j]
                if col["kind"] == "numeric":
                    if "values" in col:
                        cum = np.cumsum(col["frequencies"])
                        pos = np.minimum(np.searchsorted(cum, uj * cum[-1], side="right"), len(cum) - 1)
                        x = np.asarray(col["values"], np.float64)[pos]
                        x[rng.random(len(rows)) < col["missing"]] = np.nan
                        numeric[col["name"]][rows] = x
                    elif col["quantiles"]:
                        x = _quantile_value(uj, col)
                        x[rng.random(len(rows)) < col["missing"]] = np.nan
                        numeric[col["name"]][rows] = x
                    continue
                cum = np.cumsum(col["frequencies"])
                pos = np.minimum(np.searchsorted(cum, uj * cum[-1], side="right"), len(cum) - 1)
                onehot[rows, spans[col["name"]].start + np.asarray(col["levels"], int)[pos]] = 1.0
        out = codec.inverse(onehot, seed=int(rng.integers(2**31 - 1)))   # levels, "other" draws, missing
        out.update(numeric)
        return out

    def describe(self) -> dict[str, Any]:
        """How the exported network's scores become values (for ``export_graph``'s decoding)."""
        return {"parts": self.to_json()["parts"], "target": self.target,
                "how": ["draw a copula k with probability parts[k].weight (the 'component' input)",
                        "u = Phi(score) (the standard normal CDF), one score per column in this order, read with "
                        "copula k's columns:",
                        "numeric with 'values': values[i] for the position i found as for discrete columns; "
                        "other numeric: p = linspace(0, 1, len(quantiles)) with p[0] = min(0.5 / rows, p[1] / 2) "
                        "and p[-1] = max(1 - 0.5 / rows, (1 + p[-2]) / 2), value = interp(Phi^-1(clip(u, p[0], "
                        "p[-1])), Phi^-1(p), quantiles) (without 'rows': interp(u, linspace(0, 1, len(quantiles)), "
                        "quantiles)); then missing with probability 'missing' (no quantiles: always missing)",
                        "discrete: the position i with cumsum(frequencies)[i-1] <= u < cumsum(frequencies)[i]; "
                        "levels[i] is the level's index among the column's levels, then 'other', then missing"]}


def _fit_part(codec: TableCodec, values: dict[str, np.ndarray], rng: np.random.Generator,
              orders: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Marginals and score correlation of one set of rows; ``orders``: the level order of each discrete
    column (default: along these rows' main axis), so that the parts of a mixture share one scale."""
    n = len(next(iter(values.values())))
    grid = quantile_grid(n)
    columns: list[dict[str, Any]] = []
    scores: list[np.ndarray | None] = []
    for spec in codec.schema.columns:   # numeric columns first: they order the levels
        if spec.kind not in NUMERIC:
            columns.append({"name": spec.name, "kind": "discrete"})
            scores.append(None)
            continue
        x = np.asarray(values[spec.name], np.float64)
        miss = np.isnan(x)
        present = x[~miss]
        col = {"name": spec.name, "kind": "numeric", "missing": float(miss.mean()), "rows": int(len(present)),
               "quantiles": np.quantile(present, grid).tolist() if len(present) else []}
        distinct, counts = np.unique(present, return_counts=True)
        if spec.kind == "integer" and len(distinct) <= MAX_INTEGER_VALUES:
            # few whole numbers (a count, years of schooling): their frequencies, as a categorical's levels
            col.update(values=distinct.tolist(), frequencies=(counts / counts.sum()).tolist())
        columns.append(col)
        # ranks of the present values (ties at random); a missing value takes a random score
        u = rng.random(n)
        order = np.lexsort((rng.random(len(present)), present))
        ranks = np.empty(len(present))
        ranks[order] = np.arange(len(present))
        u[~miss] = (ranks + 0.5) / max(len(present), 1)
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
        rank = np.asarray(orders[spec.name]) if orders else \
            np.argsort(np.where(freq > 0, means, np.inf), kind="stable")   # codec index at each position
        pos = np.empty_like(rank)
        pos[rank] = np.arange(len(rank))
        cum = np.r_[0.0, np.cumsum(freq[rank])] / n
        columns[j].update(frequencies=(freq[rank] / n).tolist(), levels=rank.tolist())
        p = pos[idx]
        u = cum[p] + rng.random(n) * (cum[p + 1] - cum[p])
        scores[j] = ndtri(np.clip(u, EPS, 1 - EPS))
    z = np.stack(scores, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(z, rowvar=False) if n > 2 else np.eye(z.shape[1])
    return {"columns": columns, "corr": _nearest_correlation(np.atleast_2d(np.nan_to_num(corr)))}


def _quantile_value(u: np.ndarray, col: dict[str, Any]) -> np.ndarray:
    """A numeric column's value at probability ``u`` from its stored quantiles. Between quantiles the value
    is linear in the normal score Phi^-1(u), and the smallest and largest of m values sit at probabilities
    0.5/m and 1 - 0.5/m (beyond them u is clipped): a column's tails thin out as a normal's do instead of
    spreading evenly up to the extremes, which on a few hundred rows would put one row in ten between the
    last two stored quantiles. (Files written before "rows" was stored interpolate linearly in u.)"""
    q = np.asarray(col["quantiles"], np.float64)
    p = np.linspace(0, 1, len(q))
    if "rows" not in col:
        return np.interp(u, p, q)
    end = 0.5 / max(int(col["rows"]), 1)
    p[0], p[-1] = min(end, p[1] / 2), max(1 - end, (1 + p[-2]) / 2)
    return np.interp(ndtri(np.clip(u, p[0], p[-1])), ndtri(p), q)


def _groups(codec: TableCodec, values: dict[str, np.ndarray], target: str, rng) -> np.ndarray | None:
    """Group index per row: the target's level, or its fifth (by rank; fewer below 300 rows); None when
    that gives one group."""
    spec = codec.schema[target]
    n = len(values[target])
    if spec.discrete:
        idx = codec.level_indices(spec, codec.state[codec.schema.columns.index(spec)], values[target])
        _, group = np.unique(idx, return_inverse=True)
    else:
        x = np.asarray(values[target], np.float64)
        bins = int(np.clip(n // 60, 1, 5))
        ranks = np.argsort(np.argsort(np.where(np.isnan(x), np.inf, x) + rng.random(n) * 1e-9, kind="stable"))
        group = np.minimum(ranks * bins // n, bins - 1)
    return group if group.max() > 0 else None


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
