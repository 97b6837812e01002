"""DCGAN-style convolutional generator and discriminator (Radford et al. 2016), sizes 16..128."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from . import register_arch
from .registry import register
from .conditional import CondBatchNorm2d, class_output, need_labels


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


@register
class DCGANGenerator(nn.Module):
    """With ``num_classes`` > 0 every batch norm is class-conditional and ``forward(z, y)`` needs labels."""

    def __init__(self, z_dim: int = 128, size: int = 64, channels: int = 3, width: int = 64, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        ch = widths(size, width)

        def norm(c: int) -> nn.Module:
            return CondBatchNorm2d(c, num_classes) if num_classes else nn.BatchNorm2d(c)

        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch[0], 4, 1, 0, bias=False), norm(ch[0]), nn.ReLU(True)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), norm(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = z.view(z.shape[0], -1, 1, 1)
        if not self.num_classes:
            return self.net(h)
        y = need_labels(y, z.shape[0], self.num_classes)
        for layer in self.net:
            h = layer(h, y) if isinstance(layer, CondBatchNorm2d) else layer(h)
        return h


@register
class DCGANDiscriminator(nn.Module):
    """No batch norm: per-sample gradient penalties (R1, GP) need a per-sample critic.

    ``num_classes`` > 0 with ``cond="projection"``: ``forward(x, y)`` adds the projection term
    ``<embed(y), phi(x)>`` (phi: the last 4x4 feature map). With ``cond="acgan"``: ``forward(x)`` returns
    ``[N, 1 + num_classes]``, the adversarial logit then the auxiliary classifier's logits.
    """

    def __init__(self, size: int = 64, channels: int = 3, width: int = 64, num_classes: int = 0,
                 cond: str = "projection"):
        super().__init__()
        self.num_classes, self.cond = num_classes, cond
        ch = list(reversed(widths(size, width)))
        layers: list[nn.Module] = [nn.Conv2d(channels, ch[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ch[-1], 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)
        if num_classes and cond == "projection":
            self.embed = nn.Embedding(num_classes, ch[-1] * 16)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
        elif num_classes and cond == "acgan":
            self.aux = nn.Linear(ch[-1] * 16, num_classes)
        elif num_classes:
            raise ValueError(f"cond must be 'projection' or 'acgan', got {cond!r}")
        init_weights(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if not self.num_classes:
            return self.net(x).flatten(1)
        phi = self.net[:-1](x)
        out = self.net[-1](phi).flatten(1)
        return class_output(self, out, phi.flatten(1), y)


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


register_arch("dcgan", DCGANGenerator, DCGANDiscriminator)
