"""Time-series metrics in the TimeGAN protocol (Yoon et al. 2019), plus an autocorrelation comparison.

- **discriminative score**: a post-hoc GRU classifier (hidden = F / 2, at least 2) is trained to tell
  real from synthetic series on 80% of each and tested on the other 20%; the score is |accuracy - 0.5|
  (0 = indistinguishable).
- **predictive score**: a post-hoc GRU trained on synthetic series to predict the last feature one step
  ahead from the other features; the score is its mean absolute error on real series (lower is better).
  With one feature, the feature predicts itself one step ahead.
- **autocorrelation**: mean absolute difference of per-feature autocorrelations (lags 1..10).
- **cross-correlation**: mean absolute difference of the correlations between features (same step, series
  pooled), over feature pairs; None with one feature.

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
    return float(np.abs(_acf(np.asarray(real, float), lags) - _acf(np.asarray(synth, float), lags)).mean())


def cross_correlation_gap(real: np.ndarray, synth: np.ndarray) -> float | None:
    """Mean |corr_real - corr_synth| over feature pairs (Pearson, all steps of all series pooled); None for
    one feature."""
    f = np.asarray(real).shape[2]
    if f < 2:
        return None
    upper = np.triu_indices(f, 1)
    corr = [np.nan_to_num(np.corrcoef(np.asarray(x, float).reshape(-1, f), rowvar=False))[upper] for x in (real, synth)]
    return float(np.abs(corr[0] - corr[1]).mean())


def _acf(x: np.ndarray, lags: int) -> np.ndarray:
    """Per-feature autocorrelation at lags 1..lags, series pooled: (lags, F)."""
    x = x - x.mean(1, keepdims=True)
    var = (x ** 2).sum(1)
    return np.array([((x[:, k:] * x[:, :-k]).sum(1) / np.maximum(var, 1e-12)).mean(0)
                     for k in range(1, min(lags, x.shape[1] - 1) + 1)])


ITERATIONS = (2000, 5000)   # training iterations of the discriminative and predictive GRUs (the protocol's)


def report(real: np.ndarray, synth: np.ndarray, features: list[str] | None = None, *, lags: int = 10,
           iterations: tuple[int, int] | None = None, seed: int = 0) -> dict:
    """Discriminative, predictive and autocorrelation scores of ``synth`` against ``real`` (both (N, T, F)
    in the same units); both are scaled to [0, 1] by the real data's per-feature range first."""
    iterations = iterations or ITERATIONS
    real, synth = np.asarray(real, np.float64), np.asarray(synth, np.float64)
    if real.ndim != 3 or synth.ndim != 3 or real.shape[1:] != synth.shape[1:]:
        raise ValueError(f"real and synthetic series must have one shape (N, T, F); got {real.shape} and {synth.shape}")
    lo, hi = real.min((0, 1)), real.max((0, 1))
    span = np.where(hi > lo, hi - lo, 1.0)
    r, s = (real - lo) / span, (synth - lo) / span
    features = features or [f"f{i}" for i in range(real.shape[2])]
    acf_r, acf_s = _acf(r, lags), _acf(s, lags)
    return {
        "series": {"real": int(len(r)), "synthetic": int(len(s)), "length": int(r.shape[1]), "features": features},
        "discriminative_score": discriminative_score(r, s, iterations[0], seed=seed),
        "predictive_score": {"synthetic": predictive_score(r, s, iterations[1], seed=seed),
                             "real": predictive_score(r, r, iterations[1], seed=seed)},
        "autocorrelation_gap": float(np.abs(acf_r - acf_s).mean()),
        "cross_correlation_gap": cross_correlation_gap(r, s),
        "autocorrelation": {"real": acf_r.T.round(4).tolist(), "synthetic": acf_s.T.round(4).tolist()},
        "notes": "discriminative: |accuracy - 0.5| of a post-hoc GRU (0 is best); predictive: one-step-ahead MAE "
                 "on real series of a GRU trained on synthetic ones ('real': trained on real, the reference); "
                 "values scaled to [0, 1] by the real range (TimeGAN protocol)",
    }


def report_files(real_path: str, synth_path: str, id_col: str = "series_id", time_col: str = "time",
                 seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    """:func:`report` on two series files (long CSV, .npy, .npz), in the real data's units. Series of
    different lengths are cut to the shortest one (stated in the result)."""
    from ..data.series import load_series

    sets = [load_series(str(p), None, id_col, time_col, "label") for p in (real_path, synth_path)]
    if sets[0].features != sets[1].features:
        raise ValueError(f"{synth_path}: features {sets[1].features} differ from the real ones {sets[0].features}")
    length = int(min(int(d.lengths.min()) for d in sets))
    arrays = [d.unscale(d.x[:, :length].numpy()) for d in sets]
    result = report(arrays[0], arrays[1], sets[0].features, seed=seed)
    result["series"]["cut_to_length"] = length
    return result, arrays[0], arrays[1]


def write_report(result: dict, path, real: np.ndarray | None = None, synth: np.ndarray | None = None):
    """JSON, or a self-contained HTML page (series overlays, mean and spread, autocorrelations) + JSON beside it."""
    import html
    import json
    from pathlib import Path

    from ..fileio import write_bytes, write_json

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        write_json(path, result)
        return path
    write_json(path.with_suffix(".json"), result)
    pics = _pictures(result, real, synth) if real is not None and synth is not None else []
    pred = result["predictive_score"]
    head = (f"<p>discriminative score <b>{result['discriminative_score']:.3f}</b> (0 is best); predictive score "
            f"<b>{pred['synthetic']:.4f}</b> (a model trained on real series: {pred['real']:.4f}); autocorrelation "
            f"gap {result['autocorrelation_gap']:.4f}.</p>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>ganforge series report</title></head><body>"
            f"<h1>Synthetic time series report</h1>{head}{''.join(f'<img src={chr(34)}{p}{chr(34)}>' for p in pics)}"
            f"<h2>All figures</h2><pre>{html.escape(json.dumps(result, indent=2))}</pre></body></html>")
    write_bytes(path, page.encode())
    return path


def _pictures(result: dict, real: np.ndarray, synth: np.ndarray, shown: int = 12) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..imaging.media import png_data_uri

    pics = []
    t = np.arange(real.shape[1])
    for j, name in enumerate(result["series"]["features"][:8]):
        fig, axes = plt.subplots(1, 3, figsize=(12, 2.6))
        for ax, data, colour, title in ((axes[0], real, "tab:blue", "real"), (axes[1], synth, "tab:orange", "synthetic")):
            for series in data[:shown, :, j]:
                ax.plot(t, series, color=colour, alpha=0.5, linewidth=0.9)
            ax.set_title(f"{name}: {title} ({shown} series)", fontsize=9)
        for data, colour, label in ((real, "tab:blue", "real"), (synth, "tab:orange", "synthetic")):
            m, sd = data[..., j].mean(0), data[..., j].std(0)
            axes[2].plot(t, m, color=colour, label=f"{label} mean")
            axes[2].fill_between(t, m - sd, m + sd, color=colour, alpha=0.2)
        axes[2].set_title(f"{name}: mean +- std per step", fontsize=9)
        axes[2].legend(fontsize=7)
        pics.append(png_data_uri(fig))
    acf = result["autocorrelation"]
    fig, ax = plt.subplots(figsize=(5, 3))
    lags = np.arange(1, len(acf["real"][0]) + 1)
    for j, name in enumerate(result["series"]["features"][:8]):
        line, = ax.plot(lags, acf["real"][j], label=f"{name} real")
        ax.plot(lags, acf["synthetic"][j], "--", color=line.get_color(), label=f"{name} synthetic")
    ax.set_xlabel("lag")
    ax.set_title("autocorrelation (solid real, dashed synthetic)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    pics.append(png_data_uri(fig))
    return pics


__all__ = ["discriminative_score", "predictive_score", "autocorrelation_gap", "cross_correlation_gap", "report", "report_files", "write_report"]
