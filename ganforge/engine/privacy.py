"""Differential privacy for a critic: DP-SGD gradients (per-record clipping + Gaussian noise) and the
privacy spent, for tasks whose real data is a set of records (tables).

The mechanism is the sampled Gaussian mechanism of Abadi et al. 2016: each step draws every record
independently with probability ``q`` (Poisson sampling), clips each record's gradient to L2 norm ``C``,
sums, adds N(0, (sigma C)^2) noise, and divides by the expected batch size. The generator only ever sees
the critic, so it inherits the guarantee (post-processing). The spent (epsilon, delta) comes from
Opacus's Renyi-DP accountant (``pip install ganforge[privacy]``); the clipping and noise are computed here
with ``torch.func`` so that the engine's optimiser loop stays the same for every task.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
from torch.func import functional_call, grad, vmap

from ..errors import ConfigError

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def _rdp():
    try:
        from opacus.accountants.analysis import rdp
    except ImportError:
        raise ConfigError("differential privacy needs Opacus's accountant: pip install 'ganforge[privacy]' "
                          "(or opacus)") from None
    return rdp


@dataclass
class PrivacyAccount:
    """Privacy spent by ``steps`` sampled Gaussian steps at rate ``sample_rate``, noise ``noise`` (sigma)."""

    sample_rate: float
    noise: float
    delta: float
    max_grad_norm: float
    steps: int = 0

    def __post_init__(self) -> None:
        _rdp()

    def epsilon(self, steps: int | None = None) -> float:
        steps = self.steps if steps is None else steps
        if steps == 0:
            return 0.0
        rdp = _rdp()
        curve = rdp.compute_rdp(q=self.sample_rate, noise_multiplier=self.noise, steps=steps, orders=ORDERS)
        eps, _ = rdp.get_privacy_spent(orders=ORDERS, rdp=curve, delta=self.delta)
        return float(eps)

    def describe(self) -> dict:
        return {"epsilon": round(self.epsilon(), 4), "delta": self.delta, "steps": self.steps,
                "noise_multiplier": self.noise, "max_grad_norm": self.max_grad_norm,
                "sample_rate": self.sample_rate, "accountant": "RDP (Opacus), Poisson-sampled Gaussian"}


def poisson_sample(n: int, rate: float, gen: torch.Generator) -> torch.Tensor:
    """Indices of the records drawn this step: each of ``n`` independently with probability ``rate``."""
    return torch.nonzero(torch.rand(n, generator=gen) < rate).flatten()


def private_gradient_loss(module: nn.Module, records: torch.Tensor, per_record_loss: Callable[[torch.Tensor], torch.Tensor],
                          expected_n: float, max_grad_norm: float, noise: float, gen: torch.Generator
                          ) -> tuple[torch.Tensor, float]:
    """A surrogate loss whose gradient w.r.t. ``module``'s parameters is the DP-SGD gradient of the mean
    of ``per_record_loss(module(record))`` over the records (its value is the plain mean loss, for logging),
    and the share of records whose gradient was clipped.

    Each record's gradient is clipped to ``max_grad_norm`` and N(0, (noise * max_grad_norm)^2) is added to
    the sum, which is then divided by ``expected_n`` (the expected batch size under Poisson sampling).
    Noise is added even when no record was drawn, as the mechanism requires.
    """
    params = {k: p for k, p in module.named_parameters() if p.requires_grad}
    buffers = dict(module.named_buffers())

    def one(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return per_record_loss(functional_call(module, (p, buffers), (x.unsqueeze(0),))).sum()

    detached = {k: p.detach() for k, p in params.items()}
    total = {k: torch.zeros_like(p) for k, p in detached.items()}
    value = torch.zeros((), device=records.device)
    clipped = 0.0
    if len(records):
        with torch.autocast(records.device.type, enabled=False):
            grads = vmap(grad(one), in_dims=(None, 0), randomness="different")(detached, records.float())
            norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values()))
            factor = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
            clipped = float((factor < 1).float().mean())
            for k, g in grads.items():
                total[k] = torch.einsum("n,n...->...", factor, g)
            with torch.no_grad():
                value = per_record_loss(module(records.float())).sum()
    surrogate = torch.zeros((), device=records.device)
    for k, p in params.items():
        noisy = (total[k] + noise * max_grad_norm * torch.randn(p.shape, generator=gen).to(p.device)) / expected_n
        surrogate = surrogate + (p * noisy).sum()
    return value / max(expected_n, 1.0) + surrogate - surrogate.detach(), clipped
