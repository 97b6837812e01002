"""Raw pixels as features: images shrunk to ``side`` x ``side`` RGB and flattened, in [-1, 1].

No learning and no weights: a fast, dependency-free stand-in for tests and smoke runs. Distances in
pixel space say little about image quality; do not report FIDs computed on it as FIDs.
"""
from __future__ import annotations

import hashlib

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_SIDE = 8


class PixelFeatures(nn.Module):
    def __init__(self, side: int = DEFAULT_SIDE):
        super().__init__()
        self.side = side

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        x = x.float()
        if x.shape[-1] != self.side or x.shape[-2] != self.side:
            x = F.interpolate(x, size=(self.side, self.side), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.side)
        return (x * 2 - 1).flatten(1), None


def checksum(side: int) -> str:
    return hashlib.sha256(f"ganforge-pixels:rgb:{side}".encode()).hexdigest()[:16]
