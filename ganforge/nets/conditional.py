"""Class-conditioning layers: conditional batch norm (generator) and the projection term (discriminator).

Conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018) normalises with shared statistics
and takes the scale and shift from a per-class embedding. The projection discriminator (Miyato &
Koyama 2018) adds ``<embed(y), phi(x)>`` to an unconditional logit (:func:`projection`; text-to-image
projects a sentence embedding the same way).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from .registry import register


@register
class CondBatchNorm2d(nn.Module):
    """Batch norm without its own affine part; per-class scale (init 1) and shift (init 0)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.bn(x)
        return h * self.gamma(y)[:, :, None, None].to(h.dtype) + self.beta(y)[:, :, None, None].to(h.dtype)


def need_labels(y: torch.Tensor | None, n: int, num_classes: int) -> torch.Tensor:
    """The class labels a conditional network was given, checked: int64 of shape [n]."""
    if y is None:
        raise ValueError(f"this network is conditional on {num_classes} classes: pass labels y")
    return y.long().view(n)


def class_output(net: nn.Module, out: torch.Tensor, phi: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """A discriminator's output for its class setting, from its logit ``out`` [N, 1] and features ``phi``
    [N, C]: the logit alone (unconditional), ``[logit, class logits]`` (``cond="acgan"``: ``net.aux``), or the
    logit plus the projection ``<net.embed(y), phi>``."""
    if not net.num_classes:
        return out
    if net.cond == "acgan":
        return torch.cat([out, net.aux(phi)], dim=1)
    y = need_labels(y, phi.shape[0], net.num_classes)
    return projection(out, phi, net.embed(y))


def projection(out: torch.Tensor, phi: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """The projection discriminator's output: the logit ``out`` [N, 1] plus ``<e, phi>``, where ``e`` [N, C] is
    the condition's embedding (a class's row, or a projected sentence) and ``phi`` [N, C] the image features."""
    return out + (e.to(phi.dtype) * phi).sum(1, keepdim=True)
