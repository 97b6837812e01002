"""Networks for video prediction: a convolutional-GRU predictor and a spatio-temporal (3-D conv) critic."""
from __future__ import annotations

import math

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


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 if stride == 1 else 1), nn.LeakyReLU(0.2))


def shift_stack(frame: torch.Tensor, radius: int) -> torch.Tensor:
    """``frame`` (B, C, H, W) -> (B, C, D, H, W): the frame shifted by every whole-pixel displacement within
    ``radius`` (D = (2 radius + 1)^2, row-major over dy then dx; edges repeated). Entry d at pixel p is the
    frame at p + (dy, dx)."""
    b, c, h, w = frame.shape
    k = 2 * radius + 1
    padded = nn.functional.pad(frame, (radius,) * 4, mode="replicate")
    return nn.functional.unfold(padded, k).view(b, c, k * k, h, w)


def warp(frame: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``frame`` (B, C, H, W) sampled at each pixel minus ``flow`` (B, 2, H, W; x then y, in pixels): the frame's
    content moved by ``flow`` (backward warping, bilinear, edges repeated)."""
    b, _, h, w = frame.shape
    ys = torch.linspace(-1, 1, h, device=frame.device, dtype=flow.dtype)
    xs = torch.linspace(-1, 1, w, device=frame.device, dtype=flow.dtype)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)            # (H, W, 2): x, y
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=frame.device, dtype=flow.dtype)
    grid = base[None] - flow.permute(0, 2, 3, 1) * scale
    return nn.functional.grid_sample(frame, grid.to(frame.dtype), mode="bilinear", padding_mode="border",
                                     align_corners=True)


@register
class VideoUNetPredictor(nn.Module):
    """Frames (B, k, C, H, W) in [-1, 1] -> the next ``n`` frames (B, n, C, H, W).

    At each step a U-Net (``levels`` halvings, so its receptive field spans a 32-pixel frame) reads the last
    ``window`` frames (the context, then its own predictions) stacked along channels and outputs a motion
    field and a change: the next frame is ``warp(last frame, motion) + change``. Moving the last frame keeps
    shapes sharp as they travel; the change paints what motion cannot explain (a shape appearing, overlaps).
    Motion is at most ``max_motion`` x the frame side per step. Noise ``z`` enters at the coarsest level, so
    one context can have several futures when trained with a best-of-K loss.

    ``motion="kernels"`` replaces the motion field by a per-pixel choice among whole-pixel displacements within
    ``radius`` (a softmax over (2 radius + 1)^2 of them: the DNA predictor of Finn et al. 2016): a confident
    choice moves content without the blur that repeated bilinear resampling adds, every displacement gets a
    gradient (a flow field only learns from content it already overlaps), and an unsure choice is a mixture of
    sharp copies, not a smear.
    """

    def __init__(self, channels: int = 1, width: int = 16, z_dim: int = 16, window: int = 4, levels: int = 3,
                 max_motion: float = 0.125, motion: str = "flow", radius: int = 4):
        super().__init__()
        self.max_motion = max_motion
        if levels < 1 or window < 1:
            raise ValueError(f"levels and window must be positive, got {levels}, {window}")
        if motion not in ("flow", "kernels") or radius < 1:
            raise ValueError(f"motion must be flow or kernels and radius positive, got {motion!r}, {radius}")
        self.motion, self.radius = motion, radius
        self.channels, self.z_dim, self.window, self.levels = channels, z_dim, window, levels
        widths = [width * min(2 ** i, 4) for i in range(levels + 1)]
        self.inp = nn.Sequential(_conv(channels * window, widths[0]), _conv(widths[0], widths[0]))
        self.down = nn.ModuleList(nn.Sequential(_conv(widths[i], widths[i + 1], 4, 2), _conv(widths[i + 1], widths[i + 1]))
                                  for i in range(levels))
        self.z_proj = nn.Linear(z_dim, widths[-1])
        self.up = nn.ModuleList(nn.Sequential(_conv(widths[i + 1] + widths[i], widths[i]), _conv(widths[i], widths[i]))
                                for i in reversed(range(levels)))
        moves = 2 if motion == "flow" else (2 * radius + 1) ** 2
        self.head = nn.Conv2d(widths[0], moves + channels, 3, 1, 1)
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.zeros_(self.head.bias)
        if motion == "kernels":
            with torch.no_grad():   # freshly built: mostly the last frame, as the zero flow gives
                self.head.bias[moves // 2] = math.log(moves) + 2.0

    def step(self, frames: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """The frame after ``frames`` (B, window, C, H, W)."""
        last = frames[:, -1]
        h = self.inp(frames.flatten(1, 2))
        skips = []
        for down in self.down:
            skips.append(h)
            h = down(h)
        if z is not None:
            h = h + self.z_proj(z)[:, :, None, None]
        for up in self.up:
            skip = skips.pop()
            h = up(torch.cat([nn.functional.interpolate(h, size=skip.shape[-2:], mode="nearest"), skip], 1))
        out = self.head(h)
        if self.motion == "kernels":
            moves = (2 * self.radius + 1) ** 2
            weights = torch.softmax(out[:, :moves].float(), 1).to(last.dtype)
            moved = (shift_stack(last, self.radius) * weights[:, None]).sum(2)
            return moved + 2 * torch.tanh(out[:, moves:])
        # motion is bounded (a fraction of the frame side per step): unbounded, the easiest way to lower the
        # loss early on is to sample the empty border from far away, and training collapses to blank frames
        bound = self.max_motion * last.shape[-1]
        flow = bound * torch.tanh(out[:, :2] / bound)
        # the change is added (no mask): a mask that learns early to paint blank frames saturates, and then
        # the motion gets no gradient at all
        return warp(last, flow) + 2 * torch.tanh(out[:, 2:])

    def forward(self, context: torch.Tensor, n: int, z: torch.Tensor | None = None,
                truth: torch.Tensor | None = None, keep: torch.Tensor | None = None) -> torch.Tensor:
        """``truth`` (B, n, C, H, W) and ``keep`` (B, n) bool (training only): where ``keep`` is set, the true
        frame instead of the prediction is fed back for the next step (teacher forcing)."""
        frames = list(context.unbind(1))
        while len(frames) < self.window:          # fewer context frames than the window: repeat the first
            frames.insert(0, frames[0])
        out = []
        for i in range(n):
            nxt = self.step(torch.stack(frames[-self.window:], 1), z)
            # training scores the unclamped frames (a clamp would stop the gradient of a frame that
            # overshoots); what is fed back and what a trained model returns stays in [-1, 1]
            out.append(nxt if self.training else nxt.clamp(-1, 1))
            fed = nxt.clamp(-1, 1)
            if keep is not None and truth is not None:
                fed = torch.where(keep[:, i, None, None, None], truth[:, i].to(fed.dtype), fed)
            frames.append(fed)
        return torch.stack(out, 1)
