"""Inference on images of any size: pad to what the network needs, or run overlapping tiles.

Tiles overlap and are blended with raised-cosine weights (1 inside, falling smoothly to 0 across the
overlap on every side that has a neighbour), then divided by the summed weights: for a convolutional
network the result equals the untiled output up to the network's border effects, without seams.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

Net = Callable[[torch.Tensor], torch.Tensor]


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad NCHW ``x`` at the bottom/right to ``height`` x ``width`` by mirroring (replicating when tiny)."""
    ph, pw = height - x.shape[2], width - x.shape[3]
    if ph <= 0 and pw <= 0:
        return x
    ph, pw = max(ph, 0), max(pw, 0)
    if ph < x.shape[2] and pw < x.shape[3]:
        return F.pad(x, (0, pw, 0, ph), mode="reflect")
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def _round_up(n: int, m: int) -> int:
    return int(math.ceil(n / m) * m)


def run_padded(net: Net, x: torch.Tensor, scale: int = 1, multiple: int = 1) -> torch.Tensor:
    """``net(x)`` for any size: pad to a multiple of ``multiple``, run once, crop the output."""
    h, w = x.shape[2:]
    y = net(pad_to(x, _round_up(h, multiple), _round_up(w, multiple)))
    return y[:, :, : h * scale, : w * scale]


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _ramp(n: int, overlap: int, left: bool, right: bool) -> torch.Tensor:
    """Weights along one side of a tile: on the sides with a neighbour, zero over the first quarter of
    ``overlap`` (where zero padding inside the network disturbs the tile's output), then a raised cosine
    rising to 1 over the rest."""
    w = torch.ones(n, dtype=torch.float32)
    k = min(overlap, n // 2)
    if k > 0:
        m = k // 4
        rise = torch.zeros(k, dtype=torch.float32)
        rise[m:] = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(k - m, dtype=torch.float32) + 0.5) / (k - m))
        if left:
            w[:k] = rise
        if right:
            w[n - k:] = rise.flip(0)
    return w


def run_tiled(net: Net, x: torch.Tensor, tile: int | None, overlap: int | None = None, scale: int = 1,
              multiple: int = 1) -> torch.Tensor:
    """Apply ``net`` (N C H W -> N C' sH sW) to ``x`` in overlapping ``tile`` x ``tile`` windows.

    ``tile`` None, or an image no larger than one tile, runs in one piece. ``overlap`` defaults to a
    quarter of the tile. Tiles are rounded down to ``multiple`` (the network's size granularity).
    """
    h, w = x.shape[2:]
    if tile is None or (h <= tile and w <= tile):
        return run_padded(net, x, scale, multiple)
    tile = max(multiple, tile // multiple * multiple)
    overlap = tile // 4 if overlap is None else overlap
    overlap = max(0, min(overlap, tile // 2))
    stride = max(1, tile - overlap)
    H, W = max(h, tile), max(w, tile)
    xp = pad_to(x, H, W)
    out = None
    weight = torch.zeros(1, 1, H * scale, W * scale, dtype=torch.float32, device=x.device)
    ys, xs = _starts(H, tile, stride), _starts(W, tile, stride)
    for y0 in ys:
        wy = _ramp(tile * scale, overlap * scale, y0 > 0, y0 + tile < H)
        for x0 in xs:
            wx = _ramp(tile * scale, overlap * scale, x0 > 0, x0 + tile < W)
            piece = net(xp[:, :, y0:y0 + tile, x0:x0 + tile]).float()
            if out is None:
                out = torch.zeros(piece.shape[0], piece.shape[1], H * scale, W * scale, device=x.device)
            wt = (wy[:, None] * wx[None, :]).to(x.device)
            sl = (slice(None), slice(None), slice(y0 * scale, (y0 + tile) * scale), slice(x0 * scale, (x0 + tile) * scale))
            out[sl] += piece * wt
            weight[sl] += wt
    out = out / weight
    return out[:, :, : h * scale, : w * scale]
