"""Tiled inference: any size, and no seams (tiled == untiled for a convolutional network)."""
from __future__ import annotations

import torch

from ganforge.nets.unet import SRResNet
from ganforge.imaging.tiling import run_tiled


def test_tiled_equals_untiled_for_a_conv_net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 1, 1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, 1, 1))
    x = torch.randn(1, 3, 75, 101)   # not a multiple of the tile
    with torch.no_grad():
        whole, tiled = run_tiled(net, x, None), run_tiled(net, x, 32, 8)
    assert tiled.shape == whole.shape and (tiled - whole).abs().max() < 1e-5


def test_tiled_superres_scale_and_padding_multiple():
    torch.manual_seed(0)
    net = SRResNet(3, 8, 1, 2).eval()
    torch.nn.init.normal_(net.tail.weight, std=0.1)
    x = torch.randn(1, 3, 37, 53)
    with torch.no_grad():
        whole, tiled = run_tiled(net, x, None, scale=2), run_tiled(net, x, 24, 12, scale=2)
    assert tiled.shape == (1, 3, 74, 106)
    assert (tiled - whole).abs().max() < 0.05 * whole.abs().mean()
    seen = []
    run_tiled(lambda t: seen.append(tuple(t.shape[2:])) or t, torch.randn(1, 3, 30, 45), None, multiple=16)
    assert seen == [(32, 48)]
