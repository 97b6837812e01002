"""Image-to-image networks: the pix2pix U-Net generator and the PatchGAN discriminator.

Both are fully convolutional, so a network trained on crops runs on images of any size whose sides
are multiples of ``UNet.multiple`` (the predictor pads to that). In eval mode, batch norm uses its
running statistics, so the output at a pixel does not depend on the rest of the batch or the tile.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .dcgan import init_weights
from .registry import register


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; known: batch, instance, none")


def default_depth(crop: int) -> int:
    """Downsamplings for a training crop: the bottleneck stays 4x4 (or larger), at most 7 levels."""
    depth = 0
    while crop // 2 ** (depth + 1) >= 4 and depth < 7:
        depth += 1
    return max(depth, 1)


@register
class UNet(nn.Module):
    """pix2pix's U-Net: ``depth`` stride-2 4x4 convolutions down, transposed convolutions up, skips.

    ``residual=True`` adds the input's first ``out_channels`` channels to the output (restoration:
    the network learns the correction); otherwise the output goes through tanh.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, depth: int = 7,
                 norm: str = "batch", dropout: float = 0.0, residual: bool = False):
        super().__init__()
        self.in_channels, self.out_channels, self.depth, self.residual = in_channels, out_channels, depth, residual
        chans = [min(width * 2 ** i, width * 8) for i in range(depth)]
        self.down = nn.ModuleList()
        prev = in_channels
        for i, c in enumerate(chans):
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(nn.LeakyReLU(0.2))
            layers.append(nn.Conv2d(prev, c, 4, 2, 1, bias=(i == 0 or i == depth - 1 or norm != "batch")))
            if 0 < i < depth - 1:
                layers.append(norm_layer(norm, c))
            self.down.append(nn.Sequential(*layers))
            prev = c
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            inner = chans[i] if i == depth - 1 else chans[i] * 2  # the innermost level has no skip yet
            out = out_channels if i == 0 else chans[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(inner, out, 4, 2, 1, bias=(i == 0 or norm != "batch"))]
            if i > 0:
                layers.append(norm_layer(norm, out))
                if dropout > 0 and i >= depth - 3:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    @property
    def multiple(self) -> int:
        return 2 ** self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        skips.pop()
        for layer in self.up:
            h = layer(h)
            if skips:
                h = torch.cat([h, skips.pop()], 1)
        if self.residual:
            return x[:, : self.out_channels] + h
        return torch.tanh(h)


@register
class PatchDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake logits, each seeing a ~70x70 patch (``layers=3``).

    The one PatchGAN of ganforge. pix2pix's layout (the defaults): a stride-2 convolution, ``layers``
    normalised 4x4 convolutions (the last with stride ``last_stride`` = 1) and a 4x4 head, returning the
    grid of logits. The small layout of the anomaly, purifier and blend tasks (any side >= 8, one logit
    per image) is ``layers=2, norm="none", last_stride=2, head_kernel=3, average=True, dcgan_init=True``
    (:func:`ganforge.nets.autoencoder.PatchDiscriminator` builds it). ``norm="none"`` adds no layer (and
    gives the convolutions a bias); ``average`` returns the grid's mean, shape (N, 1); ``dcgan_init``
    draws the initial weights from N(0, 0.02).
    """

    def __init__(self, in_channels: int = 6, width: int = 64, layers: int = 3, norm: str = "instance",
                 last_stride: int = 1, head_kernel: int = 4, average: bool = False, dcgan_init: bool = False):
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, layers + 1):
            nxt = min(width * 2 ** i, width * 8)
            stride = 2 if i < layers else last_stride
            seq.append(nn.Conv2d(c, nxt, 4, stride, 1, bias=norm == "none"))
            if norm != "none":
                seq.append(norm_layer(norm, nxt))
            seq.append(nn.LeakyReLU(0.2))
            c = nxt
        seq.append(nn.Conv2d(c, 1, head_kernel, 1, 1))
        self.net = nn.Sequential(*seq)
        self.average = average
        if dcgan_init:
            init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return y.mean((2, 3)) if self.average else y


@register
class SRResNet(nn.Module):
    """SRGAN-class super-resolution generator: residual blocks at low resolution, pixel-shuffle upsampling.

    No batch norm (as EDSR): the network is a plain convolution of its input, and the output is added
    to a bicubic enlargement of the input, so it learns only the missing detail.
    """

    def __init__(self, channels: int = 3, width: int = 64, blocks: int = 8, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(channels, width, 3, 1, 1)
        body: list[nn.Module] = []
        for _ in range(blocks):
            body.append(_ResBlock(width))
        body.append(nn.Conv2d(width, width, 3, 1, 1))
        self.body = nn.Sequential(*body)
        up: list[nn.Module] = []
        for f in _factors(scale):
            up += [nn.Conv2d(width, width * f * f, 3, 1, 1), nn.PixelShuffle(f), nn.PReLU(width)]
        self.up = nn.Sequential(*up)
        self.tail = nn.Conv2d(width, channels, 3, 1, 1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    @property
    def multiple(self) -> int:
        return 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.body(h)
        base = nn.functional.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + self.tail(self.up(h))


@register
class _ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.c1 = nn.Conv2d(width, width, 3, 1, 1)
        self.c2 = nn.Conv2d(width, width, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(torch.relu(self.c1(x)))


def _factors(scale: int) -> list[int]:
    if scale in (2, 3):
        return [scale]
    if scale == 4:
        return [2, 2]
    if scale == 8:
        return [2, 2, 2]
    raise ValueError(f"scale must be 2, 3, 4 or 8; got {scale}")
