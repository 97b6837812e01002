"""Adversarial losses and gradient penalties.

Every loss takes discriminator logits (any shape, reduced by mean) and returns a scalar. The
relativistic pairing loss ("rpgan") compares each real sample with the fake sample it is paired
with, so its generator loss needs the real logits too (:func:`g_loss`'s ``real``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

LOSSES = ("ns", "hinge", "wgan-gp", "lsgan")
#: losses on (real, fake) pairs: the generator's loss needs D's logits for the paired real samples
PAIRED_LOSSES = ("rpgan",)


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss: real logits should go up, fake logits down."""
    real, fake = real.float(), fake.float()
    if kind == "ns":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind == "rpgan":
        return F.softplus(-(real - fake)).mean()
    raise ValueError(f"unknown loss {kind!r}; known: {', '.join(LOSSES + PAIRED_LOSSES)}")


def g_loss(kind: str, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """Generator loss on the discriminator's logits for generated samples (and, for "rpgan", for the real
    samples they are paired with: element i of ``real`` with element i of ``fake``)."""
    fake = fake.float()
    if kind == "rpgan":
        if real is None:
            raise ValueError("the rpgan generator loss needs the paired real logits (real=...)")
        return F.softplus(-(fake - real.float())).mean()
    if kind == "ns":
        return F.softplus(-fake).mean()
    if kind in ("hinge", "wgan-gp"):
        return -fake.mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1.0) ** 2).mean()
    raise ValueError(f"unknown loss {kind!r}; known: {', '.join(LOSSES + PAIRED_LOSSES)}")


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean squared gradient norm of D at real samples (Mescheder et al. 2018).

    ``real`` must have ``requires_grad`` set before D is evaluated on it.
    """
    return zero_centred_penalty(real_logits, real)


def zero_centred_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``E ||grad_x D(x)||^2`` over the batch: R1 when ``inputs`` are real samples, R2 when they are generated
    ones (Roth et al. 2017; R3GAN uses both). ``inputs`` must have ``requires_grad`` set before D ran on them."""
    (grad,) = torch.autograd.grad(logits.float().sum(), inputs, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


#: ``gamma = A * (size / 64) ** B * (batch / 256) ** C``: a least-squares fit, in log space, to the starting
#: gammas of R3GAN's five presets (brownvc/R3GAN train.py: CIFAR-10 32 px batch 512: 0.05; FFHQ 64 px batch 256:
#: 2; FFHQ 256 px batch 256: 150; ImageNet 32 px batch 4096: 0.5; ImageNet 64 px batch 4096: 1). The fit is
#: within a factor 2.7 of every preset; resolution dominates (gamma ~ size^3.5), the batch barely matters.
RPGAN_GAMMA_FIT = (1.12, 3.49, 0.232)


def rpgan_gamma(size: int, batch: int) -> float:
    """The R1/R2 weight for the rpgan loss at image side ``size`` and total batch ``batch`` (see
    :data:`RPGAN_GAMMA_FIT`), rounded to 2 significant digits. R3GAN also anneals gamma to a tenth over 20M
    images; ganforge keeps it constant (CPU budgets see a few hundred thousand images)."""
    a, b, c = RPGAN_GAMMA_FIT
    value = a * (size / 64) ** b * (max(batch, 1) / 256) ** c
    digits = 1 - int(math.floor(math.log10(value)))
    return round(value, digits)


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP: (||grad critic(x_hat)|| - 1)^2 on random interpolates (Gulrajani et al. 2017)."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, generator=generator).to(real.device, real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).float().sum(), x_hat, create_graph=True)
    return (grad.float().flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def contrastive(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor | float,
                same: torch.Tensor | None = None, hard: torch.Tensor | None = None,
                has_hard: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP, DAMSM, XMC-GAN): row i of ``a`` [N, C] should match row i of ``b`` [N, C]
    better than every other row, by cosine similarity times ``scale``. ``same`` [N, N] (bool, optional)
    marks pairs that are equal too (a caption drawn twice): they are not counted as negatives. ``hard``
    [N, C] (optional): one more negative for row i of ``a`` (e.g. its caption with one word changed), where
    ``has_hard`` [N] (bool, optional) is true."""
    a, b = F.normalize(a.float(), dim=1), F.normalize(b.float(), dim=1)
    logits = a @ b.t() * scale
    if same is not None:
        eye = torch.eye(len(logits), dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(same.to(logits.device) & ~eye, float("-inf"))
    target = torch.arange(len(logits), device=logits.device)
    to_b = logits
    if hard is not None:
        extra = (a * F.normalize(hard.float(), dim=1)).sum(1, keepdim=True) * scale
        if has_hard is not None:
            extra = extra.masked_fill(~has_hard.to(extra.device)[:, None], float("-inf"))
        to_b = torch.cat([logits, extra], 1)
    return 0.5 * (F.cross_entropy(to_b, target) + F.cross_entropy(logits.t(), target))
