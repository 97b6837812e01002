"""3D-GAN networks (Wu et al. 2016) at 32^3: transposed 3-D convolutions up, strided 3-D convolutions down.

Both networks take an optional class index: the generator adds a class embedding to the latent, the
discriminator adds a projection term (Miyato & Koyama 2018). ``features`` exposes D's pooled features.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import spectral_norm
from .registry import register


@register
class VoxelGenerator(nn.Module):
    def __init__(self, z_dim: int = 64, width: int = 16, resolution: int = 32, classes: int = 0):
        super().__init__()
        if resolution not in (32, 64):
            raise ValueError(f"resolution must be 32 or 64, got {resolution}")
        self.z_dim, self.classes = z_dim, classes
        ups = 3 if resolution == 32 else 4
        ch = [width * 2 ** (ups - i) for i in range(ups + 1)]     # e.g. 128, 64, 32, 16
        self.embed = nn.Embedding(classes, z_dim) if classes else None
        self.fc = nn.Linear(z_dim, ch[0] * 4 ** 3)
        self.c0 = ch[0]
        layers: list[nn.Module] = [nn.BatchNorm3d(ch[0]), nn.ReLU()]
        for i in range(ups - 1):
            layers += [nn.ConvTranspose3d(ch[i], ch[i + 1], 4, 2, 1, bias=False), nn.BatchNorm3d(ch[i + 1]), nn.ReLU()]
        layers += [nn.ConvTranspose3d(ch[ups - 1], 1, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None and labels is not None:
            z = z + self.embed(labels)
        return self.net(self.fc(z).view(-1, self.c0, 4, 4, 4))[:, 0]


@register
class VoxelDiscriminator(nn.Module):
    def __init__(self, width: int = 16, resolution: int = 32, classes: int = 0):
        super().__init__()
        downs = 3 if resolution == 32 else 4
        ch = [width * 2 ** i for i in range(downs)]
        layers: list[nn.Module] = []
        c_in = 1
        for c in ch:
            layers += [spectral_norm(nn.Conv3d(c_in, c, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.out = spectral_norm(nn.Linear(c_in, 1))
        self.embed = spectral_norm(nn.Embedding(classes, c_in)) if classes else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, R, R, R) in [-1, 1] -> (B, F) pooled features."""
        return self.body(x[:, None]).sum(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.out(h)[:, 0]
        if self.embed is not None and labels is not None:
            out = out + (self.embed(labels) * h).sum(1)
        return out
