"""Networks for text-to-image (DF-GAN class, small): a word-level GRU text encoder and an image encoder
trained together on real pairs (:class:`TextImageEncoder`, DAMSM/CLIP-style), a generator whose blocks are
modulated by the sentence embedding (deep fusion: FiLM after each normalisation), and a projection
discriminator that judges image and sentence together (matching-aware).

:class:`TextToImageDiscriminator` (the text encoder inside, the sentence tiled and concatenated) is the
design of model files written before 0.x: they still load."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm
from .conditional import projection
from .registry import register

PAD, UNK = 0, 1


@register
class TextEncoder(nn.Module):
    """Token ids (B, L) with 0 = padding -> sentence embeddings (B, dim): a bidirectional GRU, mean-pooled.

    With ``word_dim``, the words start from fixed pretrained vectors (the ``vectors`` buffer, filled by
    :meth:`set_vectors`) and ``embed`` learns an offset to them (zero at first for the words the vectors
    know, random for the others)."""

    def __init__(self, vocab: int, dim: int = 64, word_dim: int | None = None):
        super().__init__()
        self.embed = nn.Embedding(vocab, word_dim or dim, padding_idx=PAD)
        if word_dim:
            self.register_buffer("vectors", torch.zeros(vocab, word_dim))
        self.gru = nn.GRU(word_dim or dim, dim // 2, batch_first=True, bidirectional=True)

    @torch.no_grad()
    def set_vectors(self, vectors: torch.Tensor, known: torch.Tensor) -> None:
        """Pretrained vectors (vocab, word_dim); ``known`` (vocab,) bool marks the rows the file gave."""
        self.vectors.copy_(vectors)
        self.embed.weight.mul_((~known[:, None]).float()).mul_(float(vectors[known].std()) if known.any() else 1.0)
        self.embed.weight[PAD] = 0

    def words(self, tokens: torch.Tensor) -> torch.Tensor:
        e = self.embed(tokens)
        return e + F.embedding(tokens, self.vectors) if hasattr(self, "vectors") else e

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens != PAD).float()[..., None]
        h, _ = self.gru(self.words(tokens))
        return (h * mask).sum(1) / mask.sum(1).clamp_min(1.0)


@register
class TextImageEncoder(nn.Module):
    """A sentence encoder and an image encoder into one space, trained on real (image, caption) pairs with
    a contrastive loss (DAMSM in AttnGAN, CLIP): ``forward(tokens)`` gives sentence embeddings for the
    generator and the discriminator, ``image(x)`` image embeddings, ``scale`` the learnt logit scale.
    The image encoder has no batch norm: it also reads generated images (the generator's matching loss)."""

    def __init__(self, vocab: int, text_dim: int = 64, width: int = 32, size: int = 32, channels: int = 3,
                 word_dim: int | None = None):
        super().__init__()
        self.text = TextEncoder(vocab, text_dim, word_dim)
        downs = {16: 2, 32: 3, 64: 4}[size]
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        c = width
        for i in range(downs):
            c_out = width * 2 ** i
            layers += [nn.Conv2d(c, c_out, 4, 2, 1), nn.LeakyReLU(0.2)]
            c = c_out
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 16, text_dim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text(tokens)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.float().clamp(0.0, math.log(100.0)).exp()


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
class TextProjectionDiscriminator(nn.Module):
    """Image features down to 4x4, then a position-aware feature vector ``phi``; the logit is
    ``psi(phi) + <W sentence, phi>`` (the projection discriminator, with a sentence for a class), so that
    every attribute the sentence carries acts on the logit directly. Spectral norm throughout."""

    def __init__(self, text_dim: int = 64, width: int = 32, size: int = 32, channels: int = 3):
        super().__init__()
        downs = {16: 2, 32: 3, 64: 4}[size]
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, width, 3, 1, 1)), nn.LeakyReLU(0.2)]
        c = width
        for i in range(downs):
            c_out = width * 2 ** i
            layers += [spectral_norm(nn.Conv2d(c, c_out, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c = c_out
        layers += [spectral_norm(nn.Conv2d(c, 2 * c, 4, 1, 0)), nn.LeakyReLU(0.2), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.out = spectral_norm(nn.Linear(2 * c, 1))
        self.embed = spectral_norm(nn.Linear(text_dim, 2 * c, bias=False))

    def forward(self, x: torch.Tensor, sentence: torch.Tensor, *more: torch.Tensor) -> torch.Tensor:
        """Logits (B,) for images ``x`` with ``sentence``; with ``more`` sentences, one logit row per
        sentence (1 + len(more), B) from a single pass over the images."""
        phi = self.body(x)
        out = self.out(phi)
        rows = [projection(out, phi, self.embed(s.to(phi.dtype))).flatten() for s in (sentence, *more)]
        return torch.stack(rows) if more else rows[0]


@register
class TextToImageDiscriminator(nn.Module):
    """Image features down to 4x4, joined with the sentence (tiled) for a matching-aware logit (the design
    of earlier model files; new runs use :class:`TextProjectionDiscriminator` and :class:`TextImageEncoder`).

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
