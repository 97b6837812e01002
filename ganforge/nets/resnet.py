"""ResNet generator and spectrally normalised ResNet discriminator (SNGAN, Miyato et al. 2018)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from . import register
from .dcgan import widths


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, first: bool = False):
        super().__init__()
        self.first = first
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        s = self.skip(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.skip(x), 2)
        return h + s


class ResNetGenerator(nn.Module):
    def __init__(self, z_dim: int = 128, size: int = 64, channels: int = 3, width: int = 64):
        super().__init__()
        self.z_dim = z_dim
        ch = widths(size, width) + [max(width // 2, 16)]
        self.ch0 = ch[0]
        self.fc = nn.Linear(z_dim, 4 * 4 * ch[0])
        self.blocks = nn.Sequential(*[UpBlock(a, b) for a, b in zip(ch[:-1], ch[1:])])
        self.out = nn.Sequential(nn.BatchNorm2d(ch[-1]), nn.ReLU(True), nn.Conv2d(ch[-1], channels, 3, 1, 1),
                                 nn.Tanh())
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z.flatten(1)).view(z.shape[0], self.ch0, 4, 4)
        return self.out(self.blocks(h))


class ResNetDiscriminator(nn.Module):
    def __init__(self, size: int = 64, channels: int = 3, width: int = 64):
        super().__init__()
        ch = [max(width // 2, 16)] + list(reversed(widths(size, width)))
        blocks = [DownBlock(channels, ch[0], first=True)]
        blocks += [DownBlock(a, b) for a, b in zip(ch[:-1], ch[1:])]
        self.blocks = nn.Sequential(*blocks[:-1])  # last stage stays at 4x4: see below
        self.last = DownBlockNoPool(ch[-2], ch[-1])
        self.fc = spectral_norm(nn.Linear(ch[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.last(self.blocks(x)))
        return self.fc(h.sum(dim=(2, 3)))


class DownBlockNoPool(nn.Module):
    """Residual block at 4x4 without pooling, as in SNGAN's last discriminator stage."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + self.skip(x)


register("resnet", ResNetGenerator, ResNetDiscriminator)
