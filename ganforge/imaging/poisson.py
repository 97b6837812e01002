"""Gradient-domain image compositing: plain Poisson blending and the Gaussian-Poisson solve of GP-GAN.

Arrays are float HxWxC (any range). ``mask`` is HxW, True (or > 0.5) where the source is pasted.

- :func:`poisson_blend` (Perez et al. 2003): inside the mask, the result's Laplacian equals the source's;
  on the mask's border it takes the destination's values (a sparse linear solve per channel).
- :func:`gaussian_poisson` (Wu et al. 2019, GP-GAN): minimises ||D x - v||^2 + beta ||g * x - low||^2 over the
  whole image, where ``v`` is the source's gradients inside the mask and the destination's elsewhere, and
  ``low`` is a colour image that says what the blend should look like at low frequency (from the blending
  network); ``g`` is a Gaussian blur of ``sigma`` pixels. With Neumann borders both operators are diagonal in
  the DCT-II basis, so the solve is two DCTs per channel (no pyramid needed). ``border="mask"`` solves only
  inside the mask, with the destination's values on its border as in Poisson blending, and the colour term
  ``beta ||x - low||^2`` there: pixels outside the mask stay exactly the destination's, and with a small
  ``beta`` the network only steers the low frequencies that the border leaves free.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError


def _check(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.ndim == 2:
        src, dst = src[..., None], dst[..., None]
    m = np.asarray(mask)
    m = m > 0.5 if m.dtype != bool else m
    if src.shape != dst.shape or src.ndim != 3:
        raise DataError(f"source {src.shape} and destination {dst.shape} must be HxWxC arrays of one shape")
    if m.shape != src.shape[:2]:
        raise DataError(f"mask {m.shape} must be HxW = {src.shape[:2]}")
    return src, dst, m


def guidance(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences (vertical [H-1, W, C], horizontal [H, W-1, C]): the source's between two mask
    pixels, the destination's otherwise (so the seam itself is not copied)."""
    src, dst, m = _check(src, dst, mask)
    both_v = (m[1:] & m[:-1])[..., None]
    both_h = (m[:, 1:] & m[:, :-1])[..., None]
    vy = np.where(both_v, src[1:] - src[:-1], dst[1:] - dst[:-1])
    vx = np.where(both_h, src[:, 1:] - src[:, :-1], dst[:, 1:] - dst[:, :-1])
    return vy, vx


def gaussian_poisson(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, low: np.ndarray, beta: float = 1.0,
                     sigma: float = 4.0, border: str = "image") -> np.ndarray:
    """The Gaussian-Poisson blend (see the module docstring); ``low`` is HxWxC like ``src``; ``border`` is
    "image" (the paper's whole-image solve) or "mask" (inside the mask only; ``sigma`` is not used)."""
    from scipy.fft import dctn, idctn

    src, dst, m = _check(src, dst, mask)
    low = np.asarray(low, np.float64).reshape(src.shape)
    if beta <= 0 or sigma < 0:
        raise ConfigError(f"beta must be > 0 and sigma >= 0, got beta={beta}, sigma={sigma}")
    if border == "mask":
        return _dirichlet_solve(src, dst, m, beta, low)
    if border != "image":
        raise ConfigError(f"border must be 'image' or 'mask', got {border!r}")
    h, w, _ = src.shape
    vy, vx = guidance(src, dst, m)
    div = np.zeros_like(src)  # D^T v
    div[:-1] -= vy
    div[1:] += vy
    div[:, :-1] -= vx
    div[:, 1:] += vx
    wy = np.pi * np.arange(h) / h
    wx = np.pi * np.arange(w) / w
    lap = (2 - 2 * np.cos(wy))[:, None] + (2 - 2 * np.cos(wx))[None, :]
    g = np.exp(-0.5 * sigma ** 2 * (wy[:, None] ** 2 + wx[None, :] ** 2))
    out = np.empty_like(src)
    for c in range(src.shape[2]):
        rhs = dctn(div[..., c], type=2, norm="ortho") + beta * g * dctn(low[..., c], type=2, norm="ortho")
        out[..., c] = idctn(rhs / (lap + beta * g * g), type=2, norm="ortho")
    return out


def poisson_blend(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, mixed: bool = False) -> np.ndarray:
    """Classic seamless cloning with Dirichlet borders from ``dst`` (neighbours outside the image are ignored).
    ``mixed``: mixed-gradient cloning (Perez et al. 2003, section 3.2): between two pixels the guidance is the
    source's difference or the destination's, whichever is larger (summed over channels), so the destination's
    texture shows through where the source is flat."""
    return _dirichlet_solve(*_check(src, dst, mask), mixed=mixed)


def _dirichlet_solve(src: np.ndarray, dst: np.ndarray, m: np.ndarray, beta: float = 0.0,
                     low: np.ndarray | None = None, mixed: bool = False) -> np.ndarray:
    """Inside ``m``: (Laplacian + beta) x = (the guidance's divergence) + beta * low, ``dst`` on the border.
    The guidance is the source's differences (or, ``mixed``, the larger of the source's and destination's)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    h, w, ch = src.shape
    ys, xs = np.nonzero(m)
    n = len(ys)
    out = dst.copy()
    if n == 0:
        return out
    index = -np.ones((h, w), np.int64)
    index[ys, xs] = np.arange(n)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.zeros(n)]
    rhs = np.zeros((n, ch))
    diag = np.zeros(n)
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        qy, qx = ys + dy, xs + dx
        ok = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        p = np.nonzero(ok)[0]
        qy, qx = qy[ok], qx[ok]
        diag[p] += 1
        guide = src[ys[p], xs[p]] - src[qy, qx]
        if mixed:
            other = dst[ys[p], xs[p]] - dst[qy, qx]
            guide = np.where((np.abs(other).sum(-1) > np.abs(guide).sum(-1))[:, None], other, guide)
        rhs[p] += guide
        inside = index[qy, qx] >= 0
        rows.append(p[inside])
        cols.append(index[qy[inside], qx[inside]])
        vals.append(-np.ones(int(inside.sum())))
        rhs[p[~inside]] += dst[qy[~inside], qx[~inside]]
    if beta > 0:
        diag += beta
        rhs += beta * low[ys, xs]
    vals[0] = diag
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    sol = spsolve(A.tocsc(), rhs)
    out[ys, xs] = sol.reshape(n, ch)
    return out
