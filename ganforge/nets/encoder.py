"""An image encoder for GAN inversion: image -> latent z (and class logits for conditional models)."""
from __future__ import annotations

import torch
import torch.nn as nn

from .dcgan import widths
from .registry import register


@register
class Encoder(nn.Module):
    """Strided convolutions (DCGAN discriminator body, with batch norm) then linear heads."""

    def __init__(self, size: int = 32, channels: int = 3, z_dim: int = 128, num_classes: int = 0, width: int = 32):
        super().__init__()
        ch = list(reversed(widths(size, width)))
        layers: list[nn.Module] = [nn.Conv2d(channels, ch[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.z = nn.Linear(ch[-1] * 16, z_dim)
        self.cls = nn.Linear(ch[-1] * 16, num_classes) if num_classes else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.body(x)
        return self.z(h), (self.cls(h) if self.cls is not None else None)
