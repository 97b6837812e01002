"""PSNR and SSIM against scikit-image on Set5 photos and degraded copies of them (blur, noise, JPEG),
in RGB and on the BT.601 Y channel with a border crop."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ganforge.errors import ConfigError, DataError
from ganforge.metrics.quality import psnr, rgb_to_y, ssim
from tests.shared import DATA, needs

SET5 = DATA / "set5"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def degrade(img: np.ndarray, kind: str, seed: int) -> np.ndarray:
    if kind == "blur":
        return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(1.5)))
    if kind == "noise":
        noisy = img + np.random.default_rng(seed).normal(0, 12, img.shape)
        return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=20)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, original, degraded) for the five photos; each photo gets one of the three degradations."""
    out = []
    for i, path in enumerate(sorted(SET5.glob("*.png"))):
        img = np.asarray(Image.open(path).convert("RGB"))
        kind = ("blur", "noise", "jpeg")[i % 3]
        out.append((f"{path.stem}-{kind}", img, degrade(img, kind, i)))
    assert len(out) == 5
    return out


def sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=data_range, channel_axis=-1 if a.ndim == 3 else None)


@needs(SET5)
def test_rgb_psnr_and_ssim_match_scikit_image(pairs):
    originals, degraded = [p[1] for p in pairs], [p[2] for p in pairs]
    ours_psnr, ours_ssim = psnr(originals, degraded), ssim(originals, degraded)   # a list: mixed sizes
    for i, (name, a, b) in enumerate(pairs):
        assert ours_psnr.values[i] == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-3), name
        assert ours_ssim.values[i] == pytest.approx(sk_ssim(a, b, 255), abs=1e-3), name
    assert ours_ssim.mean == pytest.approx(np.mean(ours_ssim.values))
    assert 15 < ours_psnr.mean < 40 and 0.3 < ours_ssim.mean < 0.99      # degraded, not destroyed


@needs(SET5)
def test_y_channel_psnr_and_ssim_with_border_crop_match_scikit_image(pairs):
    c = 4
    for name, a, b in pairs:
        ya, yb = rgb_to_y(a)[c:-c, c:-c], rgb_to_y(b)[c:-c, c:-c]
        assert psnr(a, b, crop_border=c, y_channel=True).mean == pytest.approx(
            peak_signal_noise_ratio(ya, yb, data_range=255), abs=1e-3), name
        assert ssim(a, b, crop_border=c, y_channel=True).mean == pytest.approx(sk_ssim(ya, yb, 255), abs=1e-3), name


@needs(SET5)
def test_y_channel_is_bt601_studio_swing(pairs):
    img = pairs[1][1]
    # skimage's rgb2ycbcr: the same BT.601 matrix, Y on the 8-bit scale, for floats in [0, 1]
    np.testing.assert_allclose(rgb_to_y(img), rgb2ycbcr(img / 255.0)[..., 0], atol=1e-9)
    assert rgb_to_y(img / 255.0, data_range=1.0) == pytest.approx(rgb_to_y(img) / 255.0)
    corners = np.array([[[0, 0, 0], [255, 255, 255]], [[255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(corners), [[16.0, 235.0], [16 + 65.481, 16 + 24.966]], atol=1e-9)


@needs(SET5)
def test_layouts_scales_and_batches_agree(pairs):
    _, a, b = pairs[3]                          # 280 x 280
    ref_p, ref_s = psnr(a, b, y_channel=True, crop_border=2), ssim(a, b, y_channel=True, crop_border=2)
    # floats in [0, 1]; ganforge tensors in [-1, 1] (NCHW); an NHWC batch of two
    ta, tb = (torch.tensor(x).permute(2, 0, 1)[None] / 127.5 - 1 for x in (a, b))
    for x, y, rng, tol in [(a / 255.0, b / 255.0, 1.0, 1e-9), (ta, tb, (-1, 1), 1e-5)]:   # tensors: float32
        assert psnr(x, y, rng, 2, True).mean == pytest.approx(ref_p.mean, abs=tol)
        assert ssim(x, y, rng, 2, True).mean == pytest.approx(ref_s.mean, abs=tol)
    batch = ssim(np.stack([a, a]), np.stack([b, a]))
    assert batch.values == pytest.approx([ssim(a, b).mean, 1.0])
    grey = ssim(a[..., 0], b[..., 0], y_channel=True)          # one channel: measured as it is
    assert grey.mean == pytest.approx(sk_ssim(a[..., 0], b[..., 0], 255), abs=1e-9)


def test_known_values():
    a = np.full((20, 30, 3), 100, dtype=np.uint8)
    b = a + 5
    assert psnr(a, b).mean == pytest.approx(10 * np.log10(255 ** 2 / 25))
    assert psnr(a, a).mean == np.inf
    assert ssim(a, a).mean == pytest.approx(1.0)


def test_clear_errors():
    a = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(DataError, match="differ in shape"):
        psnr(a, a[:16])
    with pytest.raises(DataError, match="at least 11x11"):
        ssim(a, a, crop_border=11)
    with pytest.raises(ConfigError, match="data_range"):
        psnr(a + 200, a, data_range=1.0)
    with pytest.raises(DataError, match="NaN"):
        psnr(np.full((8, 8), np.nan), np.zeros((8, 8)), data_range=1.0)
    with pytest.raises(DataError, match="1 or 3 channels"):
        psnr(np.zeros((8, 8, 4)), np.zeros((8, 8, 4)))
    with pytest.raises(ConfigError, match="crop_border"):
        psnr(a, a, crop_border=-1)
