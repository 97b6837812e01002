"""R3GAN-class generator and discriminator (Huang, Gokaslan, Kuleshov & Tompkin, "The GAN is dead; long live
the GAN! A Modern Baseline GAN", NeurIPS 2024), written from the paper.

Both networks are stacks of inverted-bottleneck residual blocks (1x1 expansion, grouped 3x3 convolution,
1x1 projection, leaky ReLU after the first two) with no normalisation layer at all. Without normalisation,
depth is kept trainable by a fix-up style initialisation: the last convolution of every residual branch
starts at zero (each block starts as the identity) and the others are He-initialised and scaled by
``L ** (-1 / (2m - 2))`` with ``L`` residual blocks in the network and ``m = 3`` layers per branch. Resolution
changes between stages are bilinear (the generator up-samples with bilinear interpolation; the discriminator
down-samples with the [1, 3, 3, 1] filter, the anti-aliased bilinear kernel) plus a 1x1 convolution when the
channel count changes.

The generator starts from a learned 4x4 basis modulated per channel by a linear map of z (and of the class
embedding, concatenated to z, when conditional). The discriminator ends with a depthwise 4x4 convolution
(the discriminative basis) and a linear layer; conditional: the projection term ``<embed(y), phi(x)>``
(or an AC-GAN head). Widths follow ``width`` (see :func:`pyramid`), so the same code is a small network
that trains on CPU cores at 32-64 px and a larger one on a GPU at 128-256 px.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_arch
from .conditional import class_output, need_labels
from .dcgan import levels
from .registry import register
from .stylegan2 import downsample2x, fir_filter

GROUP_CHANNELS = 16  # channels per group of the grouped convolution (R3GAN's presets: 16)


def pyramid(size: int, width: int, max_width: int | None = None) -> dict[int, int]:
    """Channels at each resolution from 4 to ``size``: ``width / 2`` at full resolution, doubling per halving,
    at most ``max_width`` (default ``4 * width``); e.g. size 32, width 64: {4: 256, 8: 128, 16: 64, 32: 32}."""
    levels(size)  # checks the size
    top = max_width or 4 * width
    out = {}
    r = 4
    while r <= size:
        out[r] = max(8, min(top, width * size // (2 * r)))
        r *= 2
    return out


def _he(conv: nn.Module, gain: float, scale: float = 1.0) -> None:
    fan_in = conv.weight[0].numel()
    nn.init.normal_(conv.weight, 0.0, gain / math.sqrt(fan_in) * scale)
    if getattr(conv, "bias", None) is not None:
        nn.init.zeros_(conv.bias)


LRELU_GAIN = math.sqrt(2 / (1 + 0.2 ** 2))


@register
class R3Block(nn.Module):
    """``x + conv3(lrelu(grouped conv2(lrelu(conv1(x)))))``; ``blocks_total`` is L of the fix-up scaling."""

    def __init__(self, channels: int, expansion: int = 2, blocks_total: int = 1, group_channels: int = GROUP_CHANNELS):
        super().__init__()
        wide = channels * expansion
        self.conv1 = nn.Conv2d(channels, wide, 1)
        self.conv2 = nn.Conv2d(wide, wide, 3, padding=1, groups=max(1, wide // group_channels))
        self.conv3 = nn.Conv2d(wide, channels, 1, bias=False)
        scale = blocks_total ** (-1 / (2 * 3 - 2))
        _he(self.conv1, LRELU_GAIN, scale)
        _he(self.conv2, LRELU_GAIN, scale)
        nn.init.zeros_(self.conv3.weight)  # the branch starts at zero: the block is the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        return x + self.conv3(h)


def _channel_map(cin: int, cout: int) -> nn.Module:
    if cin == cout:
        return nn.Identity()
    conv = nn.Conv2d(cin, cout, 1, bias=False)
    _he(conv, 1.0)
    return conv


@register
class R3Generator(nn.Module):
    """``G(z)`` or ``G(z, y)`` -> images NCHW; unclamped in training (as D sees them), clamped to [-1, 1] in eval."""

    def __init__(self, z_dim: int = 128, size: int = 32, channels: int = 3, width: int = 64, num_classes: int = 0,
                 blocks: int = 2, expansion: int = 2, max_width: int | None = None):
        super().__init__()
        self.z_dim, self.num_classes, self.size = z_dim, num_classes, size
        ch = pyramid(size, width, max_width)
        res = sorted(ch)
        total = blocks * len(res)
        embed = z_dim if num_classes else 0
        if num_classes:
            self.embed = nn.Embedding(num_classes, embed)
            nn.init.normal_(self.embed.weight)
        self.basis = nn.Parameter(torch.randn(ch[4], 4, 4))
        self.modulation = nn.Linear(z_dim + embed, ch[4], bias=False)
        _he(self.modulation, 1.0)
        self.maps = nn.ModuleList([_channel_map(ch[r // 2], ch[r]) if r > 4 else nn.Identity() for r in res])
        self.stages = nn.ModuleList([nn.Sequential(*[R3Block(ch[r], expansion, total) for _ in range(blocks)])
                                     for r in res])
        self.out = nn.Conv2d(ch[size], channels, 1)
        _he(self.out, 1.0)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = z.flatten(1)
        if self.num_classes:
            z = torch.cat([z, self.embed(need_labels(y, z.shape[0], self.num_classes)).to(z.dtype)], 1)
        h = self.basis.unsqueeze(0).to(z.dtype) * self.modulation(z)[:, :, None, None]
        for i, (cmap, stage) in enumerate(zip(self.maps, self.stages)):
            if i:
                h = F.interpolate(cmap(h), scale_factor=2, mode="bilinear", align_corners=False)
            h = stage(h)
        img = self.out(h)
        return img if self.training else img.clamp(-1, 1)


@register
class R3Discriminator(nn.Module):
    """Conditioning as in :class:`ganforge.nets.dcgan.DCGANDiscriminator` (projection or AC-GAN head)."""

    def __init__(self, size: int = 32, channels: int = 3, width: int = 64, num_classes: int = 0,
                 cond: str = "projection", blocks: int = 2, expansion: int = 2, max_width: int | None = None):
        super().__init__()
        self.num_classes, self.cond = num_classes, cond
        ch = pyramid(size, width, max_width)
        res = sorted(ch, reverse=True)
        total = blocks * len(res)
        self.register_buffer("resample_filter", fir_filter((1, 3, 3, 1)), persistent=False)
        self.stem = nn.Conv2d(channels, ch[size], 1)
        _he(self.stem, 1.0)
        self.stages = nn.ModuleList([nn.Sequential(*[R3Block(ch[r], expansion, total) for _ in range(blocks)])
                                     for r in res])
        self.maps = nn.ModuleList([_channel_map(ch[r], ch[r // 2]) for r in res[:-1]])
        c4 = ch[4]
        self.basis = nn.Conv2d(c4, c4, 4, groups=c4, bias=False)  # depthwise 4x4: one value per channel
        _he(self.basis, 1.0)
        self.fc = nn.Linear(c4, 1)
        _he(self.fc, 1.0)
        if num_classes and cond == "projection":
            self.embed = nn.Embedding(num_classes, c4)
            nn.init.normal_(self.embed.weight, std=1 / math.sqrt(c4))
        elif num_classes and cond == "acgan":
            self.aux = nn.Linear(c4, num_classes)
        elif num_classes:
            raise ValueError(f"cond must be 'projection' or 'acgan', got {cond!r}")

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.leaky_relu(self.stem(x), 0.2)
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i < len(self.maps):
                h = self.maps[i](downsample2x(h, self.resample_filter))
        phi = F.leaky_relu(self.basis(h).flatten(1), 0.2)
        return class_output(self, self.fc(phi), phi, y)


register_arch("r3", R3Generator, R3Discriminator)
