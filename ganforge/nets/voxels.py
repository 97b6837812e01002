"""3D-GAN networks (Wu et al. 2016) at 32^3: transposed 3-D convolutions up, strided 3-D convolutions down; and
the parts of a latent GAN (Achlioptas et al. 2018): an autoencoder of grids, and a GAN on its codes.

Both networks take an optional class index: the generator adds a class embedding to the latent, the
discriminator adds a projection term (Miyato & Koyama 2018). ``features`` exposes D's pooled features.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import spectral_norm
from .conditional import projection
from .registry import register


@register
class VoxelGenerator(nn.Module):
    def __init__(self, z_dim: int = 64, width: int = 16, resolution: int = 32, classes: int = 0):
        super().__init__()
        if resolution not in (32, 64):
            raise ValueError(f"resolution must be 32 or 64, got {resolution}")
        self.z_dim, self.classes = z_dim, classes
        ups = 3 if resolution == 32 else 4
        ch = [width * 2 ** (ups - i) for i in range(ups + 1)]     # e.g. 128, 64, 32, 16
        self.embed = nn.Embedding(classes, z_dim) if classes else None
        self.fc = nn.Linear(z_dim, ch[0] * 4 ** 3)
        self.c0 = ch[0]
        layers: list[nn.Module] = [nn.BatchNorm3d(ch[0]), nn.ReLU()]
        for i in range(ups - 1):
            layers += [nn.ConvTranspose3d(ch[i], ch[i + 1], 4, 2, 1, bias=False), nn.BatchNorm3d(ch[i + 1]), nn.ReLU()]
        layers += [nn.ConvTranspose3d(ch[ups - 1], 1, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None and labels is not None:
            z = z + self.embed(labels)
        return self.net(self.fc(z).view(-1, self.c0, 4, 4, 4))[:, 0]


@register
class VoxelDiscriminator(nn.Module):
    def __init__(self, width: int = 16, resolution: int = 32, classes: int = 0):
        super().__init__()
        downs = 3 if resolution == 32 else 4
        ch = [width * 2 ** i for i in range(downs)]
        layers: list[nn.Module] = []
        c_in = 1
        for c in ch:
            layers += [spectral_norm(nn.Conv3d(c_in, c, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.out = spectral_norm(nn.Linear(c_in, 1))
        self.embed = spectral_norm(nn.Embedding(classes, c_in)) if classes else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, R, R, R) in [-1, 1] -> (B, F) pooled features."""
        return self.body(x[:, None]).sum(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return _logit(self, self.features(x), labels)


# ------------------------------------------------------------------ latent GAN (Achlioptas et al. 2018)
@register
class VoxelAutoencoder(nn.Module):
    """A 3-D convolutional autoencoder: grid [B, R, R, R] in [-1, 1] -> code [B, code] (linear: a tanh
    bottleneck saturates and stalls learning) -> occupancy logits [B, R, R, R]. No normalisation layers, so a
    code decodes the same alone or in a batch."""

    def __init__(self, width: int = 16, resolution: int = 32, code: int = 64):
        super().__init__()
        if resolution not in (32, 64):
            raise ValueError(f"resolution must be 32 or 64, got {resolution}")
        steps = 3 if resolution == 32 else 4
        ch = [width * 2 ** i for i in range(steps)]                  # e.g. 16, 32, 64
        enc: list[nn.Module] = []
        c_in = 1
        for c in ch:
            enc += [nn.Conv3d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in = c
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(ch[-1] * 4 ** 3, code))
        self.c0 = ch[-1]
        self.fc = nn.Linear(code, ch[-1] * 4 ** 3)
        dec: list[nn.Module] = [nn.ReLU()]
        for c_in, c in zip(ch[::-1], ch[::-1][1:]):
            dec += [nn.ConvTranspose3d(c_in, c, 4, 2, 1), nn.ReLU()]
        dec.append(nn.ConvTranspose3d(ch[0], 1, 4, 2, 1))
        self.decoder = nn.Sequential(*dec)
        # running mean and spread of the codes: the latent GAN works on standardised codes, whose scale does not
        # drift while the autoencoder trains
        self.register_buffer("code_mean", torch.zeros(code))
        self.register_buffer("code_std", torch.ones(code))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x[:, None])

    @torch.no_grad()
    def track(self, code: torch.Tensor, momentum: float = 0.02) -> None:
        """Update the running code statistics with a batch of codes."""
        self.code_mean.lerp_(code.mean(0).to(self.code_mean.dtype), momentum)
        self.code_std.lerp_(code.std(0).clamp_min(1e-4).to(self.code_std.dtype), momentum)

    def standardise(self, code: torch.Tensor) -> torch.Tensor:
        return (code - self.code_mean) / self.code_std

    def decode_standardised(self, s: torch.Tensor) -> torch.Tensor:
        """Standardised codes (the latent GAN's) -> occupancy logits."""
        return self.decode(s * self.code_std + self.code_mean)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Codes -> occupancy logits (occupied where > 0)."""
        return self.decoder(self.fc(code).view(-1, self.c0, 4, 4, 4))[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


@register
class LatentGenerator(nn.Module):
    """noise [B, z_dim] (+ class) -> a standardised code [B, code]: the generator of a latent GAN."""

    def __init__(self, z_dim: int = 64, code: int = 64, hidden: int = 256, classes: int = 0):
        super().__init__()
        self.z_dim, self.classes = z_dim, classes
        self.embed = nn.Embedding(classes, z_dim) if classes else None
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, code))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None and labels is not None:
            z = z + self.embed(labels)
        return self.net(z)


@register
class LatentCritic(nn.Module):
    """standardised code [B, code] (+ class, by projection) -> a logit [B]: the discriminator of a latent GAN."""

    def __init__(self, code: int = 64, hidden: int = 256, classes: int = 0):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(code, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                  nn.LeakyReLU(0.2))
        self.out = nn.Linear(hidden, 1)
        self.embed = nn.Embedding(classes, hidden) if classes else None

    def forward(self, c: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return _logit(self, self.body(c), labels)


def _logit(net: nn.Module, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """A critic's logit [B] from its features ``h``: ``net.out(h)``, plus the class projection when it has one."""
    out = net.out(h)
    if net.embed is not None and labels is not None:
        out = projection(out, h, net.embed(labels))
    return out[:, 0]
