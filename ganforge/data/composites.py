"""Composites with a known answer, for training and measuring photo blending.

A composite is four images of one size, floats in [0, 1], NCHW: ``src`` (the object already where it should go,
with whatever surrounds it in its own photo), ``dst`` (the background photo), ``mask`` (1 where the user pastes
``src``) and ``truth`` (what a perfect blender returns). Each comes from ordinary photos and a synthetic lighting
change, so no labelled data set is needed. Families (``FAMILIES``):

- ``affine``: a region of a photo pasted back into a copy of the same photo whose colours are shifted
  (per-channel gain and offset): the truth is the shifted photo. Under the mask, the destination shows another
  photo (what the paste covers), so a method that reads the destination there learns nothing about the truth.
- ``lighting``: as ``affine``, but the destination is relit by a smooth field (a per-channel gain that varies
  across the image, and a gamma): what plain Poisson blending, which fixes one offset per seam, cannot undo.
- ``seam``: an object (a soft blob of one photo) cut out of its own photo with a loose mask, so the mask's margin
  carries the source's background; pasted into a textured part of another photo under other lighting. The truth
  is the object, relit, with the destination's background around it up to the mask.
- ``cut``: as ``seam``, but the mask cuts through the object; the truth keeps the object up to the mask line.

Everything is drawn from one ``torch.Generator``, so a composite is reproducible from its seed.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FAMILIES = ("affine", "lighting", "seam", "cut")


def relight(img: torch.Tensor, log_gain: torch.Tensor, gamma: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """``exp(log_gain) * img ** gamma + offset``, clipped to [0, 1]; fields broadcast against ``img``."""
    return (torch.exp(log_gain) * img.clamp_min(1e-4) ** gamma + offset).clamp(0, 1)


def _grid(n: int, h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres in units of the longer side, centred: y [1, 1, h, 1], x [1, 1, 1, w]."""
    s = max(h, w)
    y = (torch.arange(h, device=device, dtype=torch.float32) + 0.5 - h / 2) / s
    x = (torch.arange(w, device=device, dtype=torch.float32) + 0.5 - w / 2) / s
    return y.view(1, 1, h, 1), x.view(1, 1, 1, w)


def _u(gen: torch.Generator, *shape, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=gen)


def lighting_field(n: int, h: int, w: int, gen: torch.Generator, strength: float = 0.5) -> dict[str, torch.Tensor]:
    """A smooth random relighting: per-channel log-gain = a constant + a ramp in a random direction + two
    low-frequency waves (periods of one to three image sides); a gamma in [1/1.4, 1.4]; a small offset.
    ``strength`` scales the log-gain (0.5: gains between about 0.5 and 2 at the extremes)."""
    y, x = _grid(n, h, w, "cpu")
    const = _u(gen, n, 3, 1, 1, lo=-strength, hi=strength) * 0.6
    ang = _u(gen, n, 1, 1, 1, hi=2 * math.pi)
    ramp = _u(gen, n, 3, 1, 1, lo=-strength, hi=strength) * (torch.cos(ang) * x + torch.sin(ang) * y) * 1.5
    waves = torch.zeros(n, 3, h, w)
    for _ in range(2):
        theta = _u(gen, n, 1, 1, 1, hi=2 * math.pi)
        freq = 2 * math.pi / _u(gen, n, 1, 1, 1, lo=1.0, hi=3.0)
        phase = _u(gen, n, 3, 1, 1, hi=2 * math.pi)
        amp = _u(gen, n, 3, 1, 1, lo=0, hi=strength) * 0.4
        waves = waves + amp * torch.cos(freq * (torch.cos(theta) * x + torch.sin(theta) * y) + phase)
    gamma = torch.exp(_u(gen, n, 1, 1, 1, lo=-1, hi=1) * math.log(1.4))
    offset = _u(gen, n, 3, 1, 1, lo=-0.04, hi=0.04)
    return {"log_gain": const + ramp + waves, "gamma": gamma, "offset": offset}


def gain_offset(n: int, channels: int, gen: torch.Generator, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel gain in 1 +- shift and offset +- shift/3, each [n, channels, 1, 1]."""
    gain = 1 + shift * (2 * torch.rand(n, channels, 1, 1, generator=gen) - 1)
    offset = shift / 3 * (2 * torch.rand(n, channels, 1, 1, generator=gen) - 1)
    return gain, offset


def affine_shift(n: int, gen: torch.Generator, shift: float = 0.3) -> dict[str, torch.Tensor]:
    """A global per-channel colour shift (:func:`gain_offset`; the ``affine`` family) as a relighting."""
    gain, offset = gain_offset(n, 3, gen, shift)
    return {"log_gain": gain.log(), "gamma": torch.ones(n, 1, 1, 1), "offset": offset}


def identity_light(n: int) -> dict[str, torch.Tensor]:
    return {"log_gain": torch.zeros(n, 3, 1, 1), "gamma": torch.ones(n, 1, 1, 1), "offset": torch.zeros(n, 3, 1, 1)}


def blob(n: int, h: int, w: int, gen: torch.Generator, centre: torch.Tensor | None = None,
         size: tuple[float, float] = (0.12, 0.3)) -> tuple[torch.Tensor, torch.Tensor]:
    """Random smooth closed shapes: (normalised radius [n, 1, h, w], < 1 inside; its scale in pixels [n]).

    An ellipse (semi-axes ``size`` of the longer side, rotated) whose outline is perturbed by two low harmonics.
    ``centre`` [n, 2] (y, x) in the units of the grid; drawn so the shape stays inside the image when None."""
    y, x = _grid(n, h, w, "cpu")
    s = max(h, w)
    a = _u(gen, n, lo=size[0], hi=size[1])
    b = a * _u(gen, n, lo=0.6, hi=1.0)
    if centre is None:
        cy = _u(gen, n) * (h / s - 2.4 * a) - (h / s - 2.4 * a) / 2
        cx = _u(gen, n) * (w / s - 2.4 * a) - (w / s - 2.4 * a) / 2
    else:
        cy, cx = centre[:, 0], centre[:, 1]
    rot = _u(gen, n, hi=math.pi)
    dy, dx = y - cy.view(n, 1, 1, 1), x - cx.view(n, 1, 1, 1)
    c, si = torch.cos(rot).view(n, 1, 1, 1), torch.sin(rot).view(n, 1, 1, 1)
    u, v = (c * dx + si * dy) / a.view(n, 1, 1, 1), (-si * dx + c * dy) / b.view(n, 1, 1, 1)
    theta = torch.atan2(v, u)
    wobble = torch.ones_like(theta)
    for k in (2, 3):
        wobble = wobble + _u(gen, n, 1, 1, 1, hi=0.12) * torch.cos(k * theta + _u(gen, n, 1, 1, 1, hi=2 * math.pi))
    return torch.sqrt(u * u + v * v) / wobble, b * s


def box_or_ellipse(n: int, h: int, w: int, gen: torch.Generator, lo: float = 0.3, hi: float = 0.5,
                   margin: int = 1) -> torch.Tensor:
    """[n, 1, h, w] masks: an axis-aligned rectangle or ellipse, each side ``lo``..``hi`` of the image's side,
    at least ``margin`` pixels from the image's border."""
    r = torch.rand(n, 5, generator=gen)
    hs, ws = (lo + (hi - lo) * r[:, 0]) * h, (lo + (hi - lo) * r[:, 1]) * w
    cy = hs / 2 + margin + r[:, 2] * (h - hs - 2 * margin)
    cx = ws / 2 + margin + r[:, 3] * (w - ws - 2 * margin)
    yy = torch.arange(h).float().view(1, h, 1) + 0.5
    xx = torch.arange(w).float().view(1, 1, w) + 0.5
    dy = (yy - cy.view(n, 1, 1)) / (hs.view(n, 1, 1) / 2)
    dx = (xx - cx.view(n, 1, 1)) / (ws.view(n, 1, 1) / 2)
    rect = (dy.abs() <= 1) & (dx.abs() <= 1)
    return torch.where((r[:, 4] < 0.5).view(n, 1, 1), rect, dy ** 2 + dx ** 2 <= 1).float()[:, None]


def _textured_centres(photo: torch.Tensor, gen: torch.Generator, k: int = 8, reach: float = 0.2) -> torch.Tensor:
    """For each photo, the most textured of ``k`` random centres (mean gradient magnitude in a window); [n, 2]."""
    n, _, h, w = photo.shape
    s = max(h, w)
    grey = photo.mean(1, keepdim=True)
    grad = (grey[..., 1:, :-1] - grey[..., :-1, :-1]).abs() + (grey[..., :-1, 1:] - grey[..., :-1, :-1]).abs()
    win = max(3, int(reach * s) | 1)
    energy = F.avg_pool2d(F.pad(grad, (0, 1, 0, 1)), win, 1, win // 2, count_include_pad=False)
    my, mx = (h / s) / 2 - 0.3, (w / s) / 2 - 0.3
    cand = torch.stack([_u(gen, n, k, lo=-my, hi=my), _u(gen, n, k, lo=-mx, hi=mx)], -1)  # [n, k, 2]
    iy = ((cand[..., 0] + h / s / 2) * s).long().clamp(0, h - 1)
    ix = ((cand[..., 1] + w / s / 2) * s).long().clamp(0, w - 1)
    score = energy[torch.arange(n)[:, None], 0, iy, ix]
    return cand[torch.arange(n), score.argmax(1)]


def make(family: str, photo: torch.Tensor, other: torch.Tensor, third: torch.Tensor, gen: torch.Generator,
         shift: float = 0.3) -> dict[str, torch.Tensor]:
    """One batch of composites of ``family`` from three batches of different photos [n, 3, h, w] in [0, 1]:
    ``photo`` is the scene, ``other`` what the paste covers (affine, lighting) or the object's photo (seam, cut),
    ``third`` the object's own background (seam, cut). Returns src, dst, mask [n, 1, h, w] and truth."""
    n, _, h, w = photo.shape
    if family in ("affine", "lighting"):
        light = affine_shift(n, gen, shift) if family == "affine" else lighting_field(n, h, w, gen)
        mask = box_or_ellipse(n, h, w, gen) if family == "affine" else (blob(n, h, w, gen, size=(0.15, 0.3))[0] < 1).float()
        covered = mask * other + (1 - mask) * photo
        truth, dst = relight(photo, **light), relight(covered, **light)
        return {"src": photo, "dst": dst, "mask": mask, "truth": truth}
    if family not in ("seam", "cut"):
        raise ValueError(f"unknown composite family {family!r}; known: {', '.join(FAMILIES)}")
    light_d, light_s = lighting_field(n, h, w, gen), lighting_field(n, h, w, gen, strength=0.25)
    centre = _textured_centres(photo, gen)
    radius, scale = blob(n, h, w, gen, centre=centre, size=(0.1, 0.22))
    alpha = ((1 - radius) * scale.view(n, 1, 1, 1) + 0.5).clamp(0, 1)       # about one pixel of anti-aliasing
    margin = _u(gen, n, 1, 1, 1, lo=0.08, hi=0.3)
    mask = (radius < 1 + margin).float()
    if family == "cut":
        y, x = _grid(n, h, w, "cpu")
        ang = _u(gen, n, 1, 1, 1, hi=2 * math.pi)
        side = (torch.cos(ang) * (x - centre[:, 1].view(n, 1, 1, 1)) + torch.sin(ang) * (y - centre[:, 0].view(n, 1, 1, 1)))
        cut_at = _u(gen, n, 1, 1, 1, lo=-0.5, hi=0.5) * scale.view(n, 1, 1, 1) / max(h, w)
        mask = mask * (side < cut_at).float()
    src = relight(alpha * other + (1 - alpha) * third, **light_s)
    kept = alpha * mask
    truth = relight(kept * other + (1 - kept) * photo, **light_d)
    return {"src": src, "dst": relight(photo, **light_d), "mask": mask, "truth": truth}
