"""The StyleGAN2 architecture (--arch style): shapes, W space, conditioning, and one short training run."""
from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge import nets

torch.set_num_threads(1)


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_shapes_gradients_and_w_space(size, num_classes):
    G = nets.build("G", arch="style", z_dim=8, size=size, channels=3, width=8, num_classes=num_classes)
    D = nets.build("D", arch="style", size=size, channels=3, width=8, num_classes=num_classes)
    y = torch.tensor([0, 2, 1]) if num_classes else None
    x = G(torch.randn(3, 8), y)
    assert x.shape == (3, 3, size, size)
    D(x, y).sum().backward()
    assert all(p.grad is not None for p in G.parameters())
    G.eval()
    z = torch.randn(2, 8)
    ws = G.ws(z, y[:2] if num_classes else None)
    assert ws.shape == (2, G.num_ws, 8) and G.num_ws == 2 * (size.bit_length() - 3) + 2
    out = G.synthesize(ws)
    assert out.min() >= -1 and out.max() <= 1 and torch.equal(out, G(z, y[:2] if num_classes else None))
    assert torch.equal(G.synthesize(ws), G.synthesize(ws))  # const noise outside training: deterministic


def test_w_avg_is_tracked_in_training_only():
    G = nets.build("G", arch="style", z_dim=8, size=16, channels=1, width=8)
    G(torch.randn(4, 8))
    moved = G.mapping.w_avg.clone()
    assert moved.abs().sum() > 0
    G.eval()
    G(torch.randn(4, 8))
    assert torch.equal(G.mapping.w_avg, moved)


def test_trains_with_arch_style(tmp_path):
    m = ganforge.train("image", data="builtin:shapes", out=tmp_path / "run", size=16, steps=2, batch=4, width=8,
                       z_dim=8, arch="style", precision="fp32", threads=1, progress=False, eval_every=1000,
                       checkpoint_every=1000)
    assert m.meta["nets"]["G"]["class"] == "stylegan2.StyleGAN2Generator"
    assert m.sample(2, seed=0, psi=0.7).shape == (2, 16, 16, 3)
