"""Recurrent networks for time series (RCGAN class, Esteban et al. 2017): a GRU generator fed per-step noise
and a GRU discriminator that judges every step, both conditioned on a label embedding."""
from __future__ import annotations

import torch
import torch.nn as nn


class SeriesGenerator(nn.Module):
    def __init__(self, z_dim: int, features: int, hidden: int = 64, layers: int = 2, classes: int = 0):
        super().__init__()
        self.embed = nn.Embedding(classes, hidden) if classes else None
        self.rnn = nn.GRU(z_dim + (hidden if classes else 0), hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, features)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)[:, None, :].expand(-1, z.shape[1], -1)], 2)
        h, _ = self.rnn(z)
        return torch.tanh(self.out(h))


class SeriesDiscriminator(nn.Module):
    def __init__(self, features: int, hidden: int = 64, layers: int = 2, classes: int = 0):
        super().__init__()
        self.embed = nn.Embedding(classes, hidden) if classes else None
        self.rnn = nn.GRU(features + (hidden if classes else 0), hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Mean per-step logit over the valid steps of each series: (N,)."""
        if self.embed is not None:
            x = torch.cat([x, self.embed(labels)[:, None, :].expand(-1, x.shape[1], -1)], 2)
        h, _ = self.rnn(x)
        logits = self.out(h)[..., 0]
        m = mask.to(logits.dtype)
        return (logits * m).sum(1) / m.sum(1).clamp(min=1)
