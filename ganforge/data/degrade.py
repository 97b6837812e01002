"""Synthetic degradations: restoration tasks make their (input, target) pairs from any clean photo.

Every function takes a clean uint8 HWC image (and a ``numpy.random.Generator`` where it draws random
numbers, so a seed fixes the result) and returns the degraded image as float32 HWC on the 0..255 scale,
clipped to [0, 255] like a real photo (not rounded: noise levels stay exact). Masks are float32 HW with
1 where pixels are missing.

``Degradation(task, ...)`` bundles the one each restoration task trains on, with its defaults.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ganforge.errors import ConfigError, DataError

TASKS = ("superres", "inpaint", "denoise", "derain", "colorize", "deblur")
MASKS = ("rect", "free", "mixed", "large")


def _pil(img: np.ndarray) -> Image.Image:
    a = np.clip(np.rint(img), 0, 255).astype(np.uint8) if img.dtype != np.uint8 else img
    return Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)


def _arr(im: Image.Image) -> np.ndarray:
    a = np.asarray(im, dtype=np.float32)
    return a[..., None] if a.ndim == 2 else a


def downscale(img: np.ndarray, scale: int, name: str = "image") -> np.ndarray:
    """Bicubic (antialiased, as MATLAB's imresize) reduction by ``scale``; both sides must divide by it."""
    h, w = img.shape[:2]
    if h % scale or w % scale:
        raise DataError(f"{name}: size {w}x{h} is not a multiple of the scale {scale} (crop it to "
                        f"{w - w % scale}x{h - h % scale} first)")
    return _arr(_pil(img).resize((w // scale, h // scale), Image.Resampling.BICUBIC))


def upscale_bicubic(img: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic enlargement by ``scale`` (the classical super-resolution baseline)."""
    h, w = img.shape[:2]
    return _arr(_pil(img).resize((w * scale, h * scale), Image.Resampling.BICUBIC))


def gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise of standard deviation ``sigma`` (0..255 scale)."""
    return np.clip(img.astype(np.float32) + rng.normal(0.0, sigma, img.shape).astype(np.float32), 0, 255)


def poisson_noise(img: np.ndarray, peak: float, rng: np.random.Generator) -> np.ndarray:
    """Shot noise: photon counts with mean ``img / 255 * peak`` (smaller peak, noisier image)."""
    counts = rng.poisson(img.astype(np.float64) / 255.0 * peak)
    return np.clip(counts / peak * 255.0, 0, 255).astype(np.float32)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels (separable, mirrored borders)."""
    if sigma <= 0:
        return img.astype(np.float32)
    r = max(1, int(math.ceil(3 * sigma)))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[:, None]
    x = F.pad(x, (r, r, r, r), mode="reflect" if min(img.shape[:2]) > r else "replicate")
    x = F.conv2d(F.conv2d(x, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))
    return x[:, 0].permute(1, 2, 0).numpy()


def line_kernel(length: int, angle_deg: float) -> torch.Tensor:
    """A normalised motion-blur kernel: a line of ``length`` pixels at ``angle_deg`` (0 = horizontal)."""
    size = length + (1 - length % 2)
    im = Image.new("L", (size * 4, size * 4), 0)
    c = size * 2
    dx, dy = math.cos(math.radians(angle_deg)) * length * 2, math.sin(math.radians(angle_deg)) * length * 2
    ImageDraw.Draw(im).line([(c - dx, c - dy), (c + dx, c + dy)], fill=255, width=4)
    k = torch.from_numpy(np.asarray(im.resize((size, size), Image.Resampling.BOX), dtype=np.float32))
    return k / k.sum().clamp_min(1e-6)


def _conv_same(img: np.ndarray, k: torch.Tensor) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[:, None]
    ph, pw = k.shape[0] // 2, k.shape[1] // 2
    x = F.pad(x, (pw, pw, ph, ph), mode="replicate")
    return F.conv2d(x, k[None, None])[:, 0].permute(1, 2, 0).numpy()


def rain(img: np.ndarray, rng: np.random.Generator, density: float | None = None, length: int | None = None,
         angle: float | None = None, strength: float | None = None) -> np.ndarray:
    """Synthetic rain: random drops smeared into streaks of one angle and length, screen-blended on top.

    Unset parameters are drawn at random: density 0.5-2.5% of pixels, length 8-25 px, angle -30..30
    degrees from vertical, strength 0.5-0.9.
    """
    h, w = img.shape[:2]
    density = rng.uniform(0.005, 0.025) if density is None else density
    length = int(rng.integers(8, 26)) if length is None else length
    angle = rng.uniform(-30, 30) if angle is None else angle
    strength = rng.uniform(0.5, 0.9) if strength is None else strength
    drops = (rng.random((h, w, 1)) < density).astype(np.float32) * rng.uniform(0.5, 1.0, (h, w, 1)).astype(np.float32)
    streaks = _conv_same(drops, line_kernel(length, 90.0 + angle)) * length * 0.5
    streaks = np.clip(streaks * strength, 0, 1)
    x = img.astype(np.float32) / 255.0
    return np.clip(1 - (1 - x) * (1 - streaks), 0, 1) * 255.0  # screen blend: streaks only brighten


def grey(img: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601) as a single channel, float 0..255."""
    if img.shape[2] == 1:
        return img.astype(np.float32)
    return (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    _pil(img).save(buf, format="JPEG", quality=int(quality))
    return _arr(Image.open(io.BytesIO(buf.getvalue())).convert("RGB" if img.shape[2] == 3 else "L"))


def rect_mask(h: int, w: int, rng: np.random.Generator, min_frac: float = 0.15, max_frac: float = 0.5) -> np.ndarray:
    """One random rectangle (sides ``min_frac``..``max_frac`` of the image) of missing pixels."""
    mh = int(rng.integers(max(1, int(h * min_frac)), max(2, int(h * max_frac)) + 1))
    mw = int(rng.integers(max(1, int(w * min_frac)), max(2, int(w * max_frac)) + 1))
    y, x = int(rng.integers(0, h - mh + 1)), int(rng.integers(0, w - mw + 1))
    m = np.zeros((h, w), np.float32)
    m[y:y + mh, x:x + mw] = 1
    return m


def centre_mask(h: int, w: int, frac: float = 0.5) -> np.ndarray:
    """A centred rectangle of ``frac`` of each side (the classic inpainting benchmark mask)."""
    mh, mw = int(h * frac), int(w * frac)
    m = np.zeros((h, w), np.float32)
    m[(h - mh) // 2:(h - mh) // 2 + mh, (w - mw) // 2:(w - mw) // 2 + mw] = 1
    return m


def _polylines(h: int, w: int, rng: np.random.Generator, count: int, width: tuple[int, int],
               step: tuple[float, float]) -> np.ndarray:
    """``count`` random thick polylines of 2-6 segments with rounded joints: widths in [width[0], width[1]],
    segment lengths uniform in ``step`` (pixels)."""
    im = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(im)
    for _ in range(count):
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        thick = int(rng.integers(width[0], width[1] + 1))
        for _ in range(int(rng.integers(2, 7))):
            a = rng.uniform(0, 2 * math.pi)
            length = rng.uniform(*step)
            nx = float(np.clip(x + length * math.cos(a), 0, w - 1))
            ny = float(np.clip(y + length * math.sin(a), 0, h - 1))
            draw.line([(x, y), (nx, ny)], fill=255, width=thick)
            r = thick / 2
            draw.ellipse([nx - r, ny - r, nx + r, ny + r], fill=255)
            x, y = nx, ny
    return (np.asarray(im) > 127).astype(np.float32)


def free_form_mask(h: int, w: int, rng: np.random.Generator, strokes: int | None = None) -> np.ndarray:
    """Free-form strokes (as in DeepFill v2): random thick polylines with rounded joints."""
    side = min(h, w)
    count = int(rng.integers(1, 5)) if strokes is None else strokes
    return _polylines(h, w, rng, count, (max(2, side // 20), max(3, side // 8)), (side / 10, side / 3))


def wide_strokes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """LaMa's "thick" masks: 1-5 polylines of 2-6 segments, each 1/14 to 1/4 of the image's side wide."""
    side = min(h, w)
    return _polylines(h, w, rng, int(rng.integers(1, 6)), (max(2, side // 14), max(3, side // 4)), (side / 8, side / 2))


def boxes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """LaMa's box masks: 1-3 rectangles, each side 10-60% of the image's."""
    m = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        m = np.maximum(m, rect_mask(h, w, rng, 0.1, 0.6))
    return m


def large_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Large training masks in the manner of LaMa: wide strokes, boxes, thin free-form strokes or one
    rectangle (a quarter each), drawn again while they cover under 5% or over 70% of the image."""
    for _ in range(20):
        kind = int(rng.integers(4))
        if kind == 0:
            m = wide_strokes(h, w, rng)
        elif kind == 1:
            m = boxes(h, w, rng)
        elif kind == 2:
            m = free_form_mask(h, w, rng)
        else:
            m = rect_mask(h, w, rng, 0.2, 0.6)
        if 0.05 <= m.mean() <= 0.7:
            return m
    return m


@dataclass
class Degradation:
    """The degradation one restoration task trains on.

    ``__call__(clean, rng)`` returns ``(degraded, mask)``: the network's input (float32 HWC, 0..255;
    smaller by ``scale`` for super-resolution, one channel for colorization) and the mask of missing
    pixels for inpainting (else None).
    """

    task: str
    scale: int = 4
    noise: str = "gaussian"           # denoise: gaussian | poisson
    level: float | None = None        # denoise: sigma (gaussian, default 25) or peak (poisson, default 30)
    mask: str = "mixed"               # inpaint: rect | free | mixed | large
    blur: float = 3.0                 # deblur: largest Gaussian sigma (drawn from 0.5..blur)
    sr_blur: float = 0.0              # superres: Gaussian blur sigma before the reduction
    sr_noise: float = 0.0             # superres: Gaussian noise sigma added to the small image
    sr_jpeg: int | None = None        # superres: JPEG quality of the small image

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}; got {self.task!r}")
        if self.task == "superres" and self.scale not in (2, 3, 4, 8):
            raise ConfigError(f"scale must be 2, 3, 4 or 8; got {self.scale}")
        if self.noise not in ("gaussian", "poisson"):
            raise ConfigError(f"noise must be gaussian or poisson; got {self.noise!r}")
        if self.mask not in MASKS:
            raise ConfigError(f"mask must be rect, free, mixed or large; got {self.mask!r}")
        if self.level is not None and self.level <= 0:
            raise ConfigError(f"level must be positive; got {self.level}")
        if self.blur < 0 or self.sr_noise < 0 or self.sr_blur < 0:
            raise ConfigError("blur, sr_blur and sr_noise must not be negative")
        if self.sr_jpeg is not None and not 1 <= self.sr_jpeg <= 100:
            raise ConfigError(f"sr_jpeg must be a JPEG quality 1..100; got {self.sr_jpeg}")

    @property
    def noise_level(self) -> float:
        return self.level if self.level is not None else (25.0 if self.noise == "gaussian" else 30.0)

    def __call__(self, clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        t = self.task
        h, w = clean.shape[:2]
        if t == "superres":
            x = gaussian_blur(clean, self.sr_blur) if self.sr_blur else clean
            x = downscale(x, self.scale)
            if self.sr_noise:
                x = gaussian_noise(x, self.sr_noise, rng)
            if self.sr_jpeg:
                x = jpeg(x, self.sr_jpeg)
            return np.clip(np.rint(x), 0, 255).astype(np.float32), None  # a small image is stored as 8-bit
        if t == "denoise":
            if self.noise == "gaussian":
                return gaussian_noise(clean, self.noise_level, rng), None
            return poisson_noise(clean, self.noise_level, rng), None
        if t == "deblur":
            return gaussian_blur(clean, rng.uniform(0.5, max(0.5, self.blur))), None
        if t == "derain":
            return rain(clean, rng), None
        if t == "colorize":
            return grey(clean), None
        if self.mask == "large":
            m = large_mask(h, w, rng)
        else:
            kind = self.mask if self.mask != "mixed" else ("rect" if rng.random() < 0.5 else "free")
            m = rect_mask(h, w, rng) if kind == "rect" else free_form_mask(h, w, rng)
        return clean.astype(np.float32) * (1 - m[..., None]), m
