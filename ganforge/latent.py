"""Latent-space paths: spherical interpolation and looping walks."""
from __future__ import annotations

import torch


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent batches ``a`` and ``b`` (rows), ``t`` in [0, 1].

    Gaussian latents concentrate on a shell; slerp stays on it where a straight line would cut
    through low-density space near the origin.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    a_n = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b_n = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    near = (omega < 1e-4).expand_as(out)
    return torch.where(near, (1 - t) * a + t * b, out)


def looping_walk(z_dim: int, walks: int = 16, keys: int = 4, frames_per_key: int = 12, seed: int = 0
                 ) -> torch.Tensor:
    """Latents of shape [frames, walks, z_dim]: each walk visits ``keys`` points and returns to the first."""
    gen = torch.Generator().manual_seed(seed)
    points = torch.randn(keys, walks, z_dim, generator=gen)
    frames = []
    for k in range(keys):
        a, b = points[k], points[(k + 1) % keys]
        for i in range(frames_per_key):
            frames.append(slerp(a, b, i / frames_per_key))
    return torch.stack(frames)
