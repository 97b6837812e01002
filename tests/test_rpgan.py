"""The relativistic pairing loss (rpgan) and its zero-centred penalties (R1 on real, R2 on generated samples):
values worked out by hand on linear critics, where the task takes R2, the gamma rule, and whether rpgan
learns a 2-D mixture of 8 Gaussians with small MLPs."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge import losses

torch.set_num_threads(1)


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


@pytest.mark.parametrize("real, fake", [(0.0, 0.0), (2.0, -1.0), (-1.5, 0.5)])
def test_rpgan_losses_on_paired_logits(real, fake):
    r, f = torch.tensor([[real], [real + 1]]), torch.tensor([[fake], [fake - 1]])
    d = losses.d_loss("rpgan", r, f)
    g = losses.g_loss("rpgan", f, r)
    # pair i: D's loss softplus(-(D(x_i) - D(G(z_i)))), G's loss softplus(-(D(G(z_i)) - D(x_i)))
    assert float(d) == pytest.approx((softplus(-(real - fake)) + softplus(-(real - fake + 2))) / 2, rel=1e-6)
    assert float(g) == pytest.approx((softplus(real - fake) + softplus(real - fake + 2)) / 2, rel=1e-6)


def test_rpgan_depends_only_on_differences_and_pushes_the_right_way():
    r, f = torch.randn(16, 1), torch.randn(16, 1)
    assert torch.allclose(losses.d_loss("rpgan", r + 7, f + 7), losses.d_loss("rpgan", r, f))
    real, fake = r.clone().requires_grad_(True), f.clone().requires_grad_(True)
    losses.d_loss("rpgan", real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake_g = f.clone().requires_grad_(True)
    losses.g_loss("rpgan", fake_g, r).backward()
    assert (fake_g.grad < 0).all()
    with pytest.raises(ValueError, match="paired real logits"):
        losses.g_loss("rpgan", f)


def test_zero_centred_penalties_of_a_linear_critic():
    """D(x) = w.x + b: the gradient is w everywhere, so R1 = R2 = ||w||^2."""
    torch.manual_seed(0)
    w = torch.randn(5)
    x = torch.randn(7, 5, requires_grad=True)
    assert float(losses.r1_penalty(x @ w + 3.0, x)) == pytest.approx(float(w @ w), rel=1e-6)
    y = torch.randn(7, 5, requires_grad=True)
    assert float(losses.zero_centred_penalty(y @ w, y)) == pytest.approx(float(w @ w), rel=1e-6)


def test_penalty_of_a_quadratic_critic_and_its_gradient_wrt_the_weights():
    """D(x) = a * sum(x^2): grad = 2 a x, penalty = 4 a^2 mean ||x||^2, d penalty / da = 8 a mean ||x||^2."""
    a = torch.tensor(0.7, requires_grad=True)
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]], requires_grad=True)
    p = losses.zero_centred_penalty(a * x.pow(2).sum(1), x)
    norms = (5.0 + 1.0) / 2
    assert float(p.detach()) == pytest.approx(4 * 0.49 * norms)
    (grad_a,) = torch.autograd.grad(p, a)
    assert float(grad_a) == pytest.approx(8 * 0.7 * norms)


def test_gamma_rule_matches_its_documented_values():
    a, b, c = losses.RPGAN_GAMMA_FIT
    assert losses.rpgan_gamma(64, 256) == pytest.approx(a, rel=0.02)
    assert losses.rpgan_gamma(32, 64) == 0.072 and losses.rpgan_gamma(256, 64) == 100.0
    # within a factor 2.7 of every R3GAN preset it was fitted to
    for size, batch, gamma in ((32, 512, 0.05), (64, 256, 2), (256, 256, 150), (32, 4096, 0.5), (64, 4096, 1)):
        assert 1 / 2.7 < losses.rpgan_gamma(size, batch) / gamma < 2.7


class LinearCritic(nn.Module):
    """D(x) = w . x (flattened) + b; with ``labels`` ignored."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w.view(-1, 1) + self.b


@pytest.mark.parametrize("interval", [1, 2])
def test_the_image_task_takes_r1_on_real_and_r2_on_generated_samples(interval):
    """With a linear critic both penalties are ||w||^2; R2's input is the generated batch (its gradient
    flows to that batch), and the total is gamma / 2 * (R1 + R2)."""
    from ganforge.data.imageset import ImageSet
    from ganforge.tasks.generate import ImageGeneration, ImageOptions

    images = torch.randint(0, 256, (16, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    opt = ImageOptions(size=16, arch="dcgan", loss="rpgan", width=8, z_dim=4, augment="off", r1_gamma=0.5,
                       r1_interval=interval)
    task = ImageGeneration(opt, data=ImageSet(images, source="synthetic"))
    w = torch.randn(256, generator=torch.Generator().manual_seed(1))
    D = LinearCritic(w)
    seen = []
    G = task.modules["G"]
    gen = torch.Generator().manual_seed(2)
    x = task.sample_batch(4, gen, torch.device("cpu"))
    G_loss, _ = task.loss("G", x, {"G": G, "D": D}, gen)
    fake = task._fake
    orig = losses.zero_centred_penalty

    def spy(logits, inputs):
        seen.append(inputs.detach().clone())
        return orig(logits, inputs)

    losses.zero_centred_penalty = spy
    try:
        phase = "D" if interval == 1 else "D_reg"
        assert [p.name for p in task.phases] == (["G", "D"] if interval == 1 else ["G", "D", "D_reg"])
        loss, scalars = task.loss(phase, x, {"G": G, "D": D}, gen)
    finally:
        losses.zero_centred_penalty = orig
    ww = float(w @ w)
    assert float(scalars["r1"]) == pytest.approx(ww, rel=1e-5) and float(scalars["r2"]) == pytest.approx(ww, rel=1e-5)
    assert torch.equal(seen[-2], x) and torch.equal(seen[-1], fake)   # R1 on the reals, R2 on G's samples
    if interval == 2:
        assert float(loss.detach()) == pytest.approx(0.25 * 2 * ww, rel=1e-5)
    else:
        adv = losses.d_loss("rpgan", D(x), D(fake))
        assert float(loss.detach()) == pytest.approx(float(adv.detach()) + 0.25 * 2 * ww, rel=1e-5)


# ------------------------------------------------------------------------------------------------ does it learn
CENTRES = torch.tensor([[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)] for k in range(8)]) * 2.0


def mixture(n: int, gen: torch.Generator) -> torch.Tensor:
    k = torch.randint(8, (n,), generator=gen)
    return CENTRES[k] + 0.05 * torch.randn(n, 2, generator=gen)


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean())


def modes_covered(x: torch.Tensor) -> int:
    d = torch.cdist(x, CENTRES)
    near = d.min(1).values < 0.3
    counts = torch.bincount(d.argmin(1)[near], minlength=8)
    return int((counts >= 0.02 * len(x)).sum())


def mlp(i: int, o: int) -> nn.Module:
    return nn.Sequential(nn.Linear(i, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, o))


def test_rpgan_with_r1_r2_learns_eight_gaussians():
    torch.manual_seed(0)
    G, D = mlp(4, 2), mlp(2, 1)
    og = torch.optim.Adam(G.parameters(), 2e-3, betas=(0.0, 0.99))
    od = torch.optim.Adam(D.parameters(), 2e-3, betas=(0.0, 0.99))
    gen = torch.Generator().manual_seed(0)
    test_z = torch.randn(2000, 4, generator=torch.Generator().manual_seed(9))
    test_real = mixture(2000, torch.Generator().manual_seed(8))
    with torch.no_grad():
        before = energy_distance(G(test_z), test_real)
    gamma = 0.1
    for _ in range(600):
        real = mixture(128, gen).requires_grad_(True)
        fake = G(torch.randn(128, 4, generator=gen)).detach().requires_grad_(True)
        r, f = D(real), D(fake)
        d = losses.d_loss("rpgan", r, f) + gamma / 2 * (losses.zero_centred_penalty(r, real)
                                                        + losses.zero_centred_penalty(f, fake))
        od.zero_grad()
        d.backward()
        od.step()
        real = mixture(128, gen)
        fake = G(torch.randn(128, 4, generator=gen))
        g = losses.g_loss("rpgan", D(fake), D(real).detach())
        og.zero_grad()
        g.backward()
        og.step()
    with torch.no_grad():
        samples = G(test_z)
    after = energy_distance(samples, test_real)
    assert after < 0.1 * before, (before, after)
    assert modes_covered(samples) >= 6, modes_covered(samples)
    assert F.mse_loss(samples.mean(0), torch.zeros(2)) < 0.1
