"""StyleGAN2 (Karras et al. 2020) in plain PyTorch: the generator whose parameter names are those of NVIDIA's
stylegan2-ada-pytorch (``training/networks.py``), so the ``G_ema`` of its pickles loads as it is, and a ResNet
discriminator in the same style so ``ganforge train image --arch style`` trains one.

The generator is a mapping network (z normalised to unit second moment, ``num_layers`` equalised-lr fully
connected layers at a 0.01 learning-rate multiplier, a tracked average ``w_avg`` for truncation) and a
synthesis network: a learned 4x4 constant, then one block per resolution with two modulated/demodulated
3x3 convolutions (the first up-samples), per-pixel noise scaled by a learned per-layer strength, and a
"skip" ToRGB output per block whose images are up-sampled and summed. Up-sampling and down-sampling use the
FIR filter [1, 3, 3, 1] written with ``conv_transpose2d``/``conv2d`` (no custom CUDA ops).

Shapes and names (the stylegan2-ada key layout): ``mapping.fc{i}.weight|bias``, ``mapping.w_avg``,
``mapping.embed.*`` (conditional), ``synthesis.b4.const``, ``synthesis.b{res}.conv0|conv1.affine.weight|bias``,
``.weight``, ``.bias``, ``.noise_const``, ``.noise_strength``, ``.resample_filter``, ``synthesis.b{res}.torgb.*``.

Images are NCHW; in eval mode the generator's output is clamped to [-1, 1] (ganforge's convention), in
training it is left as is (as the original's D sees it). ``noise_mode``: "const" (the stored noise; the
default outside training, so the same latent always gives the same image), "random" (training's default)
or "none".
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_arch
from .conditional import class_output
from .registry import register

SQRT2 = math.sqrt(2.0)
NOISE_MODES = ("const", "random", "none")


# ------------------------------------------------------------------------------------------------ FIR resampling

def fir_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """The 2-D low-pass filter of a 1-D tap list: outer product normalised to sum 1 (shape [k, k])."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f) if f.ndim == 1 else f
    return f / f.sum()


def _depthwise(f: torch.Tensor, channels: int, like: torch.Tensor) -> torch.Tensor:
    return f.to(like.dtype).flip([0, 1])[None, None].expand(channels, 1, *f.shape)


def blur(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int], gain: float = 1.0) -> torch.Tensor:
    """Pad (left, right, top, bottom) then convolve every channel with ``f`` (times ``gain``)."""
    x = F.pad(x, list(pad))
    return F.conv2d(x, _depthwise(f * gain, x.shape[1], x), groups=x.shape[1])


def upsample2x(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x FIR up-sampling of an image (the skip path's ToRGB sum): a strided transposed convolution."""
    c = x.shape[1]
    k = (f * 4).to(x.dtype)[None, None].expand(c, 1, *f.shape)
    return F.conv_transpose2d(x, k, stride=2, padding=(f.shape[0] - 2) // 2, groups=c)


def downsample2x(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x FIR down-sampling: blur, then keep every second pixel."""
    p0, p1 = (f.shape[0] - 1) // 2, (f.shape[0] - 2) // 2
    return blur(x, f, (p0, p1, p0, p1))[:, :, ::2, ::2]


# ------------------------------------------------------------------------------------------------ layers

def lrelu_gain(x: torch.Tensor, gain: float = SQRT2, clamp: float | None = None) -> torch.Tensor:
    x = F.leaky_relu(x, 0.2) * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


@register
class FullyConnectedLayer(nn.Module):
    """Equalised learning rate: weights stored at unit variance (/ ``lr_multiplier``), scaled at run time."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        x = F.linear(x, self.weight.to(x.dtype) * self.weight_gain, b)
        return lrelu_gain(x) if self.activation == "lrelu" else x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


@register
class MappingNetwork(nn.Module):
    """z (and a class embedding) -> w, broadcast to ``num_ws`` copies; keeps ``w_avg`` for truncation."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed = w_dim if c_dim else 0
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed)
        features = [z_dim + embed] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation="lrelu",
                                                        lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, psi: float = 1.0,
                cutoff: int | None = None, update_w_avg: bool | None = None) -> torch.Tensor:
        parts = []
        if self.z_dim:
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim:
            if c is None:
                raise ValueError(f"this generator is conditional on {self.c_dim} classes: pass labels")
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if (self.training if update_w_avg is None else update_w_avg) and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))  # x is bf16 under autocast
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        return truncate(ws, self.w_avg, psi, cutoff)


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
    """The truncation trick: ``w_avg + psi * (w - w_avg)`` on the first ``cutoff`` layers (all when None)."""
    if psi == 1:
        return ws
    t = w_avg.to(ws.dtype).lerp(ws, psi)
    if cutoff is None:
        return t
    return torch.cat([t[:, :cutoff], ws[:, cutoff:]], dim=1)


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                   up: bool = False, f: torch.Tensor | None = None) -> torch.Tensor:
    """One convolution per sample with its weights scaled by its styles (per input channel) and, with
    ``demodulate``, renormalised to unit output variance; ``up`` doubles the resolution (transposed
    convolution then the FIR blur). Done as a grouped convolution over the batch."""
    n, cin, h, w_ = x.shape
    cout, _, k, _ = weight.shape
    wt = weight[None] * styles[:, None, :, None, None]  # [N, O, I, k, k]
    if demodulate:
        wt = wt * (wt.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    x = x.reshape(1, n * cin, h, w_)
    if not up:
        out = F.conv2d(x, wt.reshape(n * cout, cin, k, k).to(x.dtype), padding=k // 2, groups=n)
    else:
        wt = wt.transpose(1, 2).reshape(n * cin, cout, k, k).to(x.dtype)  # conv_transpose layout [in, out/g, k, k]
        out = F.conv_transpose2d(x, wt, stride=2, groups=n)  # 2h + k - 2 pixels, a true convolution
        # FIR blur (gain 4 for the zeros the up-sampling put in); padding lands the result on 2h x 2h
        fw = f.shape[0]
        p0 = k // 2 + (fw + 1) // 2 - (k - 1)
        p1 = k // 2 + (fw - 2) // 2 - (k - 2)
        out = blur(out, f, (p0, p1, p0, p1), gain=4.0)
    return out.reshape(n, cout, *out.shape[2:])


@register
class SynthesisLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, conv_clamp: float | None = None):
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.register_buffer("resample_filter", fir_filter())
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", gain: float = 1.0,
                noise: torch.Tensor | None = None) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv(x, self.weight, styles, up=self.up == 2, f=self.resample_filter)
        if self.use_noise and noise is not None:  # given noise maps [N, 1, res, res] (inversion optimises them)
            x = x + noise.to(x.dtype) * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device,
                                dtype=x.dtype) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return lrelu_gain(x + self.bias.to(x.dtype)[None, :, None, None], SQRT2 * gain, clamp)


@register
class ToRGBLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        x = x + self.bias.to(x.dtype)[None, :, None, None]
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


@register
class SynthesisBlock(nn.Module):
    """One resolution: (const or up-sampling conv0), conv1, and a ToRGB added to the up-sampled image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None, use_noise: bool = True):
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", fir_filter())
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp,
                                        use_noise=use_noise)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                    use_noise=use_noise)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "random", noise: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        noise = noise or [None, None]
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], noise_mode, noise=noise[0])
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, noise=noise[0])
            x = self.conv1(x, ws[:, 1], noise_mode, noise=noise[1])
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else upsample2x(img, self.resample_filter) + y
        return x, img


def channel_counts(size: int, channel_base: int, channel_max: int) -> dict[int, int]:
    return {2 ** i: min(channel_base // 2 ** i, channel_max) for i in range(2, int(math.log2(size)) + 1)}


@register
class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, conv_clamp: float | None = None, use_noise: bool = True):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"image size must be a power of two of at least 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        ch = channel_counts(img_resolution, channel_base, channel_max)
        self.block_resolutions = sorted(ch)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(ch[res // 2] if res > 4 else 0, ch[res], w_dim, res, img_channels,
                                   conv_clamp=conv_clamp, use_noise=use_noise)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last ToRGB's w

    def noise_resolutions(self) -> list[int]:
        """The resolution of each noise input, in the order ``forward``'s ``noise`` list takes them."""
        return [res for res in self.block_resolutions for _ in range(getattr(self, f"b{res}").num_conv)]

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", noise: list | None = None) -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        ws = ws.float()
        x = img = None
        i = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            # a block's ToRGB shares its w with the next block's first conv (the w index advances by num_conv)
            x, img = block(x, img, ws[:, i:i + block.num_conv + 1], noise_mode,
                           None if noise is None else noise[i:i + block.num_conv])
            i += block.num_conv
        return img


@register
class StyleGAN2Generator(nn.Module):
    """``G(z)`` / ``G(z, y)`` (int labels when ``num_classes``) -> images NCHW; ``G.mapping`` and
    ``G.synthesis`` expose W space (``ws`` of shape [N, num_ws, w_dim]).

    ``width`` sets the channels as in ganforge's other architectures (``width`` at full resolution,
    doubling per halving, at most ``4 * width``) unless ``channel_base``/``channel_max`` are given, as
    stylegan2-ada's ``min(channel_base // res, channel_max)``.
    """

    def __init__(self, z_dim: int = 512, size: int = 256, channels: int = 3, width: int = 64, num_classes: int = 0,
                 w_dim: int | None = None, channel_base: int | None = None, channel_max: int | None = None,
                 mapping_layers: int = 8, lr_multiplier: float = 0.01, w_avg_beta: float = 0.995,
                 conv_clamp: float | None = None, use_noise: bool = True):
        super().__init__()
        w_dim = w_dim or z_dim
        if channel_base is None:
            channel_base, channel_max = width * size, channel_max or 4 * width
        channel_max = channel_max or 512
        self.z_dim, self.w_dim, self.num_classes, self.size, self.channels = z_dim, w_dim, num_classes, size, channels
        self.synthesis = SynthesisNetwork(w_dim, size, channels, channel_base, channel_max, conv_clamp, use_noise)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, num_classes, w_dim, self.num_ws, mapping_layers, lr_multiplier,
                                      w_avg_beta)

    def one_hot(self, y: torch.Tensor | None, n: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if y is None:
            raise ValueError(f"this network is conditional on {self.num_classes} classes: pass labels y")
        return F.one_hot(y.long().view(n), self.num_classes).float()

    def ws(self, z: torch.Tensor, y: torch.Tensor | None = None, psi: float = 1.0,
           cutoff: int | None = None) -> torch.Tensor:
        """The per-layer latents [N, num_ws, w_dim] of ``z`` (and labels ``y``), truncated by ``psi``."""
        return self.mapping(z, self.one_hot(y, z.shape[0]), psi=psi, cutoff=cutoff)

    def synthesize(self, ws: torch.Tensor, noise_mode: str | None = None, noise: list | None = None) -> torch.Tensor:
        """Images from W+ latents (``noise``: one map [N, 1, r, r] per layer, see
        ``synthesis.noise_resolutions()``, instead of ``noise_mode``); clamped to [-1, 1] outside training."""
        img = self.synthesis(ws, noise_mode or ("random" if self.training else "const"), noise)
        return img if self.training else img.clamp(-1, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, psi: float = 1.0, cutoff: int | None = None,
                noise_mode: str | None = None) -> torch.Tensor:
        return self.synthesize(self.ws(z, y, psi, cutoff), noise_mode)


# ------------------------------------------------------------------------------------------------ discriminator

@register
class Conv2dLayer(nn.Module):
    """Equalised-lr convolution with optional FIR 2x down-sampling, bias and lrelu (times ``gain``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "lrelu", down: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.register_buffer("resample_filter", fir_filter())
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        k = w.shape[-1]
        if self.down == 2 and k > 1:
            fw = self.resample_filter.shape[0]  # blur, then a strided convolution
            p0, p1 = k // 2 + (fw - 1) // 2, k // 2 + (fw - 2) // 2
            x = F.conv2d(blur(x, self.resample_filter, (p0, p1, p0, p1)), w, stride=2)
        elif self.down == 2:
            x = F.conv2d(downsample2x(x, self.resample_filter), w)
        else:
            x = F.conv2d(x, w, padding=k // 2)
        if self.bias is not None:
            x = x + self.bias.to(x.dtype)[None, :, None, None]
        if self.activation == "lrelu":
            clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
            return lrelu_gain(x, SQRT2 * gain, clamp)
        return x * gain if gain != 1 else x


@register
class DiscriminatorBlock(nn.Module):
    """Residual block: (fromRGB), conv 3x3, conv 3x3 down, plus a 1x1 down-sampling skip; both scaled by sqrt(1/2)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int):
        super().__init__()
        self.in_channels = in_channels
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, down=2)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, activation="linear", down=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(x)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


def minibatch_std(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append the standard deviation over groups of samples (one feature map), as StyleGAN does."""
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.float().reshape(g, -1, c, h, w)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(dim=[1, 2, 3])  # [n / g]
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
    return torch.cat([x, y], dim=1)


@register
class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2's residual discriminator (without its custom ops; conditioning as ganforge's others: a
    projection term or an AC-GAN head)."""

    def __init__(self, size: int = 256, channels: int = 3, width: int = 64, num_classes: int = 0,
                 cond: str = "projection", channel_base: int | None = None, channel_max: int | None = None,
                 mbstd_group: int = 4):
        super().__init__()
        if channel_base is None:
            channel_base, channel_max = width * size, channel_max or 4 * width
        ch = channel_counts(size, channel_base, channel_max or 512)
        self.num_classes, self.cond, self.mbstd_group = num_classes, cond, mbstd_group
        self.block_resolutions = sorted(ch, reverse=True)[:-1]  # size .. 8
        for res in self.block_resolutions:
            cin = ch[res] if res < size else 0
            setattr(self, f"b{res}", DiscriminatorBlock(cin, ch[res], ch[res // 2], channels))
        c4 = ch[4]
        self.conv = Conv2dLayer(c4 + 1, c4, 3)
        self.fc = FullyConnectedLayer(c4 * 16, c4, activation="lrelu")
        self.out = FullyConnectedLayer(c4, 1)
        if num_classes and cond == "projection":
            self.embed = nn.Embedding(num_classes, c4)
            nn.init.normal_(self.embed.weight, std=1 / math.sqrt(c4))
        elif num_classes and cond == "acgan":
            self.aux = FullyConnectedLayer(c4, num_classes)
        elif num_classes:
            raise ValueError(f"cond must be 'projection' or 'acgan', got {cond!r}")

    def forward(self, img: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = img
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x)
        x = self.conv(minibatch_std(x, self.mbstd_group))
        h = self.fc(x.flatten(1))
        return class_output(self, self.out(h), h, y)


register_arch("style", StyleGAN2Generator, StyleGAN2Discriminator)
