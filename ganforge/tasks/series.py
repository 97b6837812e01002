"""Synthetic time series: a recurrent conditional GAN (RCGAN class), fixed or variable length.

The generator turns per-step noise and a per-series latent (plus a label embedding) into a series with a GRU;
the discriminator scores every step with a GRU, averages over each series' valid steps and adds a verdict on
the whole series. Variable-length data: the length of each generated series is drawn from the real lengths
(of its label), and steps past it are zero. Loss: non-saturating (RCGAN) by default, plus TimeGAN's moment
loss; R1 is an option (a GRU's double backward is costly).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .. import losses
from ..config import check_choices, option, to_dict
from ..data.series import load_series
from ..engine import AdversarialTask, Phase
from ..errors import ConfigError
from ..nets import registry
from ..nets.series import SeriesDiscriminator, SeriesGenerator
from ..predict.base import Model
from . import register


@dataclass
class SeriesOptions:
    data: str = option("builtin:sines?n=2000", "Long CSV (series_id, time, feature..., [label]), .npy (N,T,F), "
                       ".npz, or builtin:sines.")
    length: int | None = option(None, "Truncate series to this many steps.")
    id_col: str = option("series_id", "Long CSV: the column naming each series.")
    time_col: str = option("time", "Long CSV: the column ordering the steps of a series.")
    label_col: str | None = option("label", "Long CSV: the column of series labels (used when present).")
    z_dim: int = option(8, "Per-step noise size.")
    global_dim: int = option(16, "Per-series latent (the GRU's initial state); 0: per-step noise only.")
    hidden: int = option(64, "GRU width.")
    layers: int = option(2, "GRU layers.")
    global_input: bool = option(True, "Feed the per-series latent to the generator's GRU at every step too (not "
                                "only as its initial state).", before=False)
    bidirectional: bool = option(True, "The discriminator reads each series both ways.")
    global_head: bool = option(True, "The discriminator also judges each series as a whole (an MLP on its GRU's "
                               "mean, max and last states), beside its per-step verdicts.", before=False)
    loss: str = option("ns", "Adversarial loss.", choices=("ns", "lsgan", "hinge"))
    r1: float = option(0.0, "R1 penalty weight on the discriminator's real inputs (0: none; a GRU's double backward "
                       "is costly).")
    moment_weight: float = option(1.0, "Weight of the generator term matching per-step mean and std to the real "
                                  "batch's.")

    def validate(self) -> None:
        for name in ("z_dim", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.global_dim < 0 or self.moment_weight < 0 or self.r1 < 0:
            raise ConfigError("global_dim, moment_weight and r1 must not be negative")
        check_choices(self)
        if self.length is not None and self.length < 2:
            raise ConfigError(f"length must be at least 2, got {self.length}")


@register("series")
class SeriesSynthesis(AdversarialTask):
    Options = SeriesOptions
    data_kind = "series"
    primary = True  # the application a data set of this kind is most often for
    # fp32: what the CLI's `train series` used. lr 5e-4: at 2e-4 the sines scored 0.16 discriminative after
    # ~900 steps, at 5e-4 (or 1e-3) 0.004-0.02 (benchmarks/series_sines.py; issue 19)
    run_defaults = {"precision": "fp32", "lr_g": 5e-4, "lr_d": 5e-4}

    def __init__(self, options: SeriesOptions, data=None, seed: int = 0, progress=None):
        options.validate()
        self.options = opt = copy.deepcopy(options)
        self.data = data if data is not None else load_series(opt.data, opt.length, opt.id_col, opt.time_col,
                                                              opt.label_col)
        d = self.data
        classes = len(d.label_names)
        self.g_kwargs = dict(z_dim=opt.z_dim, features=d.x.shape[2], hidden=opt.hidden, layers=opt.layers,
                             classes=classes, global_dim=opt.global_dim, global_input=opt.global_input)
        self.d_kwargs = dict(features=d.x.shape[2], hidden=opt.hidden, layers=opt.layers, classes=classes,
                             bidirectional=opt.bidirectional, global_head=opt.global_head)
        self.modules = {"G": SeriesGenerator(**self.g_kwargs), "D": SeriesDiscriminator(**self.d_kwargs)}
        self.phases = [Phase("D", "D", 1), Phase("G", "G", 1)]
        self.meta_extra = {"scale": {"lo": d.lo, "hi": d.hi}, "features": d.features,
                           "label_names": [str(v) for v in d.label_names], "length": int(d.x.shape[1]),
                           "lengths": _length_table(d)}

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, Any]:
        idx = torch.randint(len(self.data), (batch,), generator=gen)
        d = self.data
        out = {"x": d.x[idx].to(device), "mask": d.mask[idx].to(device)}
        out["labels"] = d.labels[idx].to(device) if d.labels is not None else None
        return out

    def loss(self, phase: str, batch: dict[str, Any], nets: dict[str, nn.Module], gen: torch.Generator):
        G, D = nets["G"], nets["D"]
        x, mask, labels = batch["x"], batch["mask"], batch["labels"]
        z = torch.randn(x.shape[0], x.shape[1], self.options.z_dim, generator=gen).to(x.device)
        zg = torch.randn(x.shape[0], self.options.global_dim, generator=gen).to(x.device)
        if phase == "D":
            with torch.no_grad():
                fake = G(z, labels, zg) * mask[..., None]
            if self.options.r1:
                x = x.detach().requires_grad_(True)
            real_logits, fake_logits = D(x, mask, labels), D(fake, mask, labels)
            loss = losses.d_loss(self.options.loss, real_logits, fake_logits)
            logs = {"D/real": real_logits.detach().mean(), "D/fake": fake_logits.detach().mean()}
            if self.options.r1:
                penalty = losses.r1_penalty(real_logits, x)
                loss, logs["D/r1"] = loss + self.options.r1 / 2 * penalty + 0 * real_logits.sum(), penalty.detach()
            return loss, logs
        if phase == "G":
            fake = G(z, labels, zg) * mask[..., None]
            adv = losses.g_loss(self.options.loss, D(fake, mask, labels))
            if not self.options.moment_weight:
                return adv, {}
            # TimeGAN's moment loss: per (step, feature) mean and std over the batch; padded steps are zero
            # in both (the fake series take the real batch's lengths), so they cancel
            f, r = fake.float(), x.float()
            moments = (f.mean(0) - r.mean(0)).abs().mean() + \
                ((f.var(0) + 1e-6).sqrt() - (r.var(0) + 1e-6).sqrt()).abs().mean()
            return adv + self.options.moment_weight * moments, {"G/moments": moments.detach()}
        raise ValueError(f"unknown phase {phase!r}")

    def data_description(self) -> dict[str, Any]:
        return self.data.describe()

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        tensors, specs = registry.export({"G": ema if ema is not None else raw["G"]})
        return tensors, {"nets": specs, "options": to_dict(self.options), **self.meta_extra}


def _length_table(d) -> dict[str, list[int]]:
    """Observed lengths per label ("*" for all), for drawing generated lengths."""
    lengths = d.lengths.numpy()
    table = {"*": lengths.tolist()}
    if d.labels is not None:
        for i, name in enumerate(d.label_names):
            table[str(name)] = lengths[d.labels.numpy() == i].tolist()
    return table


class SeriesModel(Model):
    """A trained series generator: ``sample(n, seed=..., condition=label)`` -> the long DataFrame (series_id,
    time, feature..., [label]); ``sample_arrays`` -> (series [n, T, F] in the data's units, NaN past each
    length; lengths [n]; labels [n] or None)."""

    Options = SeriesOptions
    sample_suffixes = (".csv", ".npy")
    condition_help = "the label of every series"

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        return {"G": {"class": registry.name_of(SeriesGenerator), **meta["nets"]["G"]}}


    def conditions(self) -> list[str] | None:
        return list(self.meta["label_names"]) or None

    @torch.no_grad()
    def sample_arrays(self, n: int, *, seed: int = 0, condition: str | None = None):
        """(x [n, T, F] float32 in the data's units, NaN past each series' length; lengths [n]; labels [n] or None)."""
        names = self.meta["label_names"]
        rng = np.random.default_rng(seed)
        gen = torch.Generator().manual_seed(seed)
        label = condition
        if label is not None and not names:
            raise ConfigError("this model was trained without labels; sample it without a label")
        if label is not None and str(label) not in names:
            raise ConfigError(f"label {label!r} is not one of {', '.join(names)}")
        labels = None
        if names:
            labels = (np.full(n, names.index(str(label))) if label is not None else rng.integers(len(names), size=n))
        T = self.meta["length"]
        table = self.meta["lengths"]
        if labels is None:
            lengths = rng.choice(table["*"], size=n)
        else:
            lengths = np.array([rng.choice(table[names[i]]) for i in labels]) if n else np.zeros(0, int)
        z = torch.randn(n, T, self.options.z_dim, generator=gen)
        zg = torch.randn(n, self.G.global_dim, generator=gen)
        lab = torch.from_numpy(labels).long().to(self.device) if labels is not None else None
        x = self.G(z.to(self.device), lab, zg.to(self.device)).float().cpu().numpy()
        lo, hi = np.asarray(self.meta["scale"]["lo"]), np.asarray(self.meta["scale"]["hi"])
        x = (np.clip(x, -1, 1) + 1) / 2 * (hi - lo) + lo
        valid = np.arange(T)[None, :] < lengths[:, None]
        x = np.where(valid[..., None], x, np.nan).astype(np.float32)
        return x, lengths, (np.array(names, dtype=object)[labels] if labels is not None else None)

    def sample(self, n: int, *, seed: int = 0, condition: str | None = None):
        """``n`` series in long format: series_id, time, feature..., [label]; same seed, same series."""
        return self._frame(*self.sample_arrays(n, seed=seed, condition=condition))

    def sample_frame(self, n: int, label: str | None = None, seed: int = 0):
        """The long format (the former name of :meth:`sample`)."""
        return self.sample(n, seed=seed, condition=label)

    def _frame(self, x: np.ndarray, lengths: np.ndarray, labels: np.ndarray | None):
        import pandas as pd

        valid = ~np.isnan(x[..., 0])
        sid, t = np.nonzero(valid)
        df = pd.DataFrame({"series_id": sid, "time": t})
        for j, name in enumerate(self.meta["features"]):
            df[name] = x[sid, t, j]
        if labels is not None:
            df["label"] = labels[sid]
        return df

    def _arrays(self, result) -> tuple[np.ndarray, np.ndarray]:
        """(x [N, T, F] with NaN past each length, lengths) of a long DataFrame (or a ``sample_arrays`` tuple)."""
        if isinstance(result, tuple):
            return np.asarray(result[0], np.float32), np.asarray(result[1])
        features = list(self.meta["features"])
        ids, sid = np.unique(result["series_id"].to_numpy(), return_inverse=True)
        t = result["time"].to_numpy().astype(int)
        T = max(int(self.meta["length"]), int(t.max()) + 1 if len(t) else 0)
        x = np.full((len(ids), T, len(features)), np.nan, np.float32)
        x[sid, t] = result[features].to_numpy(np.float32)
        lengths = np.bincount(sid, minlength=len(ids))
        return x, lengths

    def write_samples(self, result, path: str | Path, *, nrow: int | None = None) -> list[Path]:
        """.csv: the long format; .npy: the (N, T, F) array, NaN past each series' length."""
        from ..data.tables import write_table
        from ..fileio import atomic_path

        path = Path(path)
        self.check_sample_path(path)
        if path.suffix.lower() == ".npy":
            with atomic_path(path) as tmp:
                np.save(tmp, self._arrays(result)[0])
            return [path]
        return [write_table(result if not isinstance(result, tuple) else self._frame(*result), path)]

    def write_each(self, result, folder: str | Path, *, prefix: str = "") -> list[Path]:
        """One CSV per series (time, feature..., [label])."""
        from ..data.tables import write_table

        df = result if not isinstance(result, tuple) else self._frame(*result)
        return [write_table(part.drop(columns="series_id"), Path(folder) / f"{prefix}{i:05d}.csv")
                for i, (_, part) in enumerate(df.groupby("series_id", sort=True))]

    def preview(self, result, path: str | Path) -> list[Path]:
        """A plot of up to six series (``path`` as .png) and all of them as CSV (``path`` as .csv)."""
        from ..data.tables import write_table
        from ..imaging import media

        x, lengths = self._arrays(result)
        df = result if not isinstance(result, tuple) else self._frame(*result)
        path = Path(path)
        return [media.series_plot(np.nan_to_num(x[:6]), lengths[:6], path.with_suffix(".png")),
                write_table(df, path.with_suffix(".csv"))]


SeriesSynthesis.Predictor = SeriesModel
