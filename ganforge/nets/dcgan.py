"""DCGAN-style convolutional generator and discriminator (Radford et al. 2016), sizes 16..128."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from . import register


def levels(size: int) -> int:
    """Number of 2x up/down-sampling stages between 4x4 and ``size``."""
    n = int(math.log2(size)) - 2
    if size < 16 or size > 256 or 4 * 2**n != size:
        raise ValueError(f"image size must be a power of two from 16 to 256, got {size}")
    return n


def widths(size: int, width: int, max_width: int = 512) -> list[int]:
    """Channel counts from the 4x4 stage up to full resolution (the last entry is at size/2)."""
    n = levels(size)
    return [min(width * 2 ** (n - 1 - i), max_width) for i in range(n)]


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int = 128, size: int = 64, channels: int = 3, width: int = 64):
        super().__init__()
        self.z_dim = z_dim
        ch = widths(size, width)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(ch[0]), nn.ReLU(True)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """No batch norm: per-sample gradient penalties (R1, GP) need a per-sample critic."""

    def __init__(self, size: int = 64, channels: int = 3, width: int = 64):
        super().__init__()
        ch = list(reversed(widths(size, width)))
        layers: list[nn.Module] = [nn.Conv2d(channels, ch[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ch[-1], 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


register("dcgan", DCGANGenerator, DCGANDiscriminator)
