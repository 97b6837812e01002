"""Networks for text-to-image (DF-GAN class, small): a word-level GRU text encoder, a generator whose
blocks are modulated by the sentence embedding (deep fusion: FiLM after each normalisation), and a
discriminator that judges image and sentence together (matching-aware)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm
from .registry import register

PAD, UNK = 0, 1


@register
class TextEncoder(nn.Module):
    """Token ids (B, L) with 0 = padding -> sentence embeddings (B, dim): a bidirectional GRU, mean-pooled."""

    def __init__(self, vocab: int, dim: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=PAD)
        self.gru = nn.GRU(dim, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens != PAD).float()[..., None]
        h, _ = self.gru(self.embed(tokens))
        return (h * mask).sum(1) / mask.sum(1).clamp_min(1.0)


@register
class FusionBlock(nn.Module):
    """Upsample, conv, norm, then scale and shift from the sentence (twice), with a shortcut."""

    def __init__(self, c_in: int, c_out: int, cond: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.norm1, self.norm2 = nn.BatchNorm2d(c_out, affine=False), nn.BatchNorm2d(c_out, affine=False)
        self.film1, self.film2 = nn.Linear(cond, 2 * c_out), nn.Linear(cond, 2 * c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    @staticmethod
    def _mod(x, film, c):
        g, b = film(c).chunk(2, 1)
        return x * (1 + g[..., None, None]) + b[..., None, None]

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = F.leaky_relu(self._mod(self.norm1(self.conv1(x)), self.film1, c), 0.2)
        h = F.leaky_relu(self._mod(self.norm2(self.conv2(h)), self.film2, c), 0.2)
        return h + self.skip(x)


@register
class TextToImageGenerator(nn.Module):
    def __init__(self, z_dim: int = 64, text_dim: int = 64, width: int = 32, size: int = 32, channels: int = 3):
        super().__init__()
        ups = {16: 2, 32: 3, 64: 4}[size]
        ch = [width * 2 ** (ups - 1 - i) if i < ups else width for i in range(ups + 1)]
        cond = z_dim + text_dim
        self.fc = nn.Linear(cond, ch[0] * 16)
        self.c0 = ch[0]
        self.blocks = nn.ModuleList(FusionBlock(ch[i], ch[i + 1], cond) for i in range(ups))
        self.out = nn.Conv2d(ch[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        c = torch.cat([z, sentence], 1)
        x = self.fc(c).view(-1, self.c0, 4, 4)
        for b in self.blocks:
            x = b(x, c)
        return torch.tanh(self.out(F.leaky_relu(x, 0.2)))


@register
class TextToImageDiscriminator(nn.Module):
    """Image features down to 4x4, joined with the sentence (tiled) for a matching-aware logit.

    The text encoder lives here, so the discriminator's loss trains it: matching captions must score
    higher than mismatched ones on real images.
    """

    def __init__(self, vocab: int, text_dim: int = 64, width: int = 32, size: int = 32, channels: int = 3):
        super().__init__()
        self.encoder = TextEncoder(vocab, text_dim)
        downs = {16: 2, 32: 3, 64: 4}[size]
        layers: list[nn.Module] = []
        c = channels
        for i in range(downs):
            c_out = width * 2 ** i
            layers += [spectral_norm(nn.Conv2d(c, c_out, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c = c_out
        self.body = nn.Sequential(*layers)
        self.joint = nn.Sequential(spectral_norm(nn.Conv2d(c + text_dim, c, 3, 1, 1)), nn.LeakyReLU(0.2),
                                   spectral_norm(nn.Conv2d(c, 1, 4, 1, 0)))

    def forward(self, x: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        s = sentence[..., None, None].expand(-1, -1, h.shape[2], h.shape[3]).to(h.dtype)
        return self.joint(torch.cat([h, s], 1)).flatten(1).mean(1)
