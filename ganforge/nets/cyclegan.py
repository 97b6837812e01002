"""The generators of the official pytorch-CycleGAN-and-pix2pix project, with its module nesting, so that
the ``latest_net_G.pth`` / ``*_net_G_A.pth`` files it saves load key for key.

- :class:`ResnetGenerator` (``resnet_6blocks``, ``resnet_9blocks``; Johnson et al.'s design): reflection pad
  + 7x7 convolution, two stride-2 3x3 convolutions, residual blocks (reflection-padded 3x3 convolutions,
  optional dropout 0.5 between them), two stride-2 transposed convolutions, reflection pad + 7x7
  convolution, tanh. Everything in one ``model`` Sequential.
- :class:`UnetGenerator` (``unet_128``: 7 levels, ``unet_256``: 8): nested skip blocks, each a Sequential
  ``model`` of (LeakyReLU 0.2, 4x4 stride-2 convolution, norm, inner block, ReLU, 4x4 stride-2 transposed
  convolution, norm[, dropout]) whose output is concatenated to its input; the outermost has no norms and
  ends in tanh. Widths: ngf, 2ngf, 4ngf, then 8ngf for every deeper level; dropout in the 8ngf levels
  between the innermost and the 4ngf one.

Norms as that project builds them: ``batch`` (affine, running statistics; convolutions before it have no
bias), ``instance`` (no affine parameters, no running statistics; convolutions have biases), ``none``
(identity; no biases either). Both work on [-1, 1] images, as ganforge does.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .registry import build, register

NORMS = ("batch", "instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def _check(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")


class _ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, dropout: bool, bias: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), _norm(norm, dim),
                                   nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), _norm(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


@register
class ResnetGenerator(nn.Module):
    def __init__(self, n_blocks: int = 9, ngf: int = 64, norm: str = "instance", dropout: bool = False,
                 input_nc: int = 3, output_nc: int = 3):
        super().__init__()
        _check(norm)
        bias = norm == "instance"  # the project's rule: a bias only where the norm has no shift of its own
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), _norm(norm, ngf),
                                   nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), _norm(norm, 2 * c), nn.ReLU(True)]
        layers += [_ResnetBlock(ngf * 4, norm, dropout, bias) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       _norm(norm, c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    @property
    def multiple(self) -> int:
        return 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class _UnetLevel(nn.Module):
    def __init__(self, outer: int, inner: int, inside: nn.Module | None, norm: str, bias: bool,
                 dropout: bool = False, input_nc: int | None = None):
        super().__init__()
        self.outermost = input_nc is not None
        if self.outermost:
            layers = [nn.Conv2d(input_nc, inner, 4, stride=2, padding=1, bias=bias), inside, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1),
                      nn.Tanh()]
        elif inside is None:  # innermost: no norm after its down convolution
            layers = [nn.LeakyReLU(0.2, True), nn.Conv2d(outer, inner, 4, stride=2, padding=1, bias=bias),
                      nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias),
                      _norm(norm, outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), nn.Conv2d(outer, inner, 4, stride=2, padding=1, bias=bias),
                      _norm(norm, inner), inside, nn.ReLU(True),
                      nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=bias), _norm(norm, outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


@register
class UnetGenerator(nn.Module):
    def __init__(self, num_downs: int = 8, ngf: int = 64, norm: str = "batch", dropout: bool = False,
                 input_nc: int = 3, output_nc: int = 3):
        super().__init__()
        _check(norm)
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5; got {num_downs}")
        bias = norm == "instance"
        self.num_downs = num_downs
        block = _UnetLevel(ngf * 8, ngf * 8, None, norm, bias)
        for _ in range(num_downs - 5):
            block = _UnetLevel(ngf * 8, ngf * 8, block, norm, bias, dropout)
        for outer, inner in ((ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)):
            block = _UnetLevel(outer, inner, block, norm, bias)
        self.model = _UnetLevel(output_nc, ngf, block, norm, bias, input_nc=input_nc)

    @property
    def multiple(self) -> int:
        return 2 ** self.num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@register
class CyclePair(nn.Module):
    """A CycleGAN's two generators, each rebuilt from its spec: ``ab`` (the file imported) and ``ba`` (its twin)."""

    def __init__(self, ab: dict, ba: dict):
        super().__init__()
        self.ab = build(ab)
        self.ba = build(ba)

    @property
    def multiple(self) -> int:
        return max(self.ab.multiple, self.ba.multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ab(x)
