"""Convolutional encoders and decoders for image-to-code-to-image tasks (anomaly detection, purification).

``ConvEncoder`` halves the side with 4x4 stride-2 convolutions down to 4x4, then a 4x4 valid convolution
gives a ``z_dim`` code; ``ConvDecoder`` mirrors it (DCGAN generator shape). ``GanomalyGenerator`` is
GANomaly's encoder -> decoder -> encoder (Akcay et al. 2018); ``FeatureDiscriminator`` returns its logit
and the features before the head (for feature matching); ``PatchDiscriminator`` (the small layout of :class:`unet.PatchDiscriminator`) takes any side; ``UNetPurifier`` is a small residual
encoder-decoder that maps an image to a cleaned copy of itself (APE-GAN class generator).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import unet
from .dcgan import init_weights, widths
from .registry import register


@register
class ConvEncoder(nn.Module):
    def __init__(self, size: int = 32, channels: int = 1, width: int = 32, z_dim: int = 100, norm: bool = True):
        super().__init__()
        ch = list(reversed(widths(size, width)))  # size/2 ... 4x4
        layers: list[nn.Module] = [nn.Conv2d(channels, ch[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
            if norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, True))
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(ch[-1], z_dim, 4, 1, 0, bias=False)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).flatten(1)


@register
class ConvDecoder(nn.Module):
    def __init__(self, size: int = 32, channels: int = 1, width: int = 32, z_dim: int = 100):
        super().__init__()
        ch = widths(size, width)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch[0], 4, 1, 0, bias=False), nn.BatchNorm2d(ch[0]),
                                   nn.ReLU(True)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


@register
class GanomalyGenerator(nn.Module):
    """x -> z = E1(x) -> x_hat = Dec(z) -> z_hat = E2(x_hat); ``forward`` returns (x_hat, z, z_hat).

    With ``second_encoder`` False it is a plain autoencoder and z_hat is z (the baseline of the same size).
    """

    def __init__(self, size: int = 32, channels: int = 1, width: int = 32, z_dim: int = 100,
                 second_encoder: bool = True):
        super().__init__()
        self.encoder = ConvEncoder(size, channels, width, z_dim)
        self.decoder = ConvDecoder(size, channels, width, z_dim)
        self.encoder2 = ConvEncoder(size, channels, width, z_dim) if second_encoder else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        x_hat = self.decoder(z)
        z_hat = self.encoder2(x_hat) if self.encoder2 is not None else z
        return x_hat, z, z_hat


@register
class FeatureDiscriminator(nn.Module):
    """Real/fake logit plus the 4x4 feature map before the head; no batch norm (per-sample critic)."""

    def __init__(self, size: int = 32, channels: int = 1, width: int = 32):
        super().__init__()
        self.body = ConvEncoder(size, channels, width, z_dim=1, norm=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body.features(x)
        return self.body.head(f).flatten(1), f

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """One vector per image: every stage's activations average-pooled to 2x2, each stage's part scaled to
        unit length (so that no stage dominates), concatenated; 4 x (w + 2w + ...) values."""
        parts, h = [], x
        for layer in self.body.features:
            h = layer(h)
            if isinstance(layer, nn.LeakyReLU):
                parts.append(nn.functional.normalize(nn.functional.adaptive_avg_pool2d(h.float(), 2).flatten(1), dim=1))
        return torch.cat(parts, 1)


def PatchDiscriminator(channels: int = 1, width: int = 32) -> unet.PatchDiscriminator:
    """The small PatchGAN of anomaly, purifier and blend (any input side >= 8): three stride-2 convolutions,
    a 3x3 convolution to one map, averaged to a logit. It is :class:`ganforge.nets.unet.PatchDiscriminator`
    (the one PatchGAN) in this layout; its state-dict keys are those of format 1 files (net.0, net.2, net.4,
    net.6)."""
    return unet.PatchDiscriminator(**small_patch_kwargs(channels, width))


def small_patch_kwargs(channels: int = 1, width: int = 32) -> dict:
    """Keyword arguments of :class:`ganforge.nets.unet.PatchDiscriminator` for the small layout (a format 1
    file's ``{"channels": c, "width": w}`` maps to ``{"class": "unet.PatchDiscriminator", **small_patch_kwargs(c, w)}``)."""
    return dict(in_channels=channels, width=width, layers=2, norm="none", last_stride=2, head_kernel=3,
                average=True, dcgan_init=True)


@register
class UNetPurifier(nn.Module):
    """Two stride-2 downsamplings, two upsamplings with skip connections, output = x + residual clipped to
    [-1, 1]. Small on purpose: it must run before every classification. ``extra_inputs`` channels (e.g. a
    mask) may follow the image's ``channels`` in the input; the output has ``channels``."""

    def __init__(self, channels: int = 1, width: int = 32, extra_inputs: int = 0):
        super().__init__()
        w = width
        self.channels = channels
        act = lambda: nn.LeakyReLU(0.2, True)  # noqa: E731
        self.d1 = nn.Sequential(nn.Conv2d(channels + extra_inputs, w, 3, 1, 1), act())
        self.d2 = nn.Sequential(nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), act())
        self.d3 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), act())
        self.u2 = nn.Sequential(nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(True))
        self.u1 = nn.Sequential(nn.ConvTranspose2d(4 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(True))
        self.out = nn.Conv2d(2 * w, channels, 3, 1, 1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = self.d1(x)
        h2 = self.d2(h1)
        h3 = self.d3(h2)
        u2 = self.u2(h3)
        u1 = self.u1(torch.cat([u2, h2], 1))
        return torch.clamp(x[:, :self.channels] + self.out(torch.cat([u1, h1], 1)), -1.0, 1.0)


@register
class ColourBlendNet(nn.Module):
    """The blending network of the GP-GAN class blender, at low resolution: from the composite (``channels``)
    and its mask (one more channel, in [-1, 1]) an encoder predicts a per-channel gain and offset that
    re-colour the pasted region to sit in its new surroundings; outside the mask the composite is kept.
    Global by design (the encoder sees the whole picture): colour mismatch is a low-frequency, image-wide
    property, and the Gaussian-Poisson solve adds the detail back."""

    def __init__(self, size: int = 64, channels: int = 3, width: int = 32):
        super().__init__()
        self.channels = channels
        self.encoder = ConvEncoder(size, channels + 1, width, z_dim=4 * width)
        self.head = nn.Sequential(nn.LeakyReLU(0.2, True), nn.Linear(4 * width, 2 * channels))
        nn.init.zeros_(self.head[1].weight)
        nn.init.zeros_(self.head[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        comp, mask = x[:, :self.channels], (x[:, self.channels:self.channels + 1] + 1) / 2
        p = self.head(self.encoder(x)).view(-1, 2, self.channels, 1, 1)
        gain, offset = torch.exp(p[:, 0]), p[:, 1]
        recoloured = ((comp + 1) / 2 * gain + offset) * 2 - 1
        return torch.clamp(mask * recoloured + (1 - mask) * comp, -1.0, 1.0)


@register
class FeatureBank(nn.Module):
    """Feature vectors of normal training images (a buffer, stored in half precision) and the k-nearest-
    neighbour distance of new feature vectors to them: ``forward(f)`` -> mean Euclidean distance to the
    ``k`` nearest stored vectors (one value per row of ``f``)."""

    def __init__(self, n: int = 1, dim: int = 1, k: int = 1):
        super().__init__()
        self.k = k
        self.register_buffer("features", torch.zeros(n, dim, dtype=torch.float16))

    def forward(self, f: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
        bank = self.features.float()
        b2 = (bank * bank).sum(1)
        k = min(self.k, bank.shape[0])
        out = []
        for s in range(0, f.shape[0], chunk):
            q = f[s:s + chunk].float()
            d2 = (q * q).sum(1, keepdim=True) + b2[None] - 2 * q @ bank.T
            out.append(d2.clamp_min(0).topk(k, dim=1, largest=False).values.sqrt().mean(1))
        return torch.cat(out) if out else f.new_zeros((0,))
