"""ganforge's series GAN on real series bundled with statsmodels (sunspots, co2, macrodata), cut into windows,
against a block bootstrap and a VAR model fitted on the same series, in one run (issue 19).

Data (no download: statsmodels ships them; ``pip install statsmodels`` for this benchmark only):

- ``sunspots``: yearly sunspot numbers 1700-2008 (309 values), 1 channel, windows of 24 years;
- ``co2``: Mauna Loa weekly CO2 1958-2001, monthly means (gaps interpolated), first differences (the trend
  removed, the seasonal cycle kept), 1 channel, windows of 24 months;
- ``macrodata``: US quarterly 1959-2009, 6 channels: growth (400 * diff log) of real GDP, consumption and
  investment; unemployment, inflation and the T-bill rate as levels; windows of 24 quarters.

Windows start at every step (stride 1). Every method sees the same preprocessed series:

- **ganforge**: ``series`` trained on the windows (a .npy) for ``--minutes`` of CPU time, one thread;
- **block bootstrap**: each channel of each window glued from random blocks (``T // 4`` steps) of that
  channel's series, channels drawn independently (keeps short-range shape and marginals, breaks
  cross-channel structure and anything longer than a block);
- **VAR**: statsmodels ``VAR`` (``AutoReg`` for one channel), lag order by AIC (at most 8), simulated from a
  random real state with 50 burn-in steps, Gaussian innovations with the fitted covariance.

Scores (all against the real windows, scaled to [0, 1] by the real per-channel range, as in TimeGAN, which also
scores against its training windows): discriminative (mean over ``--repeats`` classifier seeds and splits:
few windows make one split noisy), predictive (with the real-on-real reference), autocorrelation gap and
cross-correlation gap (multichannel only). Appends to benchmarks/results_modalities.json.

    flock /tmp/ganforge-cpu.lock env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/series_real.py \
        [--sets sunspots,co2,macrodata] [--minutes 5] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from ganforge.fileio import atomic_path  # noqa: E402
from ganforge.metrics.series import (autocorrelation_gap, cross_correlation_gap, discriminative_score,  # noqa: E402
                                     predictive_score)
from record import append_result, machine_facts, parse_options  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results_modalities.json"
WINDOW = 24


def load_set(name: str) -> tuple[np.ndarray, list[str]]:
    """The preprocessed series (L, F) and its channel names."""
    try:
        import statsmodels.api as sm
    except ImportError:
        sys.exit("series_real.py needs statsmodels (its bundled data sets and VAR): .venv/bin/pip install statsmodels")
    if name == "sunspots":
        df = sm.datasets.sunspots.load_pandas().data
        return df[["SUNACTIVITY"]].to_numpy(float), ["sunactivity"]
    if name == "co2":
        df = sm.datasets.co2.load_pandas().data
        monthly = df["co2"].resample("MS").mean().interpolate()
        return np.diff(monthly.to_numpy(float))[:, None], ["co2_monthly_diff"]
    if name == "macrodata":
        df = sm.datasets.macrodata.load_pandas().data
        growth = 400 * np.diff(np.log(df[["realgdp", "realcons", "realinv"]].to_numpy(float)), axis=0)
        levels = df[["unemp", "infl", "tbilrate"]].to_numpy(float)[1:]
        return np.concatenate([growth, levels], 1), ["gdp_growth", "cons_growth", "inv_growth", "unemp", "infl",
                                                     "tbilrate"]
    raise SystemExit(f"--sets: unknown set {name!r} (known: sunspots, co2, macrodata)")


def windows(series: np.ndarray, length: int) -> np.ndarray:
    """Every window of ``length`` steps (stride 1): (L - length + 1, length, F)."""
    idx = np.arange(len(series) - length + 1)[:, None] + np.arange(length)[None, :]
    return series[idx].astype(np.float32)


def block_bootstrap(series: np.ndarray, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    block = max(2, length // 4)
    out = np.empty((n, length, series.shape[1]), np.float32)
    for f in range(series.shape[1]):
        starts = rng.integers(0, len(series) - block + 1, (n, -(-length // block)))
        pieces = series[starts[..., None] + np.arange(block), f]          # (n, blocks, block)
        out[:, :, f] = pieces.reshape(n, -1)[:, :length]
    return out


def var_simulate(series: np.ndarray, n: int, length: int, rng: np.random.Generator, maxlags: int = 8,
                 burn: int = 50) -> tuple[np.ndarray, int]:
    """Windows simulated from a VAR (AutoReg for one channel) fitted on ``series``; and the lag order."""
    f = series.shape[1]
    if f == 1:
        from statsmodels.tsa.ar_model import AutoReg, ar_select_order

        lags = ar_select_order(series[:, 0], maxlag=maxlags, ic="aic").ar_lags
        p = int(max(lags)) if lags else 0
        fit = AutoReg(series[:, 0], lags=p).fit() if p else None
        const = np.array([fit.params[0] if fit else series.mean()])
        coefs = np.asarray(fit.params[1:]).reshape(p, 1, 1) if fit else np.zeros((0, 1, 1))
        cov = np.array([[fit.sigma2 if fit else series.var()]])
    else:
        from statsmodels.tsa.api import VAR

        fit = VAR(series).fit(maxlags=maxlags, ic="aic")
        p, const, coefs, cov = fit.k_ar, fit.intercept, fit.coefs, fit.sigma_u
    chol = np.linalg.cholesky(np.asarray(cov) + 1e-12 * np.eye(f))
    start = rng.integers(p, len(series), n)
    hist = [series[start - k - 1] for k in range(p)]                      # hist[k]: x_{t-k-1}, (n, F)
    out = []
    for t in range(burn + length):
        x = const + rng.standard_normal((n, f)) @ chol.T
        for k in range(p):
            x = x + hist[k] @ coefs[k].T
        hist = [x] + hist[:-1] if p else hist
        if t >= burn:
            out.append(x)
    return np.stack(out, 1).astype(np.float32), int(p)


def scaled(x: np.ndarray, real: np.ndarray) -> np.ndarray:
    """``x`` scaled by the real windows' per-channel range (real to [0, 1])."""
    lo, hi = real.min((0, 1)), real.max((0, 1))
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0)


def scores(real: np.ndarray, synth: np.ndarray, repeats: int) -> dict:
    """The TimeGAN scores and the correlation gaps, both scaled to [0, 1] by the real range."""
    r, s = scaled(real, real), scaled(synth, real)
    disc = [discriminative_score(r, s, seed=k) for k in range(repeats)]
    xc = cross_correlation_gap(r, s)
    return {"discriminative": round(float(np.mean(disc)), 4), "discriminative_sd": round(float(np.std(disc)), 4),
            "predictive": round(predictive_score(r, s), 4), "acf_gap": round(autocorrelation_gap(r, s), 4),
            "xcorr_gap": None if xc is None else round(xc, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="sunspots,co2,macrodata")
    ap.add_argument("--minutes", type=float, default=5.0, help="ganforge's CPU-minute budget per set")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5, help="discriminative-score seeds (classifier and split)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--option", action="append", default=[], help="series task option key=value (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    options = parse_options(args.option)
    results: dict = {}
    for name in args.sets.split(","):
        series, channels = load_set(name)
        real = windows(series, WINDOW)
        n = len(real)
        rng = np.random.default_rng(0)
        t = time.process_time()
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / f"{name}.npy"
            with atomic_path(data) as path:
                np.save(path, real)
            model = ganforge.train("series", data=str(data), out=Path(tmp) / "run", minutes=args.minutes,
                                   budget_clock="cpu", batch=args.batch, threads=args.threads, progress=False,
                                   eval_every=10**9, checkpoint_every=10**9, log_every=100, **options)
        fit_cpu_s = time.process_time() - t
        synth = {"ganforge": model.sample_arrays(n, seed=0)[0], "block_bootstrap": block_bootstrap(series, n, WINDOW, rng)}
        synth["var"], order = var_simulate(series, n, WINDOW, rng)
        res = {"windows": n, "length": WINDOW, "channels": channels, "var_order": order,
               "ganforge_steps": model.meta["step"], "ganforge_fit_cpu_s": round(fit_cpu_s, 1),
               "real_predictive": round(predictive_score(*[scaled(real, real)] * 2), 4)}
        for method, x in synth.items():
            res[method] = scores(real, x, args.repeats)
            print(f"{name} {method}: {res[method]}", flush=True)
        results[name] = res
    head = f"{'set':>10} {'method':>16} {'discrim.':>14} {'predictive':>10} {'(real)':>7} {'acf gap':>8} {'xcorr gap':>9}"
    print(head)
    for name, res in results.items():
        for method in ("ganforge", "block_bootstrap", "var"):
            r = res[method]
            xc = "-" if r["xcorr_gap"] is None else f"{r['xcorr_gap']:.4f}"
            print(f"{name:>10} {method:>16} {r['discriminative']:>7.4f}+-{r['discriminative_sd']:.3f} "
                  f"{r['predictive']:>10.4f} {res['real_predictive']:>7.4f} {r['acf_gap']:>8.4f} {xc:>9}")
    record = dict(machine_facts("series_real"), config=vars(args), options=options, results=results)
    append_result(record, RESULTS)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
