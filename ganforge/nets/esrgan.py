"""Super-resolution networks of ESRGAN / Real-ESRGAN, so their published weight files load as they are.

- :class:`RRDBNet`: ESRGAN's generator (Wang et al. 2018) in BasicSR's layout: a first convolution, a trunk
  of residual-in-residual dense blocks (three dense blocks of five convolutions each, residuals scaled by
  0.2), a trunk convolution added back, then nearest-neighbour x2 enlargements each followed by a
  convolution, a high-resolution convolution and the output convolution. Real-ESRGAN's x2 (and x1) models
  keep the two x2 enlargements and reduce the input first with a pixel unshuffle (x2plus: 3 -> 12 channels).
- :class:`SRVGGNetCompact`: Real-ESRGAN's compact VGG-style network (general-x4v3, animevideov3): plain
  3x3 convolutions with activations at low resolution, a pixel shuffle at the end, added to a nearest
  enlargement of the input.

Parameter names are those of the published state dicts (``conv_first``, ``body.N.rdbK.convM``, ...). Both
networks work on [0, 1] images; ganforge's predictors speak [-1, 1], so ``forward`` converts on the way in
and out.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register

ACTIVATIONS = ("prelu", "relu", "leakyrelu")


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    return (x + 1) * 0.5


def _from_unit(y: torch.Tensor) -> torch.Tensor:
    return y * 2 - 1


class _DenseBlock(nn.Module):
    """Five 3x3 convolutions, each seeing the block input and every earlier output; residual x 0.2."""

    def __init__(self, num_feat: int, num_grow_ch: int):
        super().__init__()
        for i in range(5):
            out = num_feat if i == 4 else num_grow_ch
            setattr(self, f"conv{i + 1}", nn.Conv2d(num_feat + i * num_grow_ch, out, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(1, 5):
            feats.append(F.leaky_relu(getattr(self, f"conv{i}")(torch.cat(feats, 1)), 0.2))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))


class _RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int):
        super().__init__()
        self.rdb1 = _DenseBlock(num_feat, num_grow_ch)
        self.rdb2 = _DenseBlock(num_feat, num_grow_ch)
        self.rdb3 = _DenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


@register
class RRDBNet(nn.Module):
    """ESRGAN / Real-ESRGAN generator. ``scale`` is the overall enlargement; ``num_up`` the number of
    nearest x2 enlargements (Real-ESRGAN: always 2, so x2 and x1 models unshuffle their input by
    ``2 ** num_up / scale``; old ESRGAN x2 / x8 files have 1 / 3)."""

    def __init__(self, scale: int = 4, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32,
                 num_in_ch: int = 3, num_out_ch: int = 3, num_up: int = 2):
        super().__init__()
        if num_up < 0 or (2 ** num_up) % scale:
            raise ValueError(f"scale {scale} does not divide the enlargement 2^{num_up} of {num_up} x2 stages")
        self.scale = scale
        self.unshuffle = 2 ** num_up // scale
        self.num_up = num_up
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[_RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for i in range(num_up):
            setattr(self, f"conv_up{i + 1}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    @property
    def multiple(self) -> int:
        return self.unshuffle

    def forward_unit(self, x: torch.Tensor) -> torch.Tensor:
        """The published network: [0, 1] in, [0, 1] (unclamped) out."""
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(self.num_up):
            feat = F.interpolate(feat, scale_factor=2, mode="nearest")
            feat = F.leaky_relu(getattr(self, f"conv_up{i + 1}")(feat), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _from_unit(self.forward_unit(_to_unit(x)))


def _activation(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if act_type == "relu":
        return nn.ReLU()
    return nn.LeakyReLU(0.1)


@register
class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact network: ``num_conv`` 3x3 convolutions of width ``num_feat`` between a first and a
    last one, activations after each (PReLU in the published models), pixel shuffle by ``upscale``, plus
    a nearest enlargement of the input."""

    def __init__(self, upscale: int = 4, num_feat: int = 64, num_conv: int = 16, act_type: str = "prelu",
                 num_in_ch: int = 3, num_out_ch: int = 3):
        super().__init__()
        if act_type not in ACTIVATIONS:
            raise ValueError(f"act_type must be one of {', '.join(ACTIVATIONS)}; got {act_type!r}")
        self.scale = self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)

    @property
    def multiple(self) -> int:
        return 1

    def forward_unit(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.upscale) + F.interpolate(x, scale_factor=self.upscale, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _from_unit(self.forward_unit(_to_unit(x)))
