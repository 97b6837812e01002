"""Networks for video prediction: a convolutional-GRU predictor and a spatio-temporal (3-D conv) critic."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import spectral_norm
from .registry import register


@register
class ConvGRUCell(nn.Module):
    def __init__(self, in_ch: int, hidden: int, k: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_ch + hidden, 2 * hidden, k, padding=k // 2)
        self.cand = nn.Conv2d(in_ch + hidden, hidden, k, padding=k // 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r, u = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        c = torch.tanh(self.cand(torch.cat([x, r * h], 1)))
        return (1 - u) * h + u * c


@register
class VideoPredictorNet(nn.Module):
    """Frames (B, k, C, H, W) in [-1, 1] -> the next ``n`` frames (B, n, C, H, W).

    Each frame is encoded to H/4 x W/4 features, a ConvGRU runs over the context and then over its own
    predictions (autoregressive). The decoder predicts a change of the last frame plus a mask (as in
    CDNA-style predictors), so static parts are copied sharply; the noise ``z`` enters the state.
    """

    def __init__(self, channels: int = 1, width: int = 32, z_dim: int = 16):
        super().__init__()
        w = width
        self.z_dim = z_dim
        self.enc = nn.Sequential(nn.Conv2d(channels, w, 3, 1, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(w, w * 2, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(w * 2, w * 2, 4, 2, 1), nn.LeakyReLU(0.2))
        self.cell = ConvGRUCell(w * 2, w * 2)
        self.z_proj = nn.Linear(z_dim, w * 2)
        self.dec = nn.Sequential(nn.ConvTranspose2d(w * 4, w * 2, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.ConvTranspose2d(w * 2, w, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(w + channels, channels + 1, 3, 1, 1))

    def _frame(self, h: torch.Tensor, skip: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        y = self.dec[:4](torch.cat([h, skip], 1))
        out = self.dec[4](torch.cat([y, last], 1))
        pix, mask = torch.tanh(out[:, :-1]), torch.sigmoid(out[:, -1:])
        return mask * pix + (1 - mask) * last

    def forward(self, context: torch.Tensor, n: int, z: torch.Tensor | None = None) -> torch.Tensor:
        b, k = context.shape[:2]
        feats = self.enc(context.flatten(0, 1)).unflatten(0, (b, k))
        h = torch.zeros_like(feats[:, 0])
        if z is not None:
            h = h + self.z_proj(z)[:, :, None, None]
        for t in range(k):
            h = self.cell(feats[:, t], h)
        last, f = context[:, -1], feats[:, -1]
        out = []
        for _ in range(n):
            frame = self._frame(h, f, last)
            out.append(frame)
            f = self.enc(frame)
            h = self.cell(f, h)
            last = frame
        return torch.stack(out, 1)


@register
class VideoCritic(nn.Module):
    """Whole clips (B, T, C, H, W) -> one logit per clip, from 3-D convolutions over time and space."""

    def __init__(self, channels: int = 1, width: int = 32):
        super().__init__()
        w = width
        sn = spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv3d(channels, w, (3, 4, 4), (1, 2, 2), (1, 1, 1))), nn.LeakyReLU(0.2),
            sn(nn.Conv3d(w, w * 2, (3, 4, 4), (2, 2, 2), (1, 1, 1))), nn.LeakyReLU(0.2),
            sn(nn.Conv3d(w * 2, w * 4, (3, 4, 4), (2, 2, 2), (1, 1, 1))), nn.LeakyReLU(0.2),
            sn(nn.Conv3d(w * 4, 1, (3, 3, 3), 1, 1)))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.net(clip.transpose(1, 2)).flatten(1).mean(1)
