"""Differentiable augmentation for small data sets: DiffAugment (Zhao et al. 2020) and adaptive
augmentation (StyleGAN2-ADA, Karras et al. 2020).

The same random transform family is applied to real and generated images before the
discriminator sees them, so D cannot memorise a small training set while G still receives
gradients through the transform. Every random draw comes from an explicit generator.
DiffAugment applies its policy to every image; :class:`AdaptiveAugment` applies each operation with a
probability ``p`` that follows how much D overfits.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _rand(n: int, gen: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, generator=gen).to(like.device, like.dtype)


def color(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    n = x.shape[0]
    x = x + (_rand(n, gen, x) - 0.5)  # brightness, images live in [-1, 1]
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand(n, gen, x) * 2) + mean  # saturation
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(n, gen, x) + 0.5) + mean  # contrast


def translation(x: torch.Tensor, gen: torch.Generator | None = None, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), generator=gen).to(x.device)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), generator=gen).to(x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy.unsqueeze(0) + ty + 1, 0, h + 1)
    gx = torch.clamp(gx.unsqueeze(0) + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # zero border: shifted-in pixels are 0 (mid-grey)
    idx = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[idx, gy, gx].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, gen: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=gen).to(x.device) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=gen).to(x.device) - cw // 2
    gy = torch.arange(h, device=x.device).view(1, h, 1)
    gx = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (gy >= top) & (gy < top + ch) & (gx >= left) & (gx < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": color, "translation": translation, "cutout": cutout}


class DiffAugment:
    """Apply a policy (e.g. ``"color,translation,cutout"``) to a batch, each op with probability ``p``."""

    def __init__(self, policy: str = "color,translation,cutout", p: float = 1.0):
        ops = [s.strip() for s in policy.split(",") if s.strip()]
        unknown = [o for o in ops if o not in _OPS]
        if unknown:
            raise ValueError(f"unknown augmentation {unknown[0]!r}; known: {', '.join(POLICIES)}")
        self.ops = ops
        self.p = float(p)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        for name in self.ops:
            y = _OPS[name](x, gen)
            if self.p < 1.0:
                keep = (torch.rand(x.shape[0], 1, 1, 1, generator=gen) < self.p).to(x.device, x.dtype)
                y = keep * y + (1 - keep) * x
            x = y
        return x

    def state_dict(self) -> dict:
        return {"p": self.p}

    def load_state_dict(self, state: dict) -> None:
        self.p = float(state["p"])


# ------------------------------------------------------------------------------------------------ ADA
#: the operations of StyleGAN2-ADA's "bgc" pipeline that ganforge applies, in order (Karras et al. 2020)
ADA_OPS = ("xflip", "rotate90", "translate", "scale", "aniso", "brightness", "contrast", "saturation")
#: xflip and rotate90 are applied with at most this probability: at probability 1 every orientation is equally
#: likely and D can no longer tell the generator that its samples must be upright (the augmentation "leaks")
LEAK_CAP = 0.8
ADA_TARGET = 0.6   # StyleGAN2-ADA's target for r_t = E[sign(D(real))]
ADA_INTERVAL = 4   # steps between adjustments of p, as StyleGAN2-ADA
ADA_KIMG = 500     # thousands of images over which p can go from 0 to 1, as StyleGAN2-ADA


def _chosen(n: int, p: float, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """A bool per sample, True with probability ``p``."""
    return (torch.rand(n, generator=gen) < p).to(device)


def _lognormal2(n: int, std: float, gen: torch.Generator | None) -> torch.Tensor:
    """``2 ** N(0, std^2)`` per sample: ADA's scale factors."""
    return torch.exp2(torch.randn(n, generator=gen) * std)


def _reflect(idx: torch.Tensor, size: int) -> torch.Tensor:
    """Indices reflected into [0, size) (period 2 * size, edge pixels repeated as in ``np.pad(mode="symmetric")``)."""
    idx = torch.remainder(idx, 2 * size)
    return torch.where(idx >= size, 2 * size - 1 - idx, idx)


class AdaptiveAugment:
    """StyleGAN2-ADA's adaptive discriminator augmentation, differentiable, with its probability controller.

    Every operation of :data:`ADA_OPS` is applied to each image independently with probability ``p``
    (xflip and rotate90 with at most :data:`LEAK_CAP`): x-flip, a 90-degree rotation (0, 90, 180 or 270,
    uniformly), an integer translation of up to 1/8 of the side (reflected border), isotropic scaling
    ``2 ** N(0, 0.2^2)``, anisotropic scaling (x by ``2 ** N(0, 0.2^2)``, y by its inverse), brightness
    ``+ N(0, 0.2^2)``, contrast ``* 2 ** N(0, 0.5^2)`` and saturation ``* 2 ** N(0, 1)`` (colour images).
    Scaling uses bilinear resampling with a reflected border; everything else is exact.

    The controller: the task calls :meth:`observe` with D's verdict on real images (the signs of the real
    logits, or for a relativistic loss of real minus paired fake logits) and :meth:`step` once per D update;
    every ``interval`` steps ``r_t`` = the mean of the signs seen since the last adjustment, and ``p`` moves by
    ``batch * interval / (kimg * 1000)`` towards more augmentation when ``r_t > target`` (D is over-confident
    on the training images: it overfits) and towards less otherwise, within [0, 1].
    The state (``p``, the running sums, the step count) is in :meth:`state_dict`, so a resumed run continues
    exactly; the random draws come from the generator passed in.
    """

    def __init__(self, p: float = 0.0, target: float = ADA_TARGET, kimg: float = ADA_KIMG,
                 interval: int = ADA_INTERVAL, ops: tuple[str, ...] = ADA_OPS):
        unknown = [o for o in ops if o not in ADA_OPS]
        if unknown:
            raise ValueError(f"unknown ADA operation {unknown[0]!r}; known: {', '.join(ADA_OPS)}")
        if kimg <= 0 or interval <= 0:
            raise ValueError("kimg and interval must be positive")
        self.p, self.target, self.kimg, self.interval = float(p), float(target), float(kimg), int(interval)
        self.ops = tuple(ops)
        self._sum, self._count, self._steps = 0.0, 0, 0
        self.last_r: float | None = None

    # ---------------------------------------------------------------- the pipeline
    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        if self.p <= 0:
            return x
        n, c, h, w = x.shape
        dev = x.device
        p = self.p
        capped = min(p, LEAK_CAP)
        if "xflip" in self.ops:
            x = torch.where(_chosen(n, capped, gen, dev).view(n, 1, 1, 1), x.flip(3), x)
        if "rotate90" in self.ops and h == w:
            k = torch.randint(4, (n,), generator=gen).to(dev) * _chosen(n, capped, gen, dev)
            if bool((k > 0).any()):
                out = x
                for turn in (1, 2, 3):
                    out = torch.where((k == turn).view(n, 1, 1, 1), torch.rot90(x, turn, (2, 3)), out)
                x = out
        if "translate" in self.ops:
            x = self._translate(x, p, gen)
        if "scale" in self.ops or "aniso" in self.ops:
            x = self._scale(x, p, gen)
        if "brightness" in self.ops:
            b = torch.randn(n, generator=gen) * 0.2 * _chosen(n, p, gen, torch.device("cpu"))
            x = x + b.to(dev, x.dtype).view(n, 1, 1, 1)
        if "contrast" in self.ops:
            chosen = _chosen(n, p, gen, torch.device("cpu"))
            f = torch.where(chosen, _lognormal2(n, 0.5, gen), torch.ones(n))
            x = x * f.to(dev, x.dtype).view(n, 1, 1, 1)
        if "saturation" in self.ops and c == 3:
            chosen = _chosen(n, p, gen, torch.device("cpu"))
            f = torch.where(chosen, _lognormal2(n, 1.0, gen), torch.ones(n)).to(dev, x.dtype).view(n, 1, 1, 1)
            luma = x.mean(dim=1, keepdim=True)
            x = luma + (x - luma) * f
        return x

    @staticmethod
    def _translate(x: torch.Tensor, p: float, gen: torch.Generator | None) -> torch.Tensor:
        n, _, h, w = x.shape
        dev = x.device
        chosen = _chosen(n, p, gen, torch.device("cpu"))
        t = (torch.rand(n, 2, generator=gen) * 2 - 1) * 0.125
        ty = torch.round(t[:, 0] * h).long() * chosen
        tx = torch.round(t[:, 1] * w).long() * chosen
        if not bool(chosen.any()):
            return x
        rows = _reflect(torch.arange(h).view(1, h) - ty.view(n, 1), h).to(dev)   # [n, h]
        cols = _reflect(torch.arange(w).view(1, w) - tx.view(n, 1), w).to(dev)   # [n, w]
        x = torch.gather(x, 2, rows.view(n, 1, h, 1).expand(-1, x.shape[1], -1, w))
        return torch.gather(x, 3, cols.view(n, 1, 1, w).expand(-1, x.shape[1], h, -1))

    def _scale(self, x: torch.Tensor, p: float, gen: torch.Generator | None) -> torch.Tensor:
        n = x.shape[0]
        cpu = torch.device("cpu")
        sx, sy = torch.ones(n), torch.ones(n)
        any_chosen = torch.zeros(n, dtype=torch.bool)
        if "scale" in self.ops:
            chosen = _chosen(n, p, gen, cpu)
            s = torch.where(chosen, _lognormal2(n, 0.2, gen), torch.ones(n))
            sx, sy, any_chosen = sx * s, sy * s, any_chosen | chosen
        if "aniso" in self.ops:
            chosen = _chosen(n, p, gen, cpu)
            a = torch.where(chosen, _lognormal2(n, 0.2, gen), torch.ones(n))
            sx, sy, any_chosen = sx * a, sy / a, any_chosen | chosen
        if not bool(any_chosen.any()):
            return x
        # the output pixel at (u, v) shows the input at (u / sx, v / sy): the image grows by sx, sy
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 1, 1] = 1 / sx, 1 / sy
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        scaled = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        return torch.where(any_chosen.to(x.device).view(n, 1, 1, 1), scaled, x)

    # ---------------------------------------------------------------- the controller
    def observe(self, signs: torch.Tensor) -> None:
        """Record D's verdict on real images: a tensor of signs (or logits; only their signs count)."""
        s = torch.sign(signs.detach().float())
        self._sum += float(s.sum())
        self._count += int(s.numel())

    def step(self, batch: int) -> float | None:
        """One D update done; every ``interval`` calls, adjust ``p``. Returns the r_t used, or None."""
        self._steps += 1
        if self._steps % self.interval or not self._count:
            return None
        r = self._sum / self._count
        adjust = math.copysign(batch * self.interval / (self.kimg * 1000), r - self.target) if r != self.target else 0.0
        self.p = min(1.0, max(0.0, self.p + adjust))
        self._sum, self._count = 0.0, 0
        self.last_r = r
        return r

    def state_dict(self) -> dict:
        return {"p": self.p, "sum": self._sum, "count": self._count, "steps": self._steps,
                "last_r": self.last_r if self.last_r is not None else float("nan")}

    def load_state_dict(self, state: dict) -> None:
        self.p = float(state["p"])
        self._sum, self._count, self._steps = float(state.get("sum", 0.0)), int(state.get("count", 0)), \
            int(state.get("steps", 0))
        r = float(state.get("last_r", float("nan")))
        self.last_r = None if math.isnan(r) else r
