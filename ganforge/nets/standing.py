"""Standing statistics: batch-norm statistics measured on a generator's own samples (BigGAN).

The EMA generator's weights never saw the running statistics they would inherit, so they are
recomputed on its own samples; sampling is then independent of the batch.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn


@torch.no_grad()
def standing_stats(G: nn.Module, inputs: Callable[[int, torch.Generator, torch.device], tuple],
                   batches: int = 8, batch: int = 128, seed: int = 0) -> nn.Module:
    """A copy of ``G`` in eval mode whose batch-norm statistics are averaged over ``batches`` forward
    passes of ``G(*inputs(batch, gen, device))``; ``G`` is returned as an eval copy if it has no batch norm."""
    G = copy.deepcopy(G)
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        device = next(G.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
        G.train()
        for _ in range(batches):
            G(*inputs(batch, gen, device))
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    return G.eval()
