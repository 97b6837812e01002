"""Per-image restoration metrics: PSNR and SSIM, as super-resolution and denoising papers report them.

Images may be numpy arrays (HW, HWC or NHWC; uint8 or float), PIL images, torch tensors (HW, CHW or
NCHW) or a list of any of these (images of different sizes are fine). Both arguments must have the same
layout and shapes. Values are computed in float64 on the images as given (no rounding or clipping).

Conventions (those of BasicSR, the common super-resolution toolbox):
- ``data_range`` is the value span: 255 for 8-bit images, 1 for float images in [0, 1]; a pair
  ``(low, high)`` gives the span and its origin, e.g. ``(-1, 1)`` for ganforge's tensors. Values are
  measured from ``low`` (SSIM depends on it), so one picture scores the same on every scale.
- ``crop_border=c`` drops ``c`` pixels on every side before measuring (SR papers crop the scale factor).
- ``y_channel=True`` measures the luma Y of ITU-R BT.601 in "studio swing" instead of RGB. With RGB in
  [0, 1], ``Y = 16/255 + (65.481 R + 128.553 G + 24.966 B)/255``, i.e. Y in [16, 235] on the 8-bit
  scale: for 8-bit RGB ``Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255``. (65.481 = 219 x 0.299 etc.;
  the same matrix as MATLAB's ``rgb2ycbcr`` and ``skimage.color.rgb2ycbcr``.) Like BasicSR's
  ``to_y_channel`` and unlike MATLAB with uint8 input, Y is not rounded to integers. Single-channel
  images are measured as they are.
- SSIM (Wang et al. 2004): 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, population
  (not sample) statistics, the mean of the SSIM map over the positions where the window fits inside
  the image ("valid"), then the mean over channels. This equals
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``
  and BasicSR's ``calculate_ssim``.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch

from ganforge.errors import ConfigError, DataError

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
# BT.601 studio-swing luma for RGB in [0, 1], giving Y on the 8-bit scale [16, 235]
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0


class Scores(NamedTuple):
    """The mean over images and the per-image values ([N] float64)."""
    mean: float
    values: np.ndarray


def _range(data_range: Any) -> tuple[float, float]:
    """(low, span) from a span or a (low, high) pair."""
    if isinstance(data_range, (tuple, list)):
        if len(data_range) != 2:
            raise ConfigError(f"data_range must be a number or a (low, high) pair, got {data_range!r}")
        low, high = float(data_range[0]), float(data_range[1])
    else:
        try:
            low, high = 0.0, float(data_range)
        except (TypeError, ValueError):
            raise ConfigError(f"data_range must be a number or a (low, high) pair, got {data_range!r}") from None
    span = high - low
    if not (math.isfinite(span) and span > 0):
        raise ConfigError(f"data_range must span a positive width, got {data_range!r}")
    return low, span


def _batches(x: Any, name: str) -> list[torch.Tensor]:
    """The images as a list of float64 [N, C, H, W] tensors (one per input batch or image)."""
    if isinstance(x, (list, tuple)):
        if not x:
            raise DataError(f"{name}: no images")
        out = []
        for i, item in enumerate(x):
            out.extend(_batches(item, f"{name}[{i}]"))
        return out
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        if t.ndim == 2:
            t = t[None, None]
        elif t.ndim == 3:
            t = t[None]
        elif t.ndim != 4:
            raise DataError(f"{name}: a tensor must be HW, CHW or NCHW, got shape {tuple(t.shape)}")
    else:
        a = np.asarray(x)   # numpy arrays and PIL images
        if a.dtype == object or a.ndim not in (2, 3, 4):
            raise DataError(f"{name}: an array must be HW, HWC or NHWC, got shape {a.shape} ({a.dtype})")
        if a.ndim == 2:
            a = a[None, :, :, None]
        elif a.ndim == 3:
            a = a[None]
        if a.dtype.kind not in "uif":
            raise DataError(f"{name}: unsupported dtype {a.dtype}")
        # one float64 copy, laid out NCHW (contiguous: the filters below slice it row-wise)
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2), dtype=np.float64))
    if t.dtype == torch.bool or t.is_complex():
        raise DataError(f"{name}: unsupported dtype {t.dtype}")
    if t.shape[1] not in (1, 3):
        layout = "CHW/NCHW" if isinstance(x, torch.Tensor) else "HWC/NHWC"
        raise DataError(f"{name}: expected 1 or 3 channels ({layout}), got shape {tuple(np.shape(x))}")
    if t.shape[0] == 0:
        raise DataError(f"{name}: no images")
    t = t.to(torch.float64).contiguous()
    if not bool(torch.isfinite(t).all()):
        raise DataError(f"{name}: images contain NaN or inf")
    return [t]


def rgb_to_y(image: Any, data_range: float | tuple[float, float] = 255.0) -> np.ndarray | list[np.ndarray]:
    """BT.601 studio-swing luma of RGB images, on the images' own scale (see the module docstring).

    Returns float64 without a channel axis: HW for one image (HWC array, CHW tensor, PIL image), NHW
    for a batch, a list for a list.
    """
    if isinstance(image, (list, tuple)):
        return [rgb_to_y(item, data_range) for item in image]
    low, span = _range(data_range)
    (t,) = _batches(image, "rgb_to_y")
    if t.shape[1] != 3:
        raise DataError(f"rgb_to_y: expected RGB images, got {t.shape[1]} channel(s)")
    y = _y(t, low, span)[:, 0].numpy()
    ndim = image.ndim if hasattr(image, "ndim") else np.asarray(image).ndim
    return y[0] if ndim == 3 else y


def _y(t: torch.Tensor, low: float, span: float) -> torch.Tensor:
    if t.shape[1] != 3:
        return t
    w = torch.tensor(_Y_WEIGHTS, dtype=torch.float64).view(1, 3, 1, 1)
    unit = (t - low) / span                                   # RGB in [0, 1]
    y01 = (_Y_OFFSET + (unit * w).sum(dim=1, keepdim=True)) / 255.0
    return low + y01 * span


def _pairs(a: Any, b: Any, data_range: Any, crop_border: int, y_channel: bool, min_side: int = 1):
    """Yield matching float64 [N, C, H, W] batches of both arguments, checked, converted and cropped."""
    low, span = _range(data_range)
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise ConfigError(f"crop_border must be an integer >= 0, got {crop_border!r}")
    xs, ys = _batches(a, "a"), _batches(b, "b")
    if [x.shape for x in xs] != [y.shape for y in ys]:
        raise DataError(f"images differ in shape: a is {[tuple(x.shape) for x in xs]}, "
                        f"b is {[tuple(y.shape) for y in ys]} (as N, C, H, W)")
    for x, y in zip(xs, ys):
        lo = min(float(x.min()), float(y.min()))
        hi = max(float(x.max()), float(y.max()))
        if lo < low - span or hi > low + 2 * span:   # far outside: the wrong scale, not overshoot
            raise ConfigError(f"image values span [{lo:g}, {hi:g}] but data_range is [{low:g}, {low + span:g}]; "
                              "pass data_range=255 for 8-bit images, 1 for images in [0, 1]")
        c = int(crop_border)
        h, w = x.shape[-2] - 2 * c, x.shape[-1] - 2 * c
        if h < min_side or w < min_side:
            raise DataError(f"images of {x.shape[-2]}x{x.shape[-1]} pixels leave {max(h, 0)}x{max(w, 0)} "
                            f"after crop_border={c}; this metric needs at least {min_side}x{min_side}")
        if c:
            x, y = x[..., c:-c, c:-c], y[..., c:-c, c:-c]
        # measured from the range's origin: SSIM's luminance term is not shift-invariant, and this way
        # [-1, 1] tensors score exactly as the same pictures in [0, 1] or [0, 255]
        x, y = x - low, y - low
        if y_channel:
            x, y = _y(x, 0.0, span), _y(y, 0.0, span)
        yield x, y, span


def psnr(a: Any, b: Any, data_range: float | tuple[float, float] = 255.0, crop_border: int = 0,
         y_channel: bool = False) -> Scores:
    """Peak signal-to-noise ratio in dB per image: ``10 log10(range^2 / MSE)`` over all pixels and
    channels of that image (inf for identical images)."""
    values = []
    for x, y, span in _pairs(a, b, data_range, crop_border, y_channel):
        mse = ((x - y) ** 2).mean(dim=(1, 2, 3))
        with np.errstate(divide="ignore"):
            values.append(10.0 * np.log10(span ** 2 / mse.numpy()))
    v = np.concatenate(values)
    return Scores(float(v.mean()), v)


def masked_psnr(a: Any, b: Any, mask: Any, data_range: float = 255.0) -> float:
    """PSNR in dB over the pixels where ``mask`` (HW, > 0.5) is set, all channels: inpainting's score of
    the filled region alone. ``a`` and ``b`` are HW or HWC arrays of one shape."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    m = np.asarray(mask) > 0.5
    if x.shape != y.shape or m.shape != x.shape[:2]:
        raise DataError(f"masked_psnr: images {x.shape} and {y.shape} and mask {m.shape} do not match")
    if not m.any():
        raise DataError("masked_psnr: the mask is empty")
    mse = ((x - y) ** 2)[m].mean()
    with np.errstate(divide="ignore"):
        return float(10.0 * np.log10(data_range ** 2 / mse))


def _gaussian_window() -> list[float]:
    r = np.arange(WINDOW) - WINDOW // 2
    g = np.exp(-(r ** 2) / (2 * SIGMA ** 2))
    return (g / g.sum()).tolist()


def _filter_valid(x: torch.Tensor, taps: list[float], dim: int) -> torch.Tensor:
    """Correlate along ``dim`` with ``taps``, keeping the positions where the window fits.

    A sum of shifted slices: in float64 this is several times faster on CPUs than a grouped conv2d,
    which has no fast float64 kernel, and it costs O(pixels x taps) at any image size.
    """
    n = x.shape[dim] - len(taps) + 1
    out = x.narrow(dim, 0, n) * taps[0]
    for k in range(1, len(taps)):
        out.add_(x.narrow(dim, k, n), alpha=taps[k])
    return out


def ssim(a: Any, b: Any, data_range: float | tuple[float, float] = 255.0, crop_border: int = 0,
         y_channel: bool = False) -> Scores:
    """Structural similarity per image (Wang et al. 2004; conventions in the module docstring)."""
    taps = _gaussian_window()
    values = []
    for x, y, span in _pairs(a, b, data_range, crop_border, y_channel, min_side=WINDOW):
        c = x.shape[1]
        c1, c2 = (K1 * span) ** 2, (K2 * span) ** 2
        # the five local statistics of every channel, filtered together (separable window)
        stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
        out = _filter_valid(_filter_valid(stack, taps, 2), taps, 3)
        mx, my, mxx, myy, mxy = out.split(c, dim=1)
        vx, vy, vxy = mxx - mx * mx, myy - my * my, mxy - mx * my
        smap = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        values.append(smap.mean(dim=(2, 3)).mean(dim=1).numpy())
    v = np.concatenate(values)
    return Scores(float(v.mean()), v)
