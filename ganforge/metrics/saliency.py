"""Saliency-map metrics: CC, NSS, KL divergence, AUC-Judd and SIM (as in the MIT/Tuebingen saliency benchmark).

Every function takes a predicted map and a ground-truth map (or fixations) as 2-D arrays of the same shape
(any non-negative scale: uint8 0..255 or floats) and returns one float for one image.

- ``cc``: Pearson correlation of the two maps (1 identical, 0 unrelated; 0 when either map is constant).
- ``sim``: histogram intersection of the two maps each normalised to sum 1 (1 identical, 0 disjoint).
- ``kl``: KL divergence of the prediction from the ground truth, both normalised to sum 1:
  ``sum g * log(eps + g / (p + eps))`` with ``eps = 1e-7`` (0 identical; lower is better).
- ``nss``: mean of the prediction, standardised to zero mean and unit std, at the fixations
  (0 chance; 0 when the prediction is constant).
- ``auc_judd``: area under the ROC curve whose thresholds are the prediction's values at the fixations:
  true positives are fixations at or above the threshold, false positives the other pixels at or above
  it (0.5 chance, 1 perfect). Ties are counted together (no random jitter), so a constant map scores 0.5.

Fixations are a boolean map. Real benchmarks record them from eye trackers; when only a density map is
known (our synthetic scenes, or a user's maps without fixation files), :func:`fixations_from_map` takes the
pixels at or above ``level`` (default half) of the map's maximum, i.e. the region around its peaks. A
user can give fixation images instead (any non-zero pixel is a fixation).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import DataError

EPS = 1e-7
METRICS = ("cc", "nss", "kl", "auc_judd", "sim")
#: whether a larger value is better, per metric
HIGHER_IS_BETTER = {"cc": True, "nss": True, "kl": False, "auc_judd": True, "sim": True}


def _map(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise DataError(f"{name}: a saliency map must be 2-D (H x W); got shape {a.shape}")
    if not np.isfinite(a).all():
        raise DataError(f"{name}: the map holds NaN or infinite values")
    return a


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p, g = _map(pred, "prediction"), _map(gt, "ground truth")
    if p.shape != g.shape:
        raise DataError(f"prediction is {p.shape[1]}x{p.shape[0]} but the ground truth is {g.shape[1]}x{g.shape[0]}")
    return p, g


def _standardise(a: np.ndarray) -> np.ndarray | None:
    sd = a.std()
    return None if sd == 0 else (a - a.mean()) / sd


def _distribution(a: np.ndarray) -> np.ndarray:
    a = a - min(0.0, float(a.min()))  # maps are non-negative; shift one that is not
    s = a.sum()
    return np.full_like(a, 1.0 / a.size) if s == 0 else a / s


def cc(pred, gt) -> float:
    """Pearson's linear correlation coefficient between two maps."""
    p, g = _pair(pred, gt)
    ps, gs = _standardise(p), _standardise(g)
    if ps is None or gs is None:
        return 0.0
    return float((ps * gs).mean())


def sim(pred, gt) -> float:
    """Similarity (histogram intersection) of the two maps as distributions."""
    p, g = _pair(pred, gt)
    return float(np.minimum(_distribution(p), _distribution(g)).sum())


def kl(pred, gt, eps: float = EPS) -> float:
    """KL divergence KL(gt || pred) of the maps as distributions (lower is better)."""
    p, g = _pair(pred, gt)
    p, g = _distribution(p), _distribution(g)
    return float((g * np.log(eps + g / (p + eps))).sum())


def _fix(fixations, shape: tuple[int, ...]) -> np.ndarray:
    f = np.asarray(fixations)
    if f.ndim == 3 and f.shape[-1] in (1, 3):
        f = f.max(axis=-1)
    if f.shape != shape:
        raise DataError(f"fixations are {f.shape[1] if f.ndim > 1 else f.shape}x{f.shape[0]} "
                        f"but the prediction is {shape[1]}x{shape[0]}")
    f = f > 0
    if not f.any():
        raise DataError("the fixation map has no fixations (no non-zero pixel)")
    return f


def nss(pred, fixations) -> float:
    """Normalised scanpath saliency: the standardised prediction averaged over the fixations."""
    p = _map(pred, "prediction")
    f = _fix(fixations, p.shape)
    ps = _standardise(p)
    return 0.0 if ps is None else float(ps[f].mean())


def auc_judd(pred, fixations) -> float:
    """AUC-Judd: ROC area with the prediction's values at the fixations as thresholds."""
    p = _map(pred, "prediction")
    f = _fix(fixations, p.shape)
    pos, neg = np.sort(p[f]), np.sort(p[~f])
    if neg.size == 0:
        return 0.5  # no negatives: undefined, count as chance
    # one ROC point per distinct prediction value at a fixation (ties counted together, so a constant
    # map gives exactly 0.5 without the random jitter of the MATLAB code)
    thresholds = np.unique(pos)[::-1]
    tp = [0.0] + list((pos.size - np.searchsorted(pos, thresholds, side="left")) / pos.size)
    fp = [0.0] + list((neg.size - np.searchsorted(neg, thresholds, side="left")) / neg.size)
    tp.append(1.0)
    fp.append(1.0)
    return float(np.trapezoid(tp, fp) if hasattr(np, "trapezoid") else np.trapz(tp, fp))


def fixations_from_map(gt, level: float = 0.5) -> np.ndarray:
    """Pseudo-fixations of a density map: the pixels at or above ``level`` times its maximum."""
    g = _map(gt, "ground truth")
    if not 0 < level <= 1:
        raise DataError(f"level must be in (0, 1]; got {level}")
    if g.max() <= 0:
        raise DataError("the ground-truth map is all zero: it has no peak to take fixations from")
    return g >= level * g.max()


def score(pred, gt, fixations=None, level: float = 0.5) -> dict[str, float]:
    """All five metrics for one image; fixations from ``gt`` (:func:`fixations_from_map`) unless given."""
    p, g = _pair(pred, gt)
    f = fixations_from_map(g, level) if fixations is None else _fix(fixations, p.shape)
    return {"cc": cc(p, g), "nss": nss(p, f), "kl": kl(p, g), "auc_judd": auc_judd(p, f), "sim": sim(p, g)}


def evaluate(preds: Iterable, gts: Iterable, fixations: Iterable | None = None, level: float = 0.5
             ) -> dict[str, float]:
    """Mean of each metric over a set of images (and ``n``, the number of images)."""
    preds, gts = list(preds), list(gts)
    if len(preds) != len(gts):
        raise DataError(f"{len(preds)} predictions for {len(gts)} ground-truth maps")
    if not preds:
        raise DataError("no maps to score")
    fixs = [None] * len(preds) if fixations is None else list(fixations)
    if len(fixs) != len(preds):
        raise DataError(f"{len(fixs)} fixation maps for {len(preds)} predictions")
    rows = [score(p, g, f, level) for p, g, f in zip(preds, gts, fixs)]
    out = {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
    out["n"] = len(rows)
    return out


__all__ = ["cc", "nss", "kl", "auc_judd", "sim", "score", "evaluate", "fixations_from_map", "METRICS",
           "HIGHER_IS_BETTER"]
