"""A tiny task for engine tests: 2-D points on a ring of Gaussians, MLP generator and discriminator."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ganforge import losses
from ganforge.engine import AdversarialTask, Phase


def mlp(n_in: int, n_out: int, hidden: int = 64) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, n_out))


class Ring(AdversarialTask):
    """``modes`` Gaussians of std ``std`` evenly spaced on a circle of radius ``radius``.

    ``poison_d_calls`` lists the indices of D-loss calls that return NaN (divergence tests).
    """

    name = "toy-ring"

    def __init__(self, modes: int = 8, radius: float = 2.0, std: float = 0.05, z_dim: int = 4, hidden: int = 64,
                 loss: str = "ns", r1_gamma: float = 0.0, seed: int = 0, poison_d_calls: tuple[int, ...] = ()):
        self.modes, self.radius, self.std, self.z_dim, self.kind, self.r1_gamma = modes, radius, std, z_dim, loss, r1_gamma
        torch.manual_seed(seed)
        self.modules = {"G": mlp(z_dim, 2, hidden), "D": mlp(2, 1, hidden)}
        self.phases = [Phase("D", "D")] + ([Phase("D_reg", "D", 4)] if r1_gamma else []) + [Phase("G", "G")]
        self.poison = set(poison_d_calls)
        self.d_calls = 0

    def centres(self) -> torch.Tensor:
        angles = torch.arange(self.modes) * (2 * math.pi / self.modes)
        return self.radius * torch.stack([angles.cos(), angles.sin()], 1)

    def sample_batch(self, batch, gen, device):
        which = torch.randint(self.modes, (batch,), generator=gen)
        return (self.centres()[which] + self.std * torch.randn(batch, 2, generator=gen)).to(device)

    def loss(self, phase, batch, nets, gen):
        G, D = nets["G"], nets["D"]
        z = torch.randn(batch.shape[0], self.z_dim, generator=gen).to(batch.device)
        if phase == "D":
            self.d_calls += 1
            with torch.no_grad():
                fake = G(z)
            loss = losses.d_loss(self.kind, D(batch), D(fake))
            if self.d_calls in self.poison:
                loss = loss * float("nan")
            return loss, {}
        if phase == "D_reg":
            real = batch.detach().requires_grad_(True)
            logits = D(real)
            return self.r1_gamma / 2 * losses.r1_penalty(logits, real) + 0 * logits.sum(), {}  # x4 by the engine
        return losses.g_loss(self.kind, D(G(z))), {}

    def export(self, nets, ema):
        g = ema if ema is not None else nets["G"]
        return {f"G.{k}": v for k, v in g.state_dict().items()}, {}

    def coverage(self, G: nn.Module, n: int = 2000, seed: int = 0) -> tuple[int, float]:
        """(modes holding >= 1% of the samples within 4 std, fraction of samples within 4 std of a mode)."""
        with torch.no_grad():
            x = G(torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed))).float()
        d = torch.cdist(x, self.centres())
        nearest, which = d.min(1)
        good = nearest < 4 * self.std
        counts = torch.bincount(which[good], minlength=self.modes)
        return int((counts >= 0.01 * n).sum()), float(good.float().mean())
