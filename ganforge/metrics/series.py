"""Time-series metrics in the TimeGAN protocol (Yoon et al. 2019), plus an autocorrelation comparison.

- **discriminative score**: a post-hoc GRU classifier (hidden = F / 2, at least 2) is trained to tell
  real from synthetic series on 80% of each and tested on the other 20%; the score is |accuracy - 0.5|
  (0 = indistinguishable).
- **predictive score**: a post-hoc GRU trained on synthetic series to predict the last feature one step
  ahead from the other features; the score is its mean absolute error on real series (lower is better).
  With one feature, the feature predicts itself one step ahead.
- **autocorrelation**: mean absolute difference of per-feature autocorrelations (lags 1..10).

Inputs are float arrays (N, T, F), here assumed already in [0, 1] as in the paper (scale them first).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn


class _GRUHead(nn.Module):
    def __init__(self, features: int, hidden: int, out: int):
        super().__init__()
        self.rnn = nn.GRU(features, hidden, batch_first=True)
        self.out = nn.Linear(hidden, out)

    def forward(self, x):
        h, last = self.rnn(x)
        return h, last[-1]


def discriminative_score(real: np.ndarray, synth: np.ndarray, iterations: int = 2000, batch: int = 128,
                         seed: int = 0) -> float:
    """|test accuracy - 0.5| of a GRU telling real (1) from synthetic (0)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    r, s = torch.as_tensor(real, dtype=torch.float32), torch.as_tensor(synth, dtype=torch.float32)
    n = min(len(r), len(s))
    r, s = r[torch.randperm(len(r), generator=g)[:n]], s[torch.randperm(len(s), generator=g)[:n]]
    cut = int(0.8 * n)
    xtr = torch.cat([r[:cut], s[:cut]])
    ytr = torch.cat([torch.ones(cut), torch.zeros(cut)])
    xte = torch.cat([r[cut:], s[cut:]])
    yte = torch.cat([torch.ones(n - cut), torch.zeros(n - cut)])
    f = r.shape[2]
    net = _GRUHead(f, max(2, f // 2), 1)
    opt = torch.optim.Adam(net.parameters())
    for _ in range(iterations):
        idx = torch.randint(len(xtr), (batch,), generator=g)
        _, last = net(xtr[idx])
        loss = nn.functional.binary_cross_entropy_with_logits(net.out(last)[:, 0], ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        _, last = net(xte)
        acc = ((net.out(last)[:, 0] > 0).float() == yte).float().mean().item()
    return abs(acc - 0.5)


def predictive_score(real: np.ndarray, synth: np.ndarray, iterations: int = 5000, batch: int = 128,
                     seed: int = 0) -> float:
    """MAE on real series of a GRU trained on synthetic ones to predict the last feature one step ahead."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    r, s = torch.as_tensor(real, dtype=torch.float32), torch.as_tensor(synth, dtype=torch.float32)
    f = r.shape[2]
    inputs = slice(0, f - 1) if f > 1 else slice(0, 1)

    def split(x):
        return x[:, :-1, inputs], x[:, 1:, f - 1:]
    xs, ys = split(s)
    xr, yr = split(r)
    net = _GRUHead(xs.shape[2], max(2, f // 2), 1)
    opt = torch.optim.Adam(net.parameters())
    for _ in range(iterations):
        idx = torch.randint(len(xs), (batch,), generator=g)
        h, _ = net(xs[idx])
        loss = (torch.sigmoid(net.out(h)) - ys[idx]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        h, _ = net(xr)
        return float((torch.sigmoid(net.out(h)) - yr).abs().mean())


def autocorrelation_gap(real: np.ndarray, synth: np.ndarray, lags: int = 10) -> float:
    """Mean |ACF_real - ACF_synth| over features and lags 1..lags (series pooled per feature)."""
    def acf(x):
        x = x - x.mean(1, keepdims=True)
        var = (x ** 2).sum(1)
        out = []
        for k in range(1, min(lags, x.shape[1] - 1) + 1):
            out.append(((x[:, k:] * x[:, :-k]).sum(1) / np.maximum(var, 1e-12)).mean(0))
        return np.array(out)
    return float(np.abs(acf(np.asarray(real, float)) - acf(np.asarray(synth, float))).mean())


__all__ = ["discriminative_score", "predictive_score", "autocorrelation_gap"]
