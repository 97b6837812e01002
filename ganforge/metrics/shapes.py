"""Metrics for sets of 3-D shapes: the point-cloud generation metrics (Achlioptas et al. 2018; Yang et al.
2019, PointFlow) on voxel grids.

Each shape is compared through points on its surface (:func:`surface_points`: the centres of occupied voxels
that touch an empty one, jittered inside the voxel, in the unit cube). From a matrix of distances between
shapes:

- **MMD** (minimum matching distance, lower is better): the mean over reference shapes of the distance to the
  closest generated shape -- fidelity;
- **COV** (coverage, higher is better): the share of reference shapes that are the closest one of some
  generated shape -- diversity;
- **1-NNA** (1-nearest-neighbour accuracy, 0.5 is best): a leave-one-out 1-NN classifier telling generated
  from reference shapes in the union of both; 1.0 when the sets are apart, below 0.5 when generated shapes
  copy reference ones.

Distances: the Chamfer distance (:func:`chamfer_matrix`: mean squared distance from each point to the other
cloud's nearest point, both ways, summed) or 1 - IoU of the grids (:func:`iou_distance_matrix`).
"""
from __future__ import annotations

import numpy as np
import torch

from ganforge.errors import DataError


def surface_points(grid: np.ndarray, n: int = 512, seed: int = 0) -> np.ndarray:
    """``n`` points [n, 3] in [0, 1]^3 on the surface of a bool grid (R, R, R): boundary voxels drawn with
    replacement, each point jittered uniformly inside its voxel. An empty grid gives the cube's centre."""
    g = np.asarray(grid, bool)
    r = g.shape[0]
    p = np.pad(g, 1)
    inner = p[1:-1, 1:-1, 1:-1]
    closed = (p[:-2, 1:-1, 1:-1] & p[2:, 1:-1, 1:-1] & p[1:-1, :-2, 1:-1] & p[1:-1, 2:, 1:-1]
              & p[1:-1, 1:-1, :-2] & p[1:-1, 1:-1, 2:])
    idx = np.argwhere(inner & ~closed)
    rng = np.random.default_rng(seed)
    if not len(idx):
        return np.full((n, 3), 0.5, np.float32)
    pick = idx[rng.integers(len(idx), size=n)]
    return ((pick + rng.random((n, 3))) / r).astype(np.float32)


def point_clouds(grids: np.ndarray, n: int = 512, seed: int = 0) -> torch.Tensor:
    """Surface points of every grid: [N, n, 3] float32."""
    grids = np.asarray(grids)
    if grids.ndim != 4 or len(set(grids.shape[1:])) != 1:
        raise DataError(f"shapes must be cubic grids (N, R, R, R), got an array of shape {grids.shape}")
    return torch.from_numpy(np.stack([surface_points(g, n, seed + i) for i, g in enumerate(grids)])
                            if len(grids) else np.zeros((0, n, 3), np.float32))


@torch.no_grad()
def chamfer_matrix(a: torch.Tensor, b: torch.Tensor, block: int = 4) -> np.ndarray:
    """Chamfer distances [N, M] between point clouds ``a`` [N, P, 3] and ``b`` [M, Q, 3] (unit-cube units)."""
    out = np.empty((len(a), len(b)), np.float64)
    a, b = a.float(), b.float()
    for i in range(0, len(a), block):
        x = a[i:i + block]                                          # [bi, P, 3]
        xx = x.square().sum(-1).reshape(-1, 1)
        for j in range(0, len(b), block):
            y = b[j:j + block]                                      # [bj, Q, 3]
            # every point of the block against every other: one matrix product, [bi P, bj Q]
            d = (xx + y.square().sum(-1).reshape(1, -1)).addmm_(x.reshape(-1, 3), y.reshape(-1, 3).T, alpha=-2)
            d = d.clamp_min_(0).view(len(x), x.shape[1], len(y), y.shape[1])
            out[i:i + len(x), j:j + len(y)] = (d.amin(3).mean(1) + d.amin(1).mean(2)).double().numpy()
    return out


def iou_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - IoU between every grid of ``a`` (N, R, R, R) and of ``b`` (M, R, R, R): [N, M]."""
    fa = torch.from_numpy(np.asarray(a).reshape(len(a), -1).astype(np.float32))
    fb = torch.from_numpy(np.asarray(b).reshape(len(b), -1).astype(np.float32))
    inter = fa @ fb.T
    union = fa.sum(1, keepdim=True) + fb.sum(1)[None] - inter
    return (1 - inter / union.clamp_min(1)).double().numpy()


def mmd_cov(gen_ref: np.ndarray) -> dict[str, float]:
    """MMD and COV from distances [generated, reference]."""
    d = np.asarray(gen_ref)
    return {"mmd": float(d.min(0).mean()), "coverage": len(set(d.argmin(1).tolist())) / d.shape[1]}


def one_nna(gen_gen: np.ndarray, gen_ref: np.ndarray, ref_ref: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy on generated + reference shapes (0.5: indistinguishable)."""
    gg, gr, rr = (np.array(m, np.float64) for m in (gen_gen, gen_ref, ref_ref))
    np.fill_diagonal(gg, np.inf)
    np.fill_diagonal(rr, np.inf)
    gen_right = gg.min(1) < gr.min(1)           # a generated shape whose nearest neighbour is generated
    ref_right = rr.min(1) < gr.min(0)           # a reference shape whose nearest neighbour is a reference
    return float((gen_right.sum() + ref_right.sum()) / (len(gg) + len(rr)))


def shape_set_scores(generated: np.ndarray, reference: np.ndarray, points: int = 512) -> dict[str, float]:
    """MMD / COV / 1-NNA under Chamfer distance and under 1 - IoU, generated vs reference grids."""
    pg, pr = point_clouds(generated, points, seed=0), point_clouds(reference, points, seed=10**6)
    out = {}
    for name, dist in (("cd", chamfer_matrix), ("iou", None)):
        if dist is None:
            gg, gr, rr = (iou_distance_matrix(x, y) for x, y in ((generated, generated), (generated, reference),
                                                                  (reference, reference)))
        else:
            gg, gr, rr = dist(pg, pg), dist(pg, pr), dist(pr, pr)
        m = mmd_cov(gr)
        out.update({f"mmd_{name}": m["mmd"], f"cov_{name}": m["coverage"], f"1nna_{name}": one_nna(gg, gr, rr)})
    return out
