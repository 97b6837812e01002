"""Scores of predicted videos: set distances on frame features (FVD-style) and the spread of several futures.

Clips are uint8 ``(B, T, H, W, C)``. The feature network is any :class:`FeatureExtractor` (for digits, a
domain network trained with ``train_domain_features``; an I3D network, as the real FVD uses, is not
shipped).

- :func:`frame_frechet`: the Fréchet distance of per-frame features, at each time index and over all
  frames pooled; it judges the look of the frames, not their order.
- :func:`clip_frechet`: the Fréchet distance of features stacked over time (each frame's features reduced to
  ``components`` principal components fitted on the real frames, then concatenated frame after frame), so
  that motion and timing count, as in FVD; the reduction keeps the dimension below the clip count.
- :func:`diversity`: how much K futures of the same context differ (per-pixel standard deviation and mean
  pairwise absolute difference, 8-bit scale), and :func:`best_of_k` their best-of-K PSNR.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError


def _clips(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 5 or a.dtype != np.uint8:
        raise DataError(f"{name}: expected uint8 clips (B, T, H, W, C), got {a.dtype} {a.shape}")
    return a


def _pair(pred: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    p, t = _clips(pred, "pred"), _clips(truth, "truth")
    if p.shape[1:] != t.shape[1:]:
        raise DataError(f"pred and truth clips differ in shape: {p.shape} vs {t.shape}")
    return p, t


def frame_features(extractor, clips: np.ndarray) -> np.ndarray:
    """float32 (B, T, D): the extractor's features of every frame."""
    b, t = clips.shape[:2]
    f = np.asarray(extractor.extract(clips.reshape(b * t, *clips.shape[2:])))
    return f.reshape(b, t, -1)


def frame_frechet(extractor, pred: Any, truth: Any) -> dict[str, Any]:
    """``{"per_frame": [FD at each time index], "pooled": FD of all frames}`` between predicted and true clips."""
    from .sets import frechet_distance

    p, t = _pair(pred, truth)
    fp, ft = frame_features(extractor, p), frame_features(extractor, t)
    per = [frechet_distance(fp[:, i], ft[:, i]) for i in range(p.shape[1])]
    return {"per_frame": per, "pooled": frechet_distance(fp.reshape(-1, fp.shape[-1]), ft.reshape(-1, ft.shape[-1]))}


def clip_frechet(extractor, pred: Any, truth: Any, components: int = 32) -> float:
    """Fréchet distance of time-stacked frame features (FVD-style); see the module docstring."""
    from .sets import frechet_distance

    p, t = _pair(pred, truth)
    fp, ft = frame_features(extractor, p).astype(np.float64), frame_features(extractor, t).astype(np.float64)
    flat = ft.reshape(-1, ft.shape[-1])
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    basis = vt[: min(components, vt.shape[0])].T                           # (D, c), from the real frames only
    sp = ((fp - mean) @ basis).reshape(len(fp), -1)
    st = ((ft - mean) @ basis).reshape(len(ft), -1)
    return frechet_distance(sp, st)


def diversity(samples: Any) -> dict[str, float]:
    """K futures of the same contexts, uint8 (K, B, T, H, W, C): mean per-pixel standard deviation over the K
    and mean absolute difference between two different futures (both on the 0-255 scale)."""
    s = np.asarray(samples)
    if s.ndim != 6 or s.shape[0] < 2:
        raise DataError(f"samples: expected K >= 2 futures (K, B, T, H, W, C), got {s.shape}")
    x = s.astype(np.float32)
    k = x.shape[0]
    pairs = [np.abs(x[i] - x[j]).mean() for i in range(k) for j in range(i + 1, k)]
    return {"pixel_std": float(x.std(0).mean()), "pairwise_l1": float(np.mean(pairs))}


def best_of_k(samples: Any, truth: Any) -> dict[str, list[float]]:
    """For each clip the future (of K) with the lowest mean squared error over all its frames; its PSNR per
    predicted frame, averaged over clips (8-bit scale, capped at 100 dB)."""
    s = np.asarray(samples).astype(np.float64)
    t = _clips(truth, "truth").astype(np.float64)
    if s.ndim != 6 or s.shape[1:] != t.shape:
        raise DataError(f"samples {s.shape} do not match truth (K, {t.shape})")
    mse = ((s - t[None]) ** 2).mean(axis=(3, 4, 5))                       # (K, B, T)
    best = mse.mean(2).argmin(0)                                          # (B,)
    chosen = mse[best, np.arange(mse.shape[1])]                            # (B, T)
    psnr = np.minimum(10 * np.log10(255.0 ** 2 / np.maximum(chosen, 1e-10)), 100.0)
    return {"psnr": [float(v) for v in psnr.mean(0)]}
