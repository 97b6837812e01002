"""Exponential moving average of a network's weights (used for sampling by default)."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn


class EMA:
    """Keeps ``shadow``, a frozen copy of ``module`` whose weights trail it by a half-life in images."""

    def __init__(self, module: nn.Module, half_life_kimg: float = 10.0, rampup: float | None = 0.05):
        self.shadow = copy.deepcopy(module).eval().requires_grad_(False)
        self.half_life_kimg = half_life_kimg
        self.rampup = rampup

    @torch.no_grad()
    def update(self, module: nn.Module, images_seen: int, batch: int) -> None:
        half_life = self.half_life_kimg * 1000
        if self.rampup is not None:
            half_life = min(half_life, images_seen * self.rampup)
        beta = 0.5 ** (batch / max(half_life, 1e-8))
        for p_ema, p in zip(self.shadow.parameters(), module.parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(self.shadow.buffers(), module.buffers()):
            b_ema.copy_(b)

    def state_dict(self) -> dict:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.shadow.load_state_dict(state)
