"""Each adversarial loss and penalty against values worked out by hand."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from ganforge import losses


@pytest.mark.parametrize("kind, real, fake, expected", [
    ("ns", 0.0, 0.0, 2 * math.log(2)),
    ("ns", 20.0, -20.0, 0.0),
    ("hinge", 0.0, 0.0, 2.0),
    ("hinge", 1.5, -1.5, 0.0),        # margins met: no loss
    ("wgan-gp", 3.0, 1.0, -2.0),
    ("lsgan", 1.0, 0.0, 0.0),
    ("lsgan", 0.0, 1.0, 1.0),
])
def test_discriminator_losses(kind, real, fake, expected):
    value = losses.d_loss(kind, torch.full((4, 1), real), torch.full((4, 1), fake))
    assert float(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("kind, fake, expected", [
    ("ns", 0.0, math.log(2)), ("hinge", 2.0, -2.0), ("wgan-gp", -1.0, 1.0), ("lsgan", 1.0, 0.0),
])
def test_generator_losses(kind, fake, expected):
    assert float(losses.g_loss(kind, torch.full((3,), fake))) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("kind", losses.LOSSES)
def test_gradients_push_real_up_fake_down_and_generator_towards_real(kind):
    real, fake = torch.zeros(8, requires_grad=True), torch.zeros(8, requires_grad=True)
    losses.d_loss(kind, real - 0.5, fake + 0.5).backward()  # away from the optimum of every loss
    assert (real.grad < 0).all() and (fake.grad > 0).all()  # descent raises real logits, lowers fake
    g = torch.zeros(8, requires_grad=True)
    losses.g_loss(kind, g - 0.5).backward()
    assert (g.grad < 0).all()  # descent raises D's opinion of the fakes


def test_losses_are_computed_in_float32_from_bf16_logits():
    value = losses.d_loss("ns", torch.zeros(4, dtype=torch.bfloat16), torch.zeros(4, dtype=torch.bfloat16))
    assert value.dtype == torch.float32


def test_unknown_loss_is_rejected():
    with pytest.raises(ValueError, match="unknown loss 'wasserstein'"):
        losses.d_loss("wasserstein", torch.zeros(1), torch.zeros(1))


def linear_critic(weight: list[float]) -> nn.Linear:
    critic = nn.Linear(len(weight), 1, bias=True)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([weight]))
    return critic


def test_r1_penalty_of_a_linear_discriminator_is_its_squared_weight_norm():
    critic = linear_critic([3.0, 4.0])
    x = torch.randn(16, 2, requires_grad=True)
    penalty = losses.r1_penalty(critic(x), x)
    assert float(penalty.detach()) == pytest.approx(25.0)
    penalty.backward()  # differentiable w.r.t. D's weights (create_graph): d/dw |w|^2 = 2w
    torch.testing.assert_close(critic.weight.grad, torch.tensor([[6.0, 8.0]]))


def test_gradient_penalty_is_zero_for_a_unit_norm_critic_and_positive_otherwise():
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    gen = torch.Generator().manual_seed(0)
    assert float(losses.gradient_penalty(linear_critic([0.6, 0.8]), real, fake, gen).detach()) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.gradient_penalty(linear_critic([3.0, 4.0]), real, fake, gen)) == pytest.approx(16.0)


def test_contrastive_matching_rows_score_low_and_hard_negatives_count():
    a = torch.eye(4)
    assert float(losses.contrastive(a, a, 20.0)) < 1e-6                     # each row matches only itself
    assert float(losses.contrastive(a, a.roll(1, 0), 20.0)) > 10            # every row matches another one
    b = a.clone()
    b[1] = b[0]                                                              # rows 0 and 1 are one caption twice
    same = torch.zeros(4, 4, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True
    assert float(losses.contrastive(b, b, 20.0, same)) < 1e-6
    assert float(losses.contrastive(b, b, 20.0)) == pytest.approx(0.5 * math.log(2), abs=1e-4)   # 2 rows of 4 tied
    # a hard negative as close as the positive costs log 2 in that direction; masked off, nothing
    hard = a.clone()
    assert float(losses.contrastive(a, a, 20.0, hard=hard)) == pytest.approx(0.5 * math.log(2), abs=1e-4)
    off = torch.zeros(4, dtype=torch.bool)
    assert float(losses.contrastive(a, a, 20.0, hard=hard, has_hard=off)) < 1e-6
