"""ResNet generator and spectrally normalised ResNet discriminator (SNGAN, Miyato et al. 2018)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from . import register_arch
from .registry import register
from .conditional import CondBatchNorm2d, class_output, need_labels
from .dcgan import widths


@register
class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, num_classes: int = 0):
        super().__init__()
        if num_classes:
            self.bn1, self.bn2 = CondBatchNorm2d(cin, num_classes), CondBatchNorm2d(cout, num_classes)
        else:
            self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        bn1 = self.bn1(x) if y is None else self.bn1(x, y)
        h = F.interpolate(F.relu(bn1), scale_factor=2, mode="nearest")
        h = self.conv1(h)
        h = self.conv2(F.relu(self.bn2(h) if y is None else self.bn2(h, y)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


@register
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


@register
class ResNetGenerator(nn.Module):
    """With ``num_classes`` > 0 the blocks' batch norms are class-conditional; ``forward(z, y)``."""

    def __init__(self, z_dim: int = 128, size: int = 64, channels: int = 3, width: int = 64, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        ch = widths(size, width) + [max(width // 2, 16)]
        self.ch0 = ch[0]
        self.fc = nn.Linear(z_dim, 4 * 4 * ch[0])
        self.blocks = nn.Sequential(*[UpBlock(a, b, num_classes) for a, b in zip(ch[:-1], ch[1:])])
        self.out = nn.Sequential(nn.BatchNorm2d(ch[-1]), nn.ReLU(True), nn.Conv2d(ch[-1], channels, 3, 1, 1),
                                 nn.Tanh())
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z.flatten(1)).view(z.shape[0], self.ch0, 4, 4)
        if not self.num_classes:
            return self.out(self.blocks(h))
        y = need_labels(y, z.shape[0], self.num_classes)
        for block in self.blocks:
            h = block(h, y)
        return self.out(h)


@register
class ResNetDiscriminator(nn.Module):
    """Conditioning as in :class:`ganforge.nets.dcgan.DCGANDiscriminator` (projection or AC-GAN head)."""

    def __init__(self, size: int = 64, channels: int = 3, width: int = 64, num_classes: int = 0,
                 cond: str = "projection"):
        super().__init__()
        self.num_classes, self.cond = num_classes, cond
        ch = [max(width // 2, 16)] + list(reversed(widths(size, width)))
        blocks = [DownBlock(channels, ch[0], first=True)]
        blocks += [DownBlock(a, b) for a, b in zip(ch[:-1], ch[1:])]
        self.blocks = nn.Sequential(*blocks[:-1])  # last stage stays at 4x4: see below
        self.last = DownBlockNoPool(ch[-2], ch[-1])
        self.fc = spectral_norm(nn.Linear(ch[-1], 1))
        if num_classes and cond == "projection":
            self.embed = spectral_norm(nn.Embedding(num_classes, ch[-1]))
        elif num_classes and cond == "acgan":
            self.aux = spectral_norm(nn.Linear(ch[-1], num_classes))
        elif num_classes:
            raise ValueError(f"cond must be 'projection' or 'acgan', got {cond!r}")

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.last(self.blocks(x)))
        phi = h.sum(dim=(2, 3))
        return class_output(self, self.fc(phi), phi, y)


@register
class DownBlockNoPool(nn.Module):
    """Residual block at 4x4 without pooling, as in SNGAN's last discriminator stage."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + self.skip(x)


register_arch("resnet", ResNetGenerator, ResNetDiscriminator)
