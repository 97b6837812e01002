"""Synthetic degradations: seeded, the promised statistics, masks of the right kind."""
from __future__ import annotations

import numpy as np
import pytest

from ganforge.data import degrade
from ganforge.errors import ConfigError, DataError


def image(h=64, w=64, seed=0):
    rng = np.random.default_rng(seed)
    base = np.linspace(40, 200, w, dtype=np.float32)[None, :, None].repeat(h, 0).repeat(3, 2)
    return np.clip(base + rng.normal(0, 5, (h, w, 3)), 0, 255).astype(np.uint8)


def test_seeded_and_levels():
    im = image()
    d = degrade.Degradation("denoise", level=25)
    a, _ = d(im, np.random.default_rng(1))
    b, _ = d(im, np.random.default_rng(1))
    c, _ = d(im, np.random.default_rng(2))
    assert (a == b).all() and not (a == c).all()
    assert abs(float((a - im).std()) - 25) < 1.5      # mid-grey image: clipping is rare
    p = degrade.poisson_noise(im, 10, np.random.default_rng(0))
    q = degrade.poisson_noise(im, 1000, np.random.default_rng(0))
    assert (p - im).std() > 3 * (q - im).std()        # a lower peak is noisier


def test_superres_sizes_and_bad_scale():
    lr, _ = degrade.Degradation("superres", scale=4)(image(64, 48), np.random.default_rng(0))
    assert lr.shape == (16, 12, 3) and (lr == np.rint(lr)).all()
    with pytest.raises(DataError, match=r"size 50x64 is not a multiple of the scale 4"):
        degrade.downscale(image(64, 50), 4)
    with pytest.raises(ConfigError, match="scale must be 2, 3, 4 or 8"):
        degrade.Degradation("superres", scale=5)


def test_masks_rain_blur_colorize():
    rng = np.random.default_rng(0)
    for kind in ("rect", "free"):
        x, m = degrade.Degradation("inpaint", mask=kind)(image(), rng)
        assert m.shape == (64, 64) and 0.01 < m.mean() < 0.6 and set(np.unique(m)) <= {0.0, 1.0}
        assert (x[m == 1] == 0).all()
    assert degrade.centre_mask(8, 8).sum() == 16
    r = degrade.rain(image(), rng)
    assert (r >= image() - 1e-3).all() and (r - image()).mean() > 1     # rain only brightens
    blurred = degrade.gaussian_blur(image(), 2.0)
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(image().astype(np.float32), axis=1)).mean()
    g, _ = degrade.Degradation("colorize")(image(), rng)
    assert g.shape == (64, 64, 1)
    with pytest.raises(ConfigError, match="task must be one of"):
        degrade.Degradation("sharpen")


def test_large_masks_are_large_varied_and_seeded():
    rng = np.random.default_rng(0)
    cover = [degrade.large_mask(64, 64, rng).mean() for _ in range(60)]
    assert min(cover) >= 0.05 and max(cover) <= 0.7 and np.mean(cover) > 0.15
    assert np.mean(cover) > np.mean([degrade.free_form_mask(64, 64, rng).mean() for _ in range(60)])
    a = degrade.large_mask(64, 64, np.random.default_rng(3))
    assert (a == degrade.large_mask(64, 64, np.random.default_rng(3))).all()
    x, m = degrade.Degradation("inpaint", mask="large")(image(), np.random.default_rng(1))
    assert (x[m == 1] == 0).all()
    with pytest.raises(ConfigError, match="mask must be rect, free, mixed or large"):
        degrade.Degradation("inpaint", mask="huge")
