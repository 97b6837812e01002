"""Recurrent networks for time series (RCGAN class, Esteban et al. 2017): a GRU generator fed per-step noise
and a GRU discriminator that judges every step, both conditioned on a label embedding.

Model files written before ``global_input`` / ``global_head`` existed lack those keyword arguments, and their
defaults (False) rebuild exactly the networks those files hold."""
from __future__ import annotations

import torch
import torch.nn as nn
from .registry import register


@register
class SeriesGenerator(nn.Module):
    """Per-step noise (+ label) -> series. ``global_dim`` > 0 adds a per-series latent that sets the GRU's
    initial state, so properties that hold for a whole series (frequency, level) need not be rebuilt from
    per-step noise at every step; ``global_input`` also feeds that latent to the GRU at every step, so that
    it cannot fade from the state over a long series."""

    def __init__(self, z_dim: int, features: int, hidden: int = 64, layers: int = 2, classes: int = 0,
                 global_dim: int = 0, global_input: bool = False):
        super().__init__()
        self.embed = nn.Embedding(classes, hidden) if classes else None
        self.global_input = bool(global_input and global_dim)
        self.rnn = nn.GRU(z_dim + (hidden if classes else 0) + (global_dim if self.global_input else 0), hidden,
                          layers, batch_first=True)
        self.out = nn.Linear(hidden, features)
        self.global_dim, self.layers, self.hidden = global_dim, layers, hidden
        self.init = nn.Linear(global_dim, layers * hidden) if global_dim else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, z_global: torch.Tensor | None = None
                ) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)[:, None, :].expand(-1, z.shape[1], -1)], 2)
        if self.global_input:
            z = torch.cat([z, z_global[:, None, :].expand(-1, z.shape[1], -1)], 2)
        h0 = None
        if self.init is not None:
            h0 = torch.tanh(self.init(z_global)).view(-1, self.layers, self.hidden).transpose(0, 1).contiguous()
        h, _ = self.rnn(z, h0)
        return torch.tanh(self.out(h))


@register
class SeriesDiscriminator(nn.Module):
    """Judges every step with a GRU (both directions when ``bidirectional``, so that each step's verdict
    sees the whole series) and averages the per-step logits over the valid steps. ``global_head`` adds a
    verdict on the whole series: a small MLP on the GRU's masked mean and max over time and its states at
    the series' ends (a per-step average is linear in the states and misses what only holds for the whole)."""

    def __init__(self, features: int, hidden: int = 64, layers: int = 2, classes: int = 0,
                 bidirectional: bool = False, global_head: bool = False):
        super().__init__()
        self.embed = nn.Embedding(classes, hidden) if classes else None
        self.rnn = nn.GRU(features + (hidden if classes else 0), hidden, layers, batch_first=True,
                          bidirectional=bidirectional)
        width = hidden * (2 if bidirectional else 1)
        self.out = nn.Linear(width, 1)
        self.head = nn.Sequential(nn.Linear(3 * width, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)) \
            if global_head else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Mean per-step logit over the valid steps of each series (+ the whole-series logit): (N,)."""
        if self.embed is not None:
            x = torch.cat([x, self.embed(labels)[:, None, :].expand(-1, x.shape[1], -1)], 2)
        h, _ = self.rnn(x)
        logits = self.out(h)[..., 0]
        m = mask.to(logits.dtype)
        count = m.sum(1).clamp(min=1)
        score = (logits * m).sum(1) / count
        if self.head is None:
            return score
        mean = (h * m[..., None]).sum(1) / count[:, None]
        top = h.masked_fill(~mask[..., None].bool(), float("-inf")).amax(1)
        last = h.gather(1, (count.long() - 1).view(-1, 1, 1).expand(-1, 1, h.shape[2]))[:, 0]
        return score + self.head(torch.cat([mean, top, last], 1))[:, 0]
