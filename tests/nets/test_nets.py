"""Both architectures at every supported size: shapes, output range, gradients."""
from __future__ import annotations

import pytest
import torch

from ganforge import nets


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(arch, size, channels):
    G = nets.build("G", arch=arch, z_dim=16, size=size, channels=channels, width=8)
    D = nets.build("D", arch=arch, size=size, channels=channels, width=8)
    x = G(torch.randn(2, 16))
    assert x.shape == (2, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    logits = D(x)
    assert logits.shape[0] == 2 and logits.numel() == 2
    logits.sum().backward()
    assert all(p.grad is not None for p in G.parameters())


def test_both_architectures_are_registered_and_unknown_ones_rejected():
    assert {"dcgan", "resnet"} <= set(nets.archs())
    with pytest.raises(ValueError, match="unknown architecture 'stylegan9'"):
        nets.build("G", arch="stylegan9", size=32)


@pytest.mark.parametrize("arch", nets.archs())
def test_bf16_autocast_training_forward_runs_and_stays_finite(arch):
    # in training mode (the style generator then updates its running mean of w, a float32 buffer, from bf16
    # activations: this failed on CUDA's bf16 autocast before)
    G = nets.build("G", arch=arch, z_dim=16, size=32, channels=3, width=16).train()
    D = nets.build("D", arch=arch, size=32, channels=3, width=16).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = D(G(torch.randn(4, 16)))
    logits = logits[0] if isinstance(logits, tuple) else logits
    assert torch.isfinite(logits.float()).all()
    assert all(b.dtype == torch.float32 for b in G.buffers() if b.is_floating_point())
