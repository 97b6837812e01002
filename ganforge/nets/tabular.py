"""Networks for rows of a table (CTGAN class, Xu et al. 2019): a residual MLP generator and a packed critic.

Not registered with :func:`ganforge.nets.build` (those are image architectures); the table task builds
them from the keyword arguments stored in its model file.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from .registry import register


@register
class _Residual(nn.Module):
    """``h -> [h, relu(bn(fc(h)))]``: each block adds features and keeps the ones before it."""

    def __init__(self, inp: int, out: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(inp, out), nn.BatchNorm1d(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


@register
class TableGenerator(nn.Module):
    """(noise ++ conditional vector) -> raw outputs; the task applies tanh / Gumbel-softmax per span."""

    def __init__(self, in_dim: int, out_dim: int, hidden: list[int] | tuple[int, ...] = (256, 256)):
        super().__init__()
        blocks, width = [], in_dim
        for h in hidden:
            blocks.append(_Residual(width, h))
            width += h
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(x))


@register
class TableCritic(nn.Module):
    """WGAN critic on ``pac`` rows at once (PacGAN, Lin et al. 2018): input [B / pac, pac * row_dim]."""

    def __init__(self, row_dim: int, pac: int = 10, hidden: list[int] | tuple[int, ...] = (256, 256),
                 dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        width = row_dim * pac
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.pac = pac

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        return self.net(packed)


@register
class TableCopula(nn.Module):
    """Standard normal noise [N, d] and a copula index [N] -> normal scores ``chol[k] @ noise``: the sampler
    of a (mixture of) Gaussian copula(s); :mod:`ganforge.data.copula` turns scores into values. The Cholesky
    factors are stored in the model file like any network weight."""

    def __init__(self, dim: int, components: int = 1):
        super().__init__()
        self.register_buffer("chol", torch.eye(dim).repeat(components, 1, 1))

    def forward(self, noise: torch.Tensor, component: torch.Tensor | None = None) -> torch.Tensor:
        if component is None:
            component = torch.zeros(len(noise), dtype=torch.long, device=noise.device)
        return torch.einsum("nij,nj->ni", self.chol[component], noise)
