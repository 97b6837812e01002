"""Differentiable augmentation: shapes, gradients, determinism, what each transform does."""
from __future__ import annotations

import pytest
import torch

from ganforge.augment import DiffAugment, color, cutout, translation


def batch(n=8, c=3, size=16, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_gradients_flow_through_every_transform(policy):
    x = batch().requires_grad_(True)
    y = DiffAugment(policy)(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gradient_matches_finite_differences():
    x = batch(n=2, c=3, size=8).double().requires_grad_(True)
    aug = DiffAugment("color,translation,cutout")
    assert torch.autograd.gradcheck(lambda t: aug(t, torch.Generator().manual_seed(3)), (x,))


def test_same_generator_same_transform_and_different_seeds_differ():
    x, aug = batch(), DiffAugment()
    a = aug(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, aug(x, torch.Generator().manual_seed(5)))
    assert not torch.equal(a, aug(x, torch.Generator().manual_seed(6)))


def test_translation_shifts_content_and_fills_with_zero():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    y = translation(x, torch.Generator().manual_seed(0))
    positions = y.flatten(1).argmax(1)
    assert len(set(positions.tolist())) > 10  # the dot moved, by different amounts per image
    rows, cols = positions // 16, positions % 16
    assert ((rows - 8).abs() <= 2).all() and ((cols - 8).abs() <= 2).all()  # at most 1/8 of the side
    assert torch.equal(y.sum((1, 2, 3)), torch.ones(64))  # moved, not blurred


def test_cutout_zeroes_a_quarter_of_the_image_when_inside():
    y = cutout(torch.ones(200, 1, 16, 16), torch.Generator().manual_seed(0))
    cut = (y == 0).float().mean((1, 2, 3))
    assert cut.max() == pytest.approx(0.25) and (cut > 0).all()


def test_color_changes_brightness_per_image_but_keeps_grey_images_grey():
    x = batch(c=1)
    y = color(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.allclose(y, x)
    rgb = batch(c=1).repeat(1, 3, 1, 1)  # grey stored as RGB stays grey under saturation
    z = color(rgb, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z[:, 0], z[:, 1])


def test_probability_zero_is_identity_and_state_round_trips():
    aug = DiffAugment(p=0.0)
    x = batch()
    assert torch.equal(aug(x, torch.Generator().manual_seed(0)), x)
    other = DiffAugment()
    other.load_state_dict(aug.state_dict())
    assert other.p == 0.0


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        DiffAugment("color,rotate")
