"""Set metrics on feature arrays: Fréchet distance, KID, precision/recall, density/coverage,
Inception score and a memorisation check.

Every function takes features as numpy arrays or torch tensors of shape [N, D] (any float dtype,
any device); the distance-based ones also take a :class:`FeatureStats` that kept raw features.
Statistics that decide the value (means, covariances, kernel sums, the Fréchet trace) are computed in
float64. Nearest-neighbour searches run in float32 on features centred at the real set's mean, in row
blocks whose size is bounded (about 128 MB per block), so 10k x 10k sets fit in memory; the k-th neighbour
distances and every in-ball decision too close for float32 to call are taken again in float64, so the
results are those of a float64 search, on any device; pass ``device="cuda"`` to run them on a GPU.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple, Union

import numpy as np
import torch

from ganforge.errors import ConfigError, DataError

log = logging.getLogger("ganforge.metrics")

ArrayLike = Union[np.ndarray, torch.Tensor]

# elements of one float32 distance block (128 MB): bounds the memory of every k-NN pass
_BLOCK_ELEMENTS = 1 << 25


class MeanStd(NamedTuple):
    """A metric estimated over several splits or subsets."""
    mean: float
    std: float


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


class DensityCoverage(NamedTuple):
    density: float
    coverage: float


# --------------------------------------------------------------------------- input checks

def _as_tensor(x: Any, name: str, dtype: torch.dtype = torch.float64,
               device: torch.device | str | None = "cpu") -> torch.Tensor:
    """A validated [N, D] tensor: two dimensions, at least one column, finite values."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            with warnings.catch_warnings():
                # read-only arrays (np.load with mmap_mode, ...) are fine: nothing here writes to them
                warnings.filterwarnings("ignore", message=".*not writable.*")
                t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as e:
            raise DataError(f"{name}: expected a [N, D] feature array, got {type(x).__name__} ({e})") from None
    if t.ndim != 2:
        raise DataError(f"{name}: expected a [N, D] feature array, got shape {tuple(t.shape)}")
    if t.shape[1] == 0:
        raise DataError(f"{name}: features have 0 dimensions")
    if not (t.is_floating_point() or t.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32,
                                                 torch.int64, torch.bool)):
        raise DataError(f"{name}: expected real-valued features, got dtype {t.dtype}")
    t = t.to(device=device if device is not None else t.device, dtype=dtype)
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        row = int(bad.any(dim=1).nonzero()[0, 0])
        raise DataError(f"{name}: {int(bad.sum())} non-finite values (NaN/inf), the first in row {row}")
    return t


def _check_dims(a: torch.Tensor | int, b: torch.Tensor | int, names: str) -> None:
    da = a if isinstance(a, int) else a.shape[1]
    db = b if isinstance(b, int) else b.shape[1]
    if da != db:
        raise ConfigError(f"{names}: feature dimensions differ ({da} vs {db}); "
                          "were both sets embedded by the same feature network?")


def _need(n: int, minimum: int, name: str, what: str) -> None:
    if n < minimum:
        raise DataError(f"{what} needs at least {minimum} samples in {name}, got {n}")


def _raw_features(x: Any, name: str, what: str, dtype: torch.dtype, device) -> torch.Tensor:
    if isinstance(x, FeatureStats):
        if x.features is None:
            raise ConfigError(f"{name}: this FeatureStats kept no raw features, which {what} needs; "
                              "create it with FeatureStats(max_items=N)")
        x = x.features
    return _as_tensor(x, name, dtype=dtype, device=device)


def _device(device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- streaming statistics

class FeatureStats:
    """Streaming mean and covariance of feature batches, optionally keeping the raw rows.

    Sums are kept in float64 about a shift (the first batch's mean), which avoids the cancellation
    of ``E[xx^T] - mu mu^T`` when features have a large mean. ``max_items`` raw rows (the first ones
    seen, stored as float32) are kept for KID and precision/recall; 0 keeps none.

        >>> stats = FeatureStats(max_items=10_000)
        >>> for batch in batches: stats.update(batch)
        >>> frechet_distance(stats, reference_stats)
    """

    def __init__(self, max_items: int = 0):
        if isinstance(max_items, bool) or not isinstance(max_items, (int, np.integer)) or max_items < 0:
            raise ConfigError(f"max_items must be an integer >= 0, got {max_items!r}")
        self.max_items = int(max_items)
        self.n = 0
        self.dim: int | None = None
        self._shift: torch.Tensor | None = None   # [D] float64
        self._sum: torch.Tensor | None = None     # [D]   sum of (x - shift)
        self._outer: torch.Tensor | None = None   # [D,D] sum of (x - shift)(x - shift)^T
        self._kept: list[torch.Tensor] = []
        self._n_kept = 0

    def _init(self, dim: int, shift: torch.Tensor) -> None:
        self.dim = dim
        self._shift = shift
        self._sum = torch.zeros(dim, dtype=torch.float64)
        self._outer = torch.zeros(dim, dim, dtype=torch.float64)

    def update(self, batch: ArrayLike) -> "FeatureStats":
        """Add a [N, D] batch of features (numpy or torch, any float dtype or device)."""
        x = _as_tensor(batch, "FeatureStats.update", device="cpu")
        if len(x) == 0:
            return self
        if self.dim is None:
            self._init(x.shape[1], x.mean(dim=0))
        else:
            _check_dims(self.dim, x, "FeatureStats.update")
        centred = x - self._shift
        self._sum += centred.sum(dim=0)
        self._outer += centred.T @ centred
        self.n += len(x)
        room = self.max_items - self._n_kept
        if room > 0:
            keep = x[:room].to(torch.float32)
            self._kept.append(keep)
            self._n_kept += len(keep)
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add another accumulator's data to this one (e.g. the stats of several processes)."""
        if other.n == 0:
            return self
        if self.dim is None:
            self._init(other.dim, other._shift.clone())
        _check_dims(self.dim, other.dim, "FeatureStats.merge")
        delta = other._shift - self._shift   # re-centre the other's sums on this shift
        self._sum += other._sum + other.n * delta
        self._outer += (other._outer + torch.outer(other._sum, delta) + torch.outer(delta, other._sum)
                        + other.n * torch.outer(delta, delta))
        self.n += other.n
        for chunk in other._kept:
            room = self.max_items - self._n_kept
            if room <= 0:
                break
            self._kept.append(chunk[:room].clone())
            self._n_kept += len(self._kept[-1])
        return self

    @property
    def mean(self) -> np.ndarray:
        """[D] float64 mean."""
        _need(self.n, 1, "FeatureStats", "the mean")
        return (self._shift + self._sum / self.n).numpy()

    @property
    def cov(self) -> np.ndarray:
        """[D, D] float64 covariance with the unbiased 1/(N-1) normalisation (as ``np.cov``)."""
        _need(self.n, 2, "FeatureStats", "a covariance")
        c = (self._outer - torch.outer(self._sum, self._sum) / self.n) / (self.n - 1)
        return (0.5 * (c + c.T)).numpy()   # exact symmetry: rounding makes the two halves differ

    @property
    def features(self) -> np.ndarray | None:
        """The kept raw features ([min(N, max_items), D] float32), or None when none were kept."""
        if not self._kept:
            return None
        if len(self._kept) > 1:
            self._kept = [torch.cat(self._kept)]
        return self._kept[0].numpy()

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain numeric arrays (no pickles): what :meth:`save` writes."""
        state = {"version": np.array(1), "n": np.array(self.n, dtype=np.int64),
                 "max_items": np.array(self.max_items, dtype=np.int64)}
        if self.dim is not None:
            state.update(shift=self._shift.numpy(), sum=self._sum.numpy(), outer=self._outer.numpy())
        kept = self.features
        if kept is not None:
            state["features"] = kept
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "FeatureStats":
        try:
            stats = cls(max_items=int(state["max_items"]))
            n = int(state["n"])
            if n > 0:
                shift = torch.as_tensor(np.asarray(state["shift"], dtype=np.float64))
                stats._init(len(shift), shift)
                stats._sum = torch.as_tensor(np.asarray(state["sum"], dtype=np.float64)).clone()
                stats._outer = torch.as_tensor(np.asarray(state["outer"], dtype=np.float64)).clone()
                if stats._outer.shape != (stats.dim, stats.dim) or stats._sum.shape != (stats.dim,):
                    raise ValueError("sum/outer shapes do not match the feature dimension")
                stats.n = n
            if "features" in state:
                kept = torch.as_tensor(np.asarray(state["features"], dtype=np.float32)).clone()
                stats._kept, stats._n_kept = [kept], len(kept)
        except (KeyError, ValueError, TypeError) as e:
            raise DataError(f"not a FeatureStats state: {e}") from None
        return stats

    def save(self, path: str | os.PathLike) -> None:
        """Write the statistics as an ``.npz`` file, atomically."""
        from ganforge.fileio import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **self.state_dict())   # a file object: np.savez adds no ".npz" suffix

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        try:
            with np.load(path, allow_pickle=False) as data:
                state = {k: data[k] for k in data.files}
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read feature statistics ({e})") from None
        try:
            return cls.from_state_dict(state)
        except DataError as e:
            raise DataError(f"{path}: {e}") from None

    def __repr__(self) -> str:
        return f"FeatureStats(n={self.n}, dim={self.dim}, kept={self._n_kept}/{self.max_items})"


# --------------------------------------------------------------------------- Fréchet distance

def _moments(x: Any, name: str) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(mu, sigma, n) from features, a FeatureStats or a (mu, sigma) pair; n is None for a pair."""
    if isinstance(x, FeatureStats):
        _need(x.n, 2, name, "the Fréchet distance")
        return x.mean, x.cov, x.n
    if isinstance(x, (tuple, list)) and len(x) == 2:
        mu = np.asarray(x[0], dtype=np.float64)
        sigma = np.asarray(x[1], dtype=np.float64)
        if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
            raise DataError(f"{name}: a (mu, sigma) pair needs shapes [D] and [D, D], "
                            f"got {mu.shape} and {sigma.shape}")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise DataError(f"{name}: mu or sigma has non-finite values (NaN/inf)")
        return mu, sigma, None
    t = _as_tensor(x, name)
    _need(len(t), 2, name, "the Fréchet distance")
    mu = t.mean(dim=0)
    c = t - mu
    sigma = (c.T @ c) / (len(t) - 1)
    return mu.numpy(), sigma.numpy(), len(t)


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr sqrt(S1 S2) for symmetric PSD S1, S2, in float64.

    With S1 = L L^T (Cholesky), S1 S2 is similar to the symmetric PSD matrix L^T S2 L, so its
    eigenvalues are real and non-negative and the trace is the sum of their square roots: one Cholesky
    and one symmetric eigenvalue solve, no general (complex) matrix square root -- several times faster
    than ``scipy.linalg.sqrtm`` at D = 2048. A singular S1 (fewer samples than dimensions) has no
    Cholesky factor; then S2 is tried, then the symmetric square root sqrt(S1) from an eigen-decomposition
    (exact for singular matrices too).
    """
    a, b = torch.from_numpy(s1), torch.from_numpy(s2)
    for p, q in ((a, b), (b, a)):
        chol, info = torch.linalg.cholesky_ex(p)
        if int(info) == 0:
            m = chol.T @ q @ chol
            break
    else:
        w, v = torch.linalg.eigh(a)
        root = (v * w.clamp(min=0).sqrt()) @ v.T
        m = root @ b @ root
    eig = torch.linalg.eigvalsh(0.5 * (m + m.T))
    return float(eig.clamp(min=0).sqrt().sum())


def frechet_distance(a: Any, b: Any, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    ``a`` and ``b`` are each [N, D] features, a :class:`FeatureStats`, or a ``(mu, sigma)`` pair.
    ``||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrt(S1 S2))`` in float64. Should the eigen-decomposition fail,
    ``eps * I`` is added to both covariances, as in the reference FID code.
    """
    mu1, s1, n1 = _moments(a, "frechet_distance(a)")
    mu2, s2, n2 = _moments(b, "frechet_distance(b)")
    if len(mu1) != len(mu2):
        raise ConfigError(f"frechet_distance: feature dimensions differ ({len(mu1)} vs {len(mu2)}); "
                          "were both sets embedded by the same feature network?")
    for n, name in ((n1, "a"), (n2, "b")):
        if n is not None and n <= len(mu1):
            log.warning("frechet_distance(%s): %d samples for %d feature dimensions; the covariance is "
                        "singular and the distance biased upwards -- compare only values computed with "
                        "the same sample counts", name, n, len(mu1))
    s1, s2 = 0.5 * (s1 + s1.T), 0.5 * (s2 + s2.T)
    try:
        tr = _trace_sqrt_product(s1, s2)
    except (np.linalg.LinAlgError, torch.linalg.LinAlgError):
        log.warning("frechet_distance: eigen-decomposition failed; adding %g * I to both covariances", eps)
        offset = eps * np.eye(len(mu1))
        tr = _trace_sqrt_product(s1 + offset, s2 + offset)
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr)
    return max(value, 0.0)   # a distance; tiny negatives are rounding


# --------------------------------------------------------------------------- KID

def kid(a: Any, b: Any, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        gamma: float | None = None, coef0: float = 1.0, seed: int = 0, *,
        float64_products: bool = False, device: torch.device | str | None = None) -> MeanStd:
    """Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD^2 estimate with the kernel
    ``k(x, y) = (gamma x.y + coef0) ** degree`` (default ``gamma = 1/D``: the cubic kernel
    ``(x.y/D + 1)^3``), over ``subsets`` random subsets of ``min(subset_size, N_a, N_b)`` rows drawn
    without replacement from each set (``seed`` fixes them). Returns the mean and the standard
    deviation over subsets.

    The inner products are matrix products of the float32 features (float64 with
    ``float64_products=True``, about twice as slow on CPUs); the kernel values and every sum are float64.
    On Inception-like features (D = 2048, subsets of 1000) the two differ by about 1e-10, against
    KID values of 1e-4 and more and subset spreads of about 1e-4.
    """
    subsets = _positive_int(subsets, "kid: subsets")
    subset_size = _positive_int(subset_size, "kid: subset_size", minimum=2)
    degree = _positive_int(degree, "kid: degree")
    dev = _device(device)
    dtype = torch.float64 if float64_products else torch.float32
    x = _raw_features(a, "kid(a)", "KID", dtype, dev)
    y = _raw_features(b, "kid(b)", "KID", dtype, dev)
    _check_dims(x, y, "kid")
    _need(len(x), 2, "kid(a)", "KID")
    _need(len(y), 2, "kid(b)", "KID")
    d = x.shape[1]
    g = 1.0 / d if gamma is None else float(gamma)
    m = min(subset_size, len(x), len(y))

    gen = torch.Generator().manual_seed(int(seed))
    # independent draws without replacement for every subset: argsort of uniform keys (vectorised)
    idx_x = torch.argsort(torch.rand(subsets, len(x), generator=gen), dim=1)[:, :m].to(dev)
    idx_y = torch.argsort(torch.rand(subsets, len(y), generator=gen), dim=1)[:, :m].to(dev)

    def kernel_sums(p: torch.Tensor, q: torch.Tensor, diagonal: bool) -> torch.Tensor:
        k = (g * torch.bmm(p, q.transpose(1, 2)).to(torch.float64) + coef0) ** degree
        total = k.sum(dim=(1, 2))
        return total - k.diagonal(dim1=1, dim2=2).sum(dim=1) if diagonal else total

    # subsets per chunk: [c, m, m] products + kernel and two [c, m, D] gathers in under ~256 MB
    per = 8 * (2 * m * m + 2 * m * d)
    chunk = max(1, min(subsets, (256 << 20) // per))
    values = []
    for s in range(0, subsets, chunk):
        xs, ys = x[idx_x[s:s + chunk]], y[idx_y[s:s + chunk]]
        within = kernel_sums(xs, xs, True) + kernel_sums(ys, ys, True)
        values.append(within / (m * (m - 1)) - 2.0 * kernel_sums(xs, ys, False) / (m * m))
    v = torch.cat(values).cpu().numpy()
    return MeanStd(float(v.mean()), float(v.std()))


# --------------------------------------------------------------------------- k-NN machinery

def _centred_pair(a: Any, b: Any, names: tuple[str, str], what: str, device) -> tuple[torch.Tensor, ...]:
    """Both sets centred on the first set's mean, as float32 (for the bulk of the distances: centring makes
    the ``|x|^2 + |y|^2 - 2 x.y`` form lose little to cancellation) and as float64 (for the few distances
    float32 cannot decide, see :func:`_decide`), on ``device``."""
    dev = _device(device)
    x = _raw_features(a, names[0], what, torch.float64, dev)
    y = _raw_features(b, names[1], what, torch.float64, dev)
    _check_dims(x, y, what)
    mu = x.mean(dim=0) if len(x) else 0.0
    x, y = x - mu, y - mu
    return x.to(torch.float32), y.to(torch.float32), x, y


# a float32 squared distance |x|^2 + |y|^2 - 2 x.y is off by at most about this times |x|^2 + |y|^2 (matrix
# products sum in a different order on each device and library, so only a margin makes the decisions agree)
_F32_MARGIN = 2.0 ** -14


def _exact_sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise float64 squared distances of paired rows, from their differences."""
    return (a - b).pow(2).sum(dim=-1)


def _decide(d: torch.Tensor, radii: torch.Tensor, margin: torch.Tensor, rows64: torch.Tensor,
            cols64: torch.Tensor) -> torch.Tensor:
    """``d <= radii`` for the float32 distances ``d`` of ``rows64`` x ``cols64``; the entries within
    ``margin`` of their radius are decided again on float64 distances against the float64 ``radii``."""
    diff = d - radii.to(d.dtype)
    inside = diff <= 0
    close = diff.abs_() <= margin
    if bool(close.any()):
        i, j = close.nonzero(as_tuple=True)
        radii = radii.expand_as(d)
        step = max(1, _BLOCK_ELEMENTS // (2 * max(rows64.shape[1], 1)))
        for a in range(0, len(i), step):
            ii, jj = i[a:a + step], j[a:a + step]
            inside[ii, jj] = _exact_sqdist(rows64[ii], cols64[jj]) <= radii[ii, jj]
    return inside


def _row_blocks(n_rows: int, n_cols: int):
    step = max(1, min(n_rows, _BLOCK_ELEMENTS // max(n_cols, 1)))
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


def _sqdist(x: torch.Tensor, y: torch.Tensor, x_sq: torch.Tensor, y_sq: torch.Tensor) -> torch.Tensor:
    """[len(x), len(y)] squared Euclidean distances."""
    d = torch.addmm(x_sq[:, None] + y_sq[None, :], x, y.T, alpha=-2.0)
    return d.clamp_(min=0.0)


def _knn_sqradii(x: torch.Tensor, k: int, x64: torch.Tensor) -> torch.Tensor:
    """float64 squared distance from every row to its k-th nearest other row (itself excluded by index): the
    nearest candidates are found in float32 (``x``), their distances taken again in float64 (``x64``)."""
    sq = (x * x).sum(dim=1)
    out = torch.empty(len(x), dtype=torch.float64, device=x.device)
    extra = min(len(x) - 1, k + 8)       # candidates: float32's order is close to right, not always exactly
    for s, e in _row_blocks(len(x), len(x)):
        d = _sqdist(x[s:e], x, sq[s:e], sq)
        rows = torch.arange(e - s, device=x.device)
        d[rows, rows + s] = float("inf")
        idx = d.topk(extra, dim=1, largest=False).indices
        step = max(1, _BLOCK_ELEMENTS // (2 * extra * max(x64.shape[1], 1)))
        for a in range(0, e - s, step):
            b = min(e - s, a + step)
            exact = _exact_sqdist(x64[s + a:s + b, None, :], x64[idx[a:b]])
            out[s + a:s + b] = exact.kthvalue(k, dim=1).values
    return out


def precision_recall(real: Any, fake: Any, k: int = 3,
                     device: torch.device | str | None = None) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its samples with radius the distance to the
    sample's k-th nearest neighbour in the same set. Precision: the fraction of fake samples inside the
    real manifold; recall: the fraction of real samples inside the fake manifold.
    """
    k = _positive_int(k, "precision_recall: k")
    x, y, x64, y64 = _centred_pair(real, fake, ("precision_recall(real)", "precision_recall(fake)"),
                                   "precision_recall", device)
    _need(len(x), k + 1, "real", f"precision_recall with k={k}")
    _need(len(y), k + 1, "fake", f"precision_recall with k={k}")
    r_real, r_fake = _knn_sqradii(x, k, x64), _knn_sqradii(y, k, y64)
    x_sq, y_sq = (x * x).sum(dim=1), (y * y).sum(dim=1)
    x_max = x_sq.max()
    fake_inside = 0
    real_inside = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for s, e in _row_blocks(len(y), len(x)):      # one pass over the fake x real distances
        d = _sqdist(y[s:e], x, y_sq[s:e], x_sq)
        margin = _F32_MARGIN * (y_sq[s:e, None] + x_max)   # per row: as safe, and cheaper than per entry
        fake_inside += int(_decide(d, r_real[None, :], margin, y64[s:e], x64).any(dim=1).sum())
        real_inside |= _decide(d, r_fake[s:e, None], margin, y64[s:e], x64).any(dim=0)
    return PrecisionRecall(fake_inside / len(y), int(real_inside.sum()) / len(x))


def density_coverage(real: Any, fake: Any, k: int = 5,
                     device: torch.device | str | None = None) -> DensityCoverage:
    """Density and coverage (Naeem et al. 2020), both on the real k-NN balls only.

    Density: how many real balls contain each fake sample, averaged and divided by k (about 1 when the
    sets match; above 1 when fakes crowd into dense real regions). Coverage: the fraction of real
    samples whose ball contains at least one fake sample.
    """
    k = _positive_int(k, "density_coverage: k")
    x, y, x64, y64 = _centred_pair(real, fake, ("density_coverage(real)", "density_coverage(fake)"),
                                   "density_coverage", device)
    _need(len(x), k + 1, "real", f"density_coverage with k={k}")
    _need(len(y), 1, "fake", "density_coverage")
    r_real = _knn_sqradii(x, k, x64)
    x_sq, y_sq = (x * x).sum(dim=1), (y * y).sum(dim=1)
    x_max = x_sq.max()
    count = 0
    covered = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for s, e in _row_blocks(len(y), len(x)):
        inside = _decide(_sqdist(y[s:e], x, y_sq[s:e], x_sq), r_real[None, :],
                         _F32_MARGIN * (y_sq[s:e, None] + x_max), y64[s:e], x64)
        count += int(inside.sum())
        covered |= inside.any(dim=0)
    return DensityCoverage(count / (k * len(y)), int(covered.sum()) / len(x))


# --------------------------------------------------------------------------- Inception score

def inception_score(logits_or_probs: ArrayLike, splits: int = 10,
                    from_logits: bool | None = None) -> MeanStd:
    """Inception score (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))`` on each of ``splits``
    consecutive chunks; returns the mean and standard deviation over chunks.

    The input is [N, C] class logits or probabilities; ``from_logits=None`` treats it as probabilities
    when every row is non-negative and sums to 1, as logits otherwise.
    """
    splits = _positive_int(splits, "inception_score: splits")
    p = _as_tensor(logits_or_probs, "inception_score")
    n = len(p)
    _need(n, splits, "inception_score", f"the Inception score with splits={splits}")
    if from_logits is None:
        is_probs = bool((p >= 0).all()) and bool(((p.sum(dim=1) - 1).abs() <= 1e-3).all())
        from_logits = not is_probs
    if from_logits:
        p = torch.softmax(p, dim=1)
    else:
        if bool((p < 0).any()):
            raise DataError("inception_score: probabilities must be non-negative")
        p = p / p.sum(dim=1, keepdim=True)
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        py = part.mean(dim=0, keepdim=True)
        # xlogy: 0 log 0 = 0, so hard one-hot predictions are fine
        kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, py)).sum(dim=1)
        scores.append(float(torch.exp(kl.mean())))
    s = np.array(scores)
    return MeanStd(float(s.mean()), float(s.std()))


# --------------------------------------------------------------------------- memorisation

@dataclass
class Memorization:
    """Per generated sample: its nearest training sample and how close it is, relative to the
    distance from that training sample to its own nearest training neighbour."""
    threshold: float
    ratio: np.ndarray           # [M] distance / neighbour's own nearest-training distance
    distance: np.ndarray        # [M] distance to the nearest training sample (float64)
    nearest_index: np.ndarray   # [M] row of that training sample
    flagged: np.ndarray         # [M] bool: ratio < threshold (near copies)

    @property
    def fraction_flagged(self) -> float:
        return float(self.flagged.mean())

    @property
    def median_ratio(self) -> float:
        return float(np.median(self.ratio))

    def summary(self) -> dict[str, float]:
        """Plain numbers for a metrics record."""
        return {"memorization_fraction": self.fraction_flagged,
                "memorization_median_ratio": self.median_ratio,
                "memorization_threshold": float(self.threshold)}


def _nearest(q: torch.Tensor, ref: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the nearest ``ref`` row for every ``q`` row; ``exclude[i]`` is a ref row q[i] may not
    pick (its own)."""
    q_sq, r_sq = (q * q).sum(dim=1), (ref * ref).sum(dim=1)
    out = torch.empty(len(q), dtype=torch.long, device=q.device)
    for s, e in _row_blocks(len(q), len(ref)):
        d = _sqdist(q[s:e], ref, q_sq[s:e], r_sq)
        if exclude is not None:
            d[torch.arange(e - s, device=q.device), exclude[s:e]] = float("inf")
        out[s:e] = d.argmin(dim=1)
    return out


def memorization(train_feats: Any, gen_feats: Any, threshold: float = 0.5,
                 device: torch.device | str | None = None) -> Memorization:
    """Flag generated samples that are near copies of training samples.

    For each generated sample: the distance d to its nearest training sample t, and the ratio of d to
    the distance from t to t's nearest other training sample. A fresh sample from the data distribution
    has a ratio around 1; a copy has a ratio near 0. ``ratio < threshold`` flags it (0.5: twice as close
    to t as t's own nearest neighbour; use 1.0 for the "authenticity" rule of Alaa et al. 2022).
    Neighbours are searched in float32 blocks; the reported distances are then recomputed directly as
    ``|x - y|`` in float64, so an exact copy has distance 0.
    """
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not threshold > 0:
        raise ConfigError(f"memorization: threshold must be a number > 0, got {threshold!r}")
    x, y, x64, y64 = _centred_pair(train_feats, gen_feats, ("memorization(train)", "memorization(gen)"),
                               "memorization", device)
    _need(len(x), 2, "train", "memorization")
    _need(len(y), 1, "gen", "memorization")
    nn_gen = _nearest(y, x)
    # the training neighbours' own nearest neighbours: only for the rows that were picked
    picked, inverse = torch.unique(nn_gen, return_inverse=True)
    nn_picked = _nearest(x[picked], x, exclude=picked)

    dist = _exact_sqdist(y64, x64[nn_gen]).sqrt()
    own = _exact_sqdist(x64[picked], x64[nn_picked]).sqrt()[inverse]
    # own == 0 (duplicated training rows): a copy of them is a copy (ratio 0), anything else is not
    ratio = torch.where(own > 0, dist / own.clamp(min=torch.finfo(torch.float64).tiny),
                        torch.where(dist > 0, torch.full_like(dist, float("inf")), torch.zeros_like(dist)))
    ratio_np = ratio.cpu().numpy()
    return Memorization(threshold=float(threshold), ratio=ratio_np, distance=dist.cpu().numpy(),
                        nearest_index=nn_gen.cpu().numpy(), flagged=ratio_np < threshold)
