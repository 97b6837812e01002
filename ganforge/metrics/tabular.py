"""How good, how useful and how private synthetic rows are, compared with the real table.

- **fidelity**: per-column shape similarity (1 - Kolmogorov-Smirnov statistic for numeric columns,
  1 - total variation distance for discrete ones), pair trends (1 - |correlation difference| / 2 for
  two numeric columns, 1 - total variation of the contingency table otherwise, numeric columns in
  real-quantile bins), and their mean as one score in [0, 1]. The same function selects the best model
  during training.
- **detection**: how well a classifier tells real from synthetic (3-fold ROC AUC of a logistic regression
  and of gradient-boosted trees); score ``2 * (1 - AUC)`` clipped to [0, 1]: 1 = indistinguishable.
- **utility**: train on synthetic, test on real (TSTR) vs train on real, test on real (TRTR) for a target
  column, with a linear model and gradient-boosted trees.
- **privacy**: distance to the closest training record (DCR) of synthetic rows vs that of real holdout rows,
  the exact-copy rate, and a distance-based membership-inference AUC (0.5 = no signal).

All functions take pandas DataFrames with the same columns; large inputs are subsampled (seeded) and
the counts used are reported.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from ..errors import DataError

log = logging.getLogger("ganforge.metrics")

MAX_ROWS = 10_000        # rows of each set used by detection, utility and privacy
PAIR_COLUMNS = 25        # pair trends over at most this many columns (300 pairs)
BINS = 10
TOP_LEVELS = 20


# ----------------------------------------------------------------------------------------- columns
def column_kinds(real, types: Any = None) -> dict[str, str]:
    """"numeric" or "discrete" for each usable column of ``real`` (identifier-like text is left out)."""
    from ..data.tables import infer_schema

    logger = logging.getLogger("ganforge.data")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        schema, _ = infer_schema(real, types)
    finally:
        logger.setLevel(level)
    return {c.name: ("numeric" if c.kind in ("continuous", "integer", "datetime") else "discrete")
            for c in schema.columns}


def _numeric(s) -> np.ndarray:
    """A column as float64, with inf and out-of-range numbers (1e400) as missing, as training reads them."""
    x = _floats(s)
    return np.where(np.isinf(x), np.nan, x)


def _floats(s) -> np.ndarray:
    import pandas as pd

    if s.dtype.kind == "M":
        return (s.astype("datetime64[ns]").astype("int64").astype("float64") / 1e9).where(s.notna()).to_numpy()
    if s.dtype.kind in "biuf":
        return s.astype("float64").to_numpy()
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().sum() < 0.5 * s.notna().sum():  # dates written as text (e.g. read back from CSV)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dt = pd.to_datetime(s, errors="coerce", format="mixed")
        if dt.notna().sum() > num.notna().sum():
            return _floats(dt)
    return num.astype("float64").to_numpy()


MISSING = "\0missing"


def _labels(s) -> np.ndarray:
    """Discrete values as strings (numbers normalised so 1 and 1.0 agree), missing as ''."""
    v = s.to_numpy(dtype=object)
    out = np.empty(len(v), dtype=object)
    for i, x in enumerate(v):
        if x is None or (isinstance(x, float) and np.isnan(x)):
            out[i] = MISSING
        elif isinstance(x, (float, np.floating)) and float(x).is_integer():
            out[i] = str(int(x))
        else:
            out[i] = str(x)
    return out


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (missing values ignored)."""
    a, b = np.sort(a[~np.isnan(a)]), np.sort(b[~np.isnan(b)])
    if len(a) == 0 or len(b) == 0:
        return 1.0 if len(a) != len(b) else 0.0
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b))))


def tv_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between the value frequencies of two label arrays."""
    # object strings: a fixed-width str array is as wide as its longest value in every cell (one 5 MB cell
    # in 100 rows would take 2 GB)
    both = np.fromiter((str(v) for v in np.concatenate([a, b])), object, len(a) + len(b))
    levels, inv = np.unique(both, return_inverse=True)
    pa = np.bincount(inv[:len(a)], minlength=len(levels)) / max(len(a), 1)
    pb = np.bincount(inv[len(a):], minlength=len(levels)) / max(len(b), 1)
    return float(0.5 * np.abs(pa - pb).sum())


def _codes(real_col, synth_col, kind: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Both columns as small integer codes: numeric in real-quantile bins, discrete by top real levels."""
    if kind == "numeric":
        r, s = _numeric(real_col), _numeric(synth_col)
        edges = np.unique(np.nanquantile(r, np.linspace(0, 1, BINS + 1)[1:-1])) if np.isfinite(r).any() else np.array([])
        def code(x):
            c = np.searchsorted(edges, x, "right")
            return np.where(np.isnan(x), len(edges) + 1, c)
        return code(r), code(s), len(edges) + 2
    r, s = _labels(real_col), _labels(synth_col)
    levels, counts = np.unique(r, return_counts=True)
    top = levels[np.argsort(-counts)[:TOP_LEVELS]]
    lookup = {v: i for i, v in enumerate(top)}
    def code(x):
        return np.fromiter((lookup.get(v, len(top)) for v in x), np.int64, len(x))
    return code(r), code(s), len(top) + 1


# ----------------------------------------------------------------------------------------- fidelity
def column_shapes(real, synth, kinds: dict[str, str]) -> dict[str, float]:
    out = {}
    for name, kind in kinds.items():
        if kind == "numeric":
            out[name] = 1.0 - ks_statistic(_numeric(real[name]), _numeric(synth[name]))
        else:
            out[name] = 1.0 - tv_distance(_labels(real[name]), _labels(synth[name]))
    return out


def pair_trends(real, synth, kinds: dict[str, str]) -> dict[str, float]:
    names = list(kinds)[:PAIR_COLUMNS]
    codes = {n: _codes(real[n], synth[n], kinds[n]) for n in names}
    nums = {n: (_numeric(real[n]), _numeric(synth[n])) for n in names if kinds[n] == "numeric"}
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a in nums and b in nums:
                cr, cs = _corr(nums[a][0], nums[b][0]), _corr(nums[a][1], nums[b][1])
                out[f"{a}|{b}"] = 1.0 - abs(cr - cs) / 2
            else:
                (ra, sa, ka), (rb, sb, kb) = codes[a], codes[b]
                pr = np.bincount(ra * kb + rb, minlength=ka * kb) / len(ra)
                ps = np.bincount(sa * kb + sb, minlength=ka * kb) / len(sa)
                out[f"{a}|{b}"] = 1.0 - 0.5 * float(np.abs(pr - ps).sum())
    return out


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3 or x[ok].std() == 0 or y[ok].std() == 0:
        return 0.0
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def fidelity(real, synth, kinds: dict[str, str] | None = None, detail: bool = False) -> dict[str, Any]:
    """Column shapes, pair trends and their mean ("score"), each in [0, 1] (1 = same distribution)."""
    kinds = kinds or column_kinds(real)
    _check_columns(real, synth, kinds)
    shapes = column_shapes(real, synth, kinds)
    pairs = pair_trends(real, synth, kinds)
    shape_mean = float(np.mean(list(shapes.values())))
    pair_mean = float(np.mean(list(pairs.values()))) if pairs else shape_mean
    out: dict[str, Any] = {"score": (shape_mean + pair_mean) / 2, "column_shapes": shape_mean, "pair_trends": pair_mean}
    if detail:
        out["per_column"] = shapes
        out["worst_pairs"] = dict(sorted(pairs.items(), key=lambda kv: kv[1])[:10])
    return out


SDM_CORRELATION_THRESHOLD = 0.5   # SDMetrics' QualityReport: pairs that count (real |Pearson| above this)
SDM_ASSOCIATION_THRESHOLD = 0.3   # ... and real Cramer's V above this


def sdmetrics_quality(real, synth, kinds: dict[str, str] | None = None) -> dict[str, Any]:
    """SDMetrics' QualityReport figures, computed as SDMetrics 0.32 computes them, so scores can be set
    beside published ones: Column Shapes (mean of KSComplement on numeric columns and TVComplement on
    discrete ones, missing values dropped), Column Pair Trends (numeric pairs: 1 - |Pearson real - Pearson
    synthetic| / 2 on rows where both are present; other pairs: ContingencySimilarity, a numeric column cut
    into 10 equal-width bins of its own table's range, missing values a category of their own) and their mean.
    As in SDMetrics, only pairs with a real trend count: |Pearson| > 0.5, or Cramer's V > 0.3.

    Unlike :func:`fidelity`, every pair is considered (no column cap) and bins follow SDMetrics, not quantiles.
    """
    kinds = kinds or column_kinds(real)
    _check_columns(real, synth, kinds)
    nums = {n: (_numeric(real[n]), _numeric(synth[n])) for n, k in kinds.items() if k == "numeric"}
    cats = {n: (_labels(real[n]), _labels(synth[n])) for n, k in kinds.items() if k != "numeric"}
    shapes = {n: 1.0 - ks_statistic(*nums[n]) if n in nums
              else 1.0 - tv_distance(*(c[c != MISSING] for c in cats[n])) for n in kinds}
    binned = {n: tuple(_sdm_bins(x) for x in pair) for n, pair in nums.items()}
    names, pairs = list(kinds), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a in nums and b in nums:
                (ra, sa), (rb, sb) = nums[a], nums[b]
                r = _corr(ra, rb)
                if abs(r) > SDM_CORRELATION_THRESHOLD:
                    pairs.append(1.0 - abs(r - _corr(sa, sb)) / 2)
                continue
            (ra, sa), (rb, sb) = (cats.get(a) or binned[a]), (cats.get(b) or binned[b])
            if _cramers_v(ra, rb) > SDM_ASSOCIATION_THRESHOLD:
                pairs.append(1.0 - _sdm_contingency_tv(ra, rb, sa, sb))
    shape_mean = float(np.mean(list(shapes.values())))
    pair_mean = float(np.mean(pairs)) if pairs else float("nan")
    overall = (shape_mean + pair_mean) / 2 if pairs else shape_mean
    return {"overall": overall, "column_shapes": shape_mean, "column_pair_trends": pair_mean}


def _sdm_bins(x: np.ndarray) -> np.ndarray:
    """SDMetrics' discretisation: np.digitize on 10 equal-width edges of the column's own present range."""
    present = x[~np.isnan(x)]
    edges = np.histogram_bin_edges(present) if len(present) else np.array([0.0, 1.0])
    return np.digitize(x, edges).astype(str).astype(object)


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramer's V of two discrete columns (0 when either has a single value)."""
    from scipy.stats.contingency import association

    _, ia = np.unique(a.astype(str), return_inverse=True)
    _, ib = np.unique(b.astype(str), return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), np.int64)
    np.add.at(table, (ia, ib), 1)
    if min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer"))


def _sdm_contingency_tv(ra, rb, sa, sb) -> float:
    """Total variation between the joint frequencies of two discrete columns in real and synthetic rows."""
    def freq(a, b):
        keys, counts = np.unique(np.char.add(np.char.add(a.astype(str), "\x01"), b.astype(str)), return_counts=True)
        return dict(zip(keys, counts / counts.sum()))
    fr, fs = freq(ra, rb), freq(sa, sb)
    return 0.5 * float(sum(abs(fr.get(k, 0.0) - fs.get(k, 0.0)) for k in set(fr) | set(fs)))


def _check_columns(real, synth, kinds) -> None:
    missing = [c for c in kinds if c not in synth.columns]
    if missing:
        raise DataError(f"synthetic table lacks column {missing[0]!r} of the real table")
    if len(synth) == 0:
        raise DataError("synthetic table has no rows")


# ----------------------------------------------------------------------------------------- features
class _Encoder:
    """Numbers for classifiers and distances: standardised numeric columns (+ missing flag), one-hot of the
    top real levels for discrete ones. Fitted on real data only."""

    def __init__(self, real, kinds: dict[str, str], top: int = 30):
        self.kinds, self.stats = kinds, {}
        for name, kind in kinds.items():
            if kind == "numeric":
                x = _numeric(real[name])
                mu, sd = float(np.nanmean(x)), float(np.nanstd(x))
                self.stats[name] = (mu, sd if sd > 0 else 1.0, bool(np.isnan(x).any()))
            else:
                levels, counts = np.unique(_labels(real[name]), return_counts=True)
                self.stats[name] = list(levels[np.argsort(-counts)[:top]])

    def __call__(self, df) -> np.ndarray:
        cols = []
        for name, kind in self.kinds.items():
            if kind == "numeric":
                mu, sd, flag = self.stats[name]
                x = (_numeric(df[name]) - mu) / sd
                cols.append(np.nan_to_num(x, nan=0.0)[:, None])
                if flag:
                    cols.append(np.isnan(x)[:, None].astype(np.float64))
            else:
                lab = _labels(df[name])
                cols.append(np.stack([lab == v for v in self.stats[name]], 1).astype(np.float64))
        return np.concatenate(cols, 1)


def _threads(n: int = 1):
    """Limit OpenMP/BLAS threads of the scikit-learn models: on a busy machine, spin-waiting threads made
    gradient-boosted trees on 2,000 rows 25x slower (12.7 s vs 0.57 s with one thread, measured here)."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(n)


def _sub(df, n: int, seed: int):
    return df if len(df) <= n else df.sample(n=n, random_state=seed)


def detection(real, synth, kinds: dict[str, str] | None = None, seed: int = 0) -> dict[str, Any]:
    """Real-vs-synthetic classifiers: ROC AUC per model and the score 2 * (1 - worst AUC) in [0, 1]."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    kinds = kinds or column_kinds(real)
    n = min(len(real), len(synth), MAX_ROWS // 2)
    r, s = _sub(real, n, seed), _sub(synth, n, seed)
    enc = _Encoder(r, kinds)
    x = np.concatenate([enc(r), enc(s)])
    y = np.r_[np.zeros(len(r)), np.ones(len(s))]
    aucs = {}
    cv = StratifiedKFold(3, shuffle=True, random_state=seed)
    for label, model in (("logistic", LogisticRegression(max_iter=500)),
                         ("boosted_trees", HistGradientBoostingClassifier(max_iter=100, random_state=seed))):
        with warnings.catch_warnings(), _threads():
            warnings.simplefilter("ignore")
            aucs[label] = float(np.mean(cross_val_score(model, x, y, cv=cv, scoring="roc_auc")))
    worst = max(aucs.values())
    return {"auc": aucs, "score": float(np.clip(2 * (1 - worst), 0, 1)), "rows_each": int(n)}


def utility(train, synth, test, target: str, kinds: dict[str, str] | None = None, seed: int = 0) -> dict[str, Any]:
    """TSTR vs TRTR for ``target``: accuracy and macro F1 (discrete) or R^2 (numeric), two model families."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, f1_score, r2_score

    kinds = kinds or column_kinds(train)
    if target not in kinds:
        raise DataError(f"target {target!r} is not a usable column (columns: {', '.join(kinds)})")
    features = {k: v for k, v in kinds.items() if k != target}
    train, synth, test = (_sub(d[d[target].notna()], MAX_ROWS, seed) for d in (train, synth, test))
    enc = _Encoder(train, features)
    discrete = kinds[target] == "discrete"
    y_of = (lambda d: _labels(d[target])) if discrete else (lambda d: _numeric(d[target]))
    xt, yt = enc(test), y_of(test)
    out: dict[str, Any] = {"target": target, "task": "classification" if discrete else "regression",
                           "rows": {"real_train": len(train), "synthetic": len(synth), "real_test": len(test)}}
    families = ((("logistic", lambda: LogisticRegression(max_iter=1000)),
                 ("boosted_trees", lambda: HistGradientBoostingClassifier(max_iter=100, random_state=seed)))
                if discrete else
                (("ridge", lambda: Ridge()),
                 ("boosted_trees", lambda: HistGradientBoostingRegressor(max_iter=100, random_state=seed))))
    for label, make in families:
        row = {}
        for setting, d in (("trtr", train), ("tstr", synth)):
            x, y = enc(d), y_of(d)
            if discrete and len(set(y)) < 2:
                pred = np.full(len(yt), y[0] if len(y) else "", dtype=object)
            else:
                with warnings.catch_warnings(), _threads():
                    warnings.simplefilter("ignore")
                    pred = make().fit(x, y).predict(xt)
            if discrete:
                row[setting] = {"accuracy": float(accuracy_score(yt, pred)),
                                "f1_macro": float(f1_score(yt, pred, average="macro"))}
            else:
                row[setting] = {"r2": float(r2_score(yt, pred))}
        key = "f1_macro" if discrete else "r2"
        row["ratio"] = float(row["tstr"][key] / row["trtr"][key]) if row["trtr"][key] > 0 else None
        out[label] = row
    return out


def privacy(train, synth, holdout, kinds: dict[str, str] | None = None, seed: int = 0) -> dict[str, Any]:
    """DCR of synthetic vs holdout rows, exact copies, and a distance-based membership-inference AUC."""
    from sklearn.metrics import roc_auc_score
    from sklearn.neighbors import NearestNeighbors

    kinds = kinds or column_kinds(train)
    train, synth, holdout = (_sub(d, MAX_ROWS, seed) for d in (train, synth, holdout))
    enc = _Encoder(train, kinds)
    xtr, xs, xh = enc(train), enc(synth), enc(holdout)
    nn_train = NearestNeighbors(n_neighbors=1).fit(xtr)
    dcr_s = nn_train.kneighbors(xs)[0][:, 0]
    dcr_h = nn_train.kneighbors(xh)[0][:, 0]
    p5 = float(np.quantile(dcr_h, 0.05))

    def keys(d):
        return set(map(tuple, np.round(enc(d), 6)))
    train_keys = keys(train)
    copies = float(np.mean([k in train_keys for k in map(tuple, np.round(xs, 6))]))
    holdout_copies = float(np.mean([k in train_keys for k in map(tuple, np.round(xh, 6))]))
    # membership inference: are training rows closer to the synthetic set than unseen rows are?
    nn_s = NearestNeighbors(n_neighbors=1).fit(xs)
    m = min(len(train), len(holdout))
    d_in = nn_s.kneighbors(xtr[np.random.default_rng(seed).permutation(len(xtr))[:m]])[0][:, 0]
    d_out = nn_s.kneighbors(xh[:m])[0][:, 0]
    mia = float(roc_auc_score(np.r_[np.ones(m), np.zeros(m)], -np.r_[d_in, d_out]))
    return {"dcr_median": {"synthetic": float(np.median(dcr_s)), "holdout": float(np.median(dcr_h))},
            "share_closer_than_holdout_p5": float(np.mean(dcr_s < p5)),
            "exact_copy_rate": {"synthetic": copies, "holdout": holdout_copies},
            "membership_inference_auc": mia,
            "rows": {"train": len(train), "synthetic": len(synth), "holdout": len(holdout)}}


def independent_columns(real, rows: int, seed: int = 0):
    """A baseline: each column resampled independently from the real one (keeps shapes, loses pairs)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: real[c].to_numpy()[rng.integers(len(real), size=rows)] for c in real.columns}) \
        .astype(real.dtypes.to_dict())


def report(real, synth, *, target: str | None = None, holdout=None, types: Any = None, seed: int = 0,
           detect: bool = True) -> dict[str, Any]:
    """Fidelity, detection, utility (with ``target``) and privacy of ``synth`` against ``real``.

    Without ``holdout`` the real table is split 80/20 (seeded): the 20% are a fair reference only if the
    generator was trained on the 80%, which the report states.
    """
    kinds = column_kinds(real, types)
    _check_columns(real, synth, kinds)
    note = "holdout given"
    if holdout is None:
        if len(real) < 10:
            raise DataError(f"real table has {len(real)} rows; need at least 10 to split off a holdout")
        holdout = real.sample(frac=0.2, random_state=seed)
        real = real.drop(holdout.index)
        note = "holdout: 20% of the real table (a fair reference only if the generator did not see it)"
    out: dict[str, Any] = {"rows": {"real": len(real), "synthetic": len(synth), "holdout": len(holdout)},
                           "columns": kinds, "note": note}
    out["fidelity"] = fidelity(real, synth, kinds, detail=True)
    out["fidelity_of_holdout"] = fidelity(real, holdout, kinds)["score"]
    # the same idea on SDMetrics' exact definitions, to set beside published QualityReport figures
    out["sdmetrics_quality"] = sdmetrics_quality(real, synth, kinds)
    out["sdmetrics_quality_of_holdout"] = sdmetrics_quality(real, holdout, kinds)["overall"]
    if detect:
        out["detection"] = detection(real, synth, kinds, seed)
    if target is not None:
        out["utility"] = utility(real, synth, holdout, target, kinds, seed)
    out["privacy"] = privacy(real, synth, holdout, kinds, seed)
    return out


def write_report(result: dict[str, Any], path, real=None, synth=None):
    """Write the report as JSON, or as a self-contained HTML page (pictures embedded) plus the JSON beside it."""
    from pathlib import Path

    from ..fileio import write_bytes, write_json

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        write_json(path, result)
        return path
    write_json(path.with_suffix(".json"), result)
    write_bytes(path, _html(result, real, synth).encode())
    return path


def _html(result: dict[str, Any], real, synth) -> str:
    import html
    import json

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..imaging.media import png_data_uri

    pics = []
    if real is not None and synth is not None:
        for name, kind in list(result["columns"].items())[:40]:
            fig, ax = plt.subplots(figsize=(4, 2.6))
            if kind == "numeric":
                r, s = _numeric(real[name]), _numeric(synth[name])
                r, s = r[~np.isnan(r)], s[~np.isnan(s)]
                bins = np.histogram_bin_edges(np.r_[r, s], 30)
                ax.hist(r, bins, alpha=0.5, density=True, label="real")
                ax.hist(s, bins, alpha=0.5, density=True, label="synthetic")
            else:
                r, s = _labels(real[name]), _labels(synth[name])
                levels, counts = np.unique(r, return_counts=True)
                top = levels[np.argsort(-counts)[:15]]
                x = np.arange(len(top))
                ax.bar(x - 0.2, [np.mean(r == v) for v in top], 0.4, label="real")
                ax.bar(x + 0.2, [np.mean(s == v) for v in top], 0.4, label="synthetic")
                ax.set_xticks(x, [str(v)[:12] for v in top], rotation=60, fontsize=7)
            ax.set_title(f"{name}  (shape {result['fidelity']['per_column'][name]:.3f})", fontsize=9)
            ax.legend(fontsize=7)
            pics.append(png_data_uri(fig))
        nums = [n for n, k in result["columns"].items() if k == "numeric"][:PAIR_COLUMNS]
        if len(nums) >= 2:
            diff = np.array([[abs(_corr(_numeric(real[a]), _numeric(real[b])) - _corr(_numeric(synth[a]), _numeric(synth[b])))
                              for b in nums] for a in nums])
            fig, ax = plt.subplots(figsize=(1 + 0.4 * len(nums), 0.8 + 0.4 * len(nums)))
            im = ax.imshow(diff, vmin=0, vmax=1, cmap="Reds")
            ax.set_xticks(range(len(nums)), nums, rotation=60, fontsize=7)
            ax.set_yticks(range(len(nums)), nums, fontsize=7)
            ax.set_title("|correlation difference|", fontsize=9)
            fig.colorbar(im)
            pics.append(png_data_uri(fig))
    f = result["fidelity"]
    head = (f"<p>fidelity <b>{f['score']:.3f}</b> (column shapes {f['column_shapes']:.3f}, pair trends "
            f"{f['pair_trends']:.3f}); a real holdout scores {result['fidelity_of_holdout']:.3f}.</p>")
    q = result.get("sdmetrics_quality")
    if q:
        head += (f"<p>SDMetrics-compatible quality <b>{q['overall']:.3f}</b> (column shapes {q['column_shapes']:.3f}, "
                 f"column pair trends {q['column_pair_trends']:.3f}; a real holdout scores "
                 f"{result['sdmetrics_quality_of_holdout']:.3f}): the QualityReport's definitions, so the figure "
                 "can be set beside published ones.</p>")
    body = "".join(f'<img src="{p}">' for p in pics)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>ganforge table report</title></head><body>"
            f"<h1>Synthetic table report</h1>{head}{body}<h2>All figures</h2><pre>"
            f"{html.escape(json.dumps(result, indent=2))}</pre></body></html>")


__all__ = ["write_report", "fidelity", "sdmetrics_quality", "column_shapes", "pair_trends", "detection", "utility", "privacy", "report",
           "independent_columns", "column_kinds", "ks_statistic", "tv_distance"]
