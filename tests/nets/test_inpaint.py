"""The inpainting networks: the harmonic fill, the FFC inpainter (starts at the fill), the multi-scale PatchGAN."""
from __future__ import annotations

import torch

from ganforge.nets import registry
from ganforge.nets.inpaint import FFCInpainter, FourierUnit, MultiScalePatchGAN, _dft, harmonic_fill

torch.set_num_threads(1)


def hole(h=32, w=40):
    m = torch.zeros(1, 1, h, w)
    m[..., 8:20, 10:30] = 1
    return m


def test_harmonic_fill_keeps_known_pixels_and_continues_a_ramp():
    h, w = 32, 40
    ramp = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(1, 3, h, w).contiguous()
    m = hole(h, w)
    out = harmonic_fill(ramp * (1 - m), 1 - m)
    known = (m == 0).expand_as(ramp)
    assert torch.equal(out[known], ramp[known])
    assert (out[~known] - ramp[~known]).abs().max() < 0.01   # a ramp is harmonic: the fill continues it
    flat = harmonic_fill(torch.full((2, 3, 21, 13), 0.3) * (1 - hole(21, 13)), 1 - hole(21, 13))  # odd sizes
    assert flat.shape == (2, 3, 21, 13) and torch.allclose(flat, torch.full_like(flat, 0.3), atol=1e-5)


def test_untrained_inpainter_is_the_harmonic_fill_and_rebuilds_by_name():
    G = FFCInpainter(width=16, blocks=2)
    x = torch.rand(2, 3, 32, 40) * 2 - 1
    m = hole().expand(2, 1, 32, 40)
    inp = torch.cat([x * (1 - m), m * 2 - 1], 1)
    with torch.no_grad():
        y = G(inp)
    assert y.shape == (2, 3, 32, 40) and G.multiple == 4
    assert torch.allclose(y, harmonic_fill(x * (1 - m), 1 - m), atol=1e-6)
    tensors, specs = registry.export({"G": G})
    assert specs["G"]["class"] == "inpaint.FFCInpainter"


def test_fourier_unit_sees_the_whole_image():
    """The DFT matrices are the orthonormal DFT; one Fourier unit spreads a single pixel everywhere."""
    x = torch.randn(1, 2, 6, 10)
    ch, sh = _dft(6, x)
    cw, sw = _dft(10, x)
    f = torch.fft.fft2(x, norm="ortho")
    ar, ai = x @ cw, -(x @ sw)
    assert torch.allclose(ch @ ar + sh @ ai, f.real, atol=1e-5) and torch.allclose(ch @ ai - sh @ ar, f.imag, atol=1e-5)
    torch.manual_seed(0)
    fu = FourierUnit(2)
    impulse = torch.zeros(1, 2, 16, 16)
    impulse[..., 3, 3] = 1
    with torch.no_grad():
        y = fu(impulse)
    assert (y[..., 12:, 12:].abs() > 1e-4).any()   # far from the impulse: a 3x3 convolution would give 0


def test_multiscale_patchgan_logits_and_features():
    D = MultiScalePatchGAN(in_channels=3, width=8, layers=3)
    logits, feats = D.features(torch.randn(2, 3, 64, 64))
    assert len(logits) == 2 and all(t.shape[:2] == (2, 1) for t in logits)
    assert len(feats) == 4 + 3 and all(f.shape[0] == 2 for f in feats)
    assert [t.shape for t in D(torch.randn(2, 3, 64, 64))] == [t.shape for t in logits]
