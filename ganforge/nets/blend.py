"""The relighting-and-matting network of photo blending (``ganforge train blend --net field``).

From the source, the destination and the mask at a low resolution, a U-Net predicts what the source needs
to sit in the destination: a smooth relighting (per-channel log-gain, offset and a gamma, on a coarse grid so
they can only carry low frequencies) and a soft matte (which pixels under the mask are the object, and which
are the source's own background, to be left to the destination). The same :meth:`FieldBlendNet.compose`
applies them at the network's resolution (training) and at any photo's resolution (the fields and the matte
are upsampled; the source's detail is kept). A :class:`ColourBlendNet` (the earlier design) predicts one gain
and offset per image instead.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register
from .unet import UNet, default_depth

FIELD_CHANNELS = 8  # matte, log-gain x3, offset x3, log-gamma


@register
class FieldBlendNet(nn.Module):
    """Input [n, 7, size, size] in [-1, 1]: source, destination, mask (1 = pasted); the network also sees the
    log-ratio of destination to source outside the mask. ``grid``: side of the coarse
    grid of the lighting fields (they are averaged over size/grid pixels, then upsampled bilinearly)."""

    def __init__(self, size: int = 64, width: int = 32, grid: int = 8):
        super().__init__()
        self.size, self.grid = size, grid
        self.unet = UNet(10, FIELD_CHANNELS, width=width, depth=default_depth(size), norm="batch")
        last = self.unet.up[-1][-1]  # start from "the source as it is, all of it": zero fields, matte 1
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        with torch.no_grad():
            last.bias[0] = 0.9

    def fields(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """matte [n, 1, size, size] in [0, 1]; log_gain, offset [n, 3, grid, grid]; gamma [n, 1, grid, grid]."""
        src, dst, outside = (x[:, :3] + 1) / 2, (x[:, 3:6] + 1) / 2, (1 - x[:, 6:7]) / 2
        # how the destination's light differs from the source's, where both are seen (outside the mask): a
        # division the network would otherwise have to learn
        ratio = ((dst + 0.02).log() - (src + 0.02).log()).clamp(-3, 3) / 3 * outside
        h = self.unet(torch.cat([x, ratio], 1)).float()  # tanh'd, in [-1, 1]
        coarse = F.adaptive_avg_pool2d(h[:, 1:], self.grid)
        return {"matte": (h[:, :1] + 1) / 2, "log_gain": 1.5 * coarse[:, :3], "offset": 0.5 * coarse[:, 3:6],
                "gamma": torch.exp(0.7 * coarse[:, 6:7])}

    @staticmethod
    def compose(fields: dict[str, torch.Tensor], src: torch.Tensor, dst: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """The blend of ``src`` into ``dst`` (both [n, 3, H, W] in [0, 1]; ``mask`` [n, 1, H, W]) with the
        network's fields brought to H x W; in [0, 1]. Outside the mask it is ``dst``."""
        size = src.shape[-2:]

        def up(t: torch.Tensor) -> torch.Tensor:
            return t if t.shape[-2:] == size else F.interpolate(t, size=size, mode="bilinear", align_corners=False)

        relit = (torch.exp(up(fields["log_gain"])) * src.clamp_min(1e-4) ** up(fields["gamma"])
                 + up(fields["offset"])).clamp(0, 1)
        matte = up(fields["matte"]) * mask
        return matte * relit + (1 - matte) * dst

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The blend at the network's resolution, in [-1, 1] (what the losses see)."""
        src, dst, mask = (x[:, :3] + 1) / 2, (x[:, 3:6] + 1) / 2, (x[:, 6:7] + 1) / 2
        return self.compose(self.fields(x), src, dst, mask) * 2 - 1
