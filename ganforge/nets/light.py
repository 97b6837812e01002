"""FastGAN-class ("light") generator and discriminator for small data sets (Liu, Zhu, Song & Elgammal, "Towards
Faster and Stabilized GAN Training for High-fidelity Few-shot Image Synthesis", ICLR 2021), written from the paper.

Generator: a 4x4 start (transposed convolution, batch norm, GLU), then per resolution a nearest-neighbour 2x
up-sampling, 3x3 convolution, batch norm and GLU (a second convolution at every other stage), and
**skip-layer excitation** (SLE): a low-resolution feature map is pooled to 4x4 and turned into per-channel
gates (4x4 conv, swish, 1x1 conv, sigmoid) that multiply a feature map 8-16 times larger. SLE acts on the last
two stages of 16 px and above, from the stage 16 times smaller (at least 4x4): at 256 px 8 -> 128 and
16 -> 256 as in the paper; at 16 px 4 -> 16. Conditional: the batch norms become class-conditional.

Discriminator: spectrally normalised convolutions, no batch norm (the R1/R2 penalties need a per-sample
critic): a 4x4 stride-2 stem, then residual down blocks (4x4 stride-2 conv + 3x3 conv, beside average pooling
+ 1x1 conv, averaged) down to 4x4, and a 4x4 convolution to one logit; conditional: projection or AC-GAN.
It is also an auto-encoder: two small decoders (nearest up-sampling, 3x3 conv, GLU) reconstruct the whole
input from the 8x8 features and one quarter of it from the matching quarter of the 16x16 features (the 8x8
ones at 16 px), each at most 64 px. The task trains them with a pixel loss on real images
(``forward(x, y, part=q)`` returns the reconstructions too), which forces D to keep a description of the
whole image instead of a few discriminative details: the paper's main defence against overfitting on 100
images. The paper's reconstruction loss is perceptual (a pretrained VGG); ganforge uses an L1 pixel loss,
so nothing pretrained is needed.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from . import register_arch
from .conditional import CondBatchNorm2d, class_output, need_labels
from .r3 import pyramid
from .registry import register

RECON_MAX = 64  # side of the reconstructions at most


def sle_pairs(size: int) -> list[tuple[int, int]]:
    """(source, target) resolutions of the skip-layer excitations of a generator of side ``size``."""
    stages = [r for r in (8, 16, 32, 64, 128, 256) if r <= size]
    return [(max(4, r // 16), r) for r in stages[-2:] if r >= 16]


@register
class SkipExcitation(nn.Module):
    """Channel gates for a large feature map computed from a small one (FastGAN's SLE)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 4, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 1, bias=False)

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        g = F.adaptive_avg_pool2d(small, 4)
        g = torch.sigmoid(self.conv2(F.silu(self.conv1(g))))
        return big * g


class _Norm(nn.Module):
    """Batch norm, class-conditional when ``num_classes``."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = CondBatchNorm2d(channels, num_classes) if num_classes else nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.bn(x, y) if y is not None else self.bn(x)


@register
class LightUp(nn.Module):
    """2x nearest up-sampling, (3x3 conv, norm, GLU) once or twice."""

    def __init__(self, cin: int, cout: int, convs: int = 1, num_classes: int = 0):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(cin if i == 0 else cout, 2 * cout, 3, 1, 1, bias=False)
                                    for i in range(convs)])
        self.norms = nn.ModuleList([_Norm(2 * cout, num_classes) for _ in range(convs)])

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        for conv, norm in zip(self.convs, self.norms):
            x = F.glu(norm(conv(x), y), dim=1)
        return x


@register
class LightGenerator(nn.Module):
    """``G(z)`` / ``G(z, y)`` -> images in [-1, 1], NCHW."""

    def __init__(self, z_dim: int = 128, size: int = 64, channels: int = 3, width: int = 64, num_classes: int = 0,
                 max_width: int | None = None):
        super().__init__()
        self.z_dim, self.num_classes, self.size = z_dim, num_classes, size
        ch = self.ch = pyramid(size, width, max_width)
        self.init = nn.ConvTranspose2d(z_dim, 2 * ch[4], 4, 1, 0, bias=False)
        self.init_norm = _Norm(2 * ch[4], num_classes)
        res = [r for r in sorted(ch) if r > 4]
        # a second convolution at 8, 32, 128 px (FastGAN's "comp" blocks), one elsewhere
        self.ups = nn.ModuleDict({str(r): LightUp(ch[r // 2], ch[r], 2 if r in (8, 32, 128) else 1, num_classes)
                                  for r in res})
        self.pairs = sle_pairs(size)
        self.sle = nn.ModuleDict({f"{a}to{b}": SkipExcitation(ch[a], ch[b]) for a, b in self.pairs})
        self.out = nn.Conv2d(ch[size], channels, 3, 1, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            y = need_labels(y, z.shape[0], self.num_classes)
        h = F.glu(self.init_norm(self.init(z.view(z.shape[0], -1, 1, 1)), y), dim=1)
        feats = {4: h}
        gates = {b: a for a, b in self.pairs}
        for key, up in self.ups.items():
            r = int(key)
            h = up(h, y)
            if r in gates:
                h = self.sle[f"{gates[r]}to{r}"](feats[gates[r]], h)
            feats[r] = h
        return torch.tanh(self.out(h))


def _sn(conv: nn.Module) -> nn.Module:
    return spectral_norm(conv)


@register
class LightDown(nn.Module):
    """Residual down block: (4x4 s2 conv, lrelu, 3x3 conv, lrelu) and (avg-pool, 1x1 conv, lrelu), averaged."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = _sn(nn.Conv2d(cin, cout, 4, 2, 1))
        self.conv2 = _sn(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = _sn(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2)
        direct = F.leaky_relu(self.skip(F.avg_pool2d(x, 2)), 0.2)
        return (main + direct) / 2


@register
class LightDecoder(nn.Module):
    """Feature map -> image: ``ups`` times (2x nearest up-sampling, 3x3 conv, GLU), then a 3x3 conv and tanh."""

    def __init__(self, cin: int, ups: int, channels: int, width: int = 32):
        super().__init__()
        blocks: list[nn.Module] = []
        c = cin
        for i in range(ups):
            cout = max(8, width // 2 ** i)
            blocks.append(nn.Conv2d(c, 2 * cout, 3, 1, 1))
            c = cout
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(c, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.blocks:
            x = F.glu(conv(F.interpolate(x, scale_factor=2, mode="nearest")), dim=1)
        return torch.tanh(self.out(x))


def quarter(x: torch.Tensor, part: int) -> torch.Tensor:
    """Quarter ``part`` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of NCHW maps."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    r, c = divmod(int(part), 2)
    return x[..., r * h:(r + 1) * h, c * w:(c + 1) * w]


@register
class LightDiscriminator(nn.Module):
    """``D(x)`` / ``D(x, y)`` -> logits [N, 1] (AC-GAN: [N, 1 + classes]); ``D(x, y, part=q)`` -> (logits, whole
    image reconstructed from the 8x8 features, quarter ``q`` reconstructed from its features) for the
    reconstruction loss (see :func:`reconstruction_targets`)."""

    def __init__(self, size: int = 64, channels: int = 3, width: int = 64, num_classes: int = 0,
                 cond: str = "projection", max_width: int | None = None):
        super().__init__()
        self.num_classes, self.cond, self.size = num_classes, cond, size
        ch = pyramid(size, width, max_width)
        self.stem = _sn(nn.Conv2d(channels, ch[size // 2], 4, 2, 1))
        res = [r for r in sorted(ch, reverse=True) if r < size // 2]   # the resolutions after each down block
        self.downs = nn.ModuleList([LightDown(ch[2 * r], ch[r]) for r in res])
        self.res_after = [size // 2] + res
        c4 = ch[4]
        self.head = _sn(nn.Conv2d(c4, 1, 4))
        if num_classes and cond == "projection":
            self.embed = _sn(nn.Embedding(num_classes, c4 * 16))
        elif num_classes and cond == "acgan":
            self.aux = _sn(nn.Linear(c4 * 16, num_classes))
        elif num_classes:
            raise ValueError(f"cond must be 'projection' or 'acgan', got {cond!r}")
        # decoders: whole image from the 8x8 map; one quarter from the 16x16 map (the 8x8 one at 16 px)
        self.part_res = 16 if size >= 32 else 8
        whole_side, part_side = min(size, RECON_MAX), min(size // 2, RECON_MAX)
        dec_width = max(16, width // 2)
        self.decode_whole = LightDecoder(ch[8], _log2(whole_side // 8), channels, dec_width)
        self.decode_part = LightDecoder(ch[self.part_res], _log2(part_side // (self.part_res // 2)), channels,
                                        dec_width)

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        feats = {}
        h = F.leaky_relu(self.stem(x), 0.2)
        feats[self.res_after[0]] = h
        for r, down in zip(self.res_after[1:], self.downs):
            h = down(h)
            feats[r] = h
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, part: torch.Tensor | int | None = None):
        feats = self.features(x)
        phi = feats[4]
        out = self.head(phi).flatten(1)
        if part is None and self.training and torch.is_grad_enabled():
            # every parameter takes part in every D loss (several processes wait for each gradient)
            out = out + 0 * sum(p.sum() for p in self._decoder_parameters() if p.requires_grad)
        out = class_output(self, out, phi.flatten(1), y)
        if part is None:
            return out
        whole = self.decode_whole(feats[8])
        piece = self.decode_part(quarter(feats[self.part_res], int(part)))
        return out, whole, piece

    def _decoder_parameters(self):
        yield from self.decode_whole.parameters()
        yield from self.decode_part.parameters()


def reconstruction_targets(x: torch.Tensor, part: int, whole_side: int,
                           part_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What the light discriminator's decoders should output for input images ``x``: the whole image and its
    quarter ``part``, each area-averaged down to the decoders' sides."""
    whole = F.adaptive_avg_pool2d(x, whole_side) if x.shape[-1] != whole_side else x
    q = quarter(x, part)
    return whole, (F.adaptive_avg_pool2d(q, part_side) if q.shape[-1] != part_side else q)


def _log2(n: int) -> int:
    return max(0, int(n).bit_length() - 1)


register_arch("light", LightGenerator, LightDiscriminator)
