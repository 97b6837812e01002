"""Synthetic tables: a conditional tabular GAN (CTGAN class), written from Xu et al. 2019.

- Rows are encoded by :class:`ganforge.data.table_codec.TableCodec` (mode-specific normalisation of
  numeric columns with a Bayesian Gaussian mixture, one-hot for discrete ones).
- *Conditional vector with training-by-sampling*: each row of a batch picks a discrete column uniformly
  and a level of it with probability proportional to log(1 + frequency); the real row is drawn among the
  rows having that level, so rare levels are seen often. The generator gets the condition as input and
  a cross-entropy term that makes it honour it.
- Critic: WGAN-GP on packs of ``pac`` rows (PacGAN) with the condition appended to each row.
- Generator output heads: tanh for the normalised scalars, Gumbel-softmax (temperature ``tau``) for
  every one-hot span while training, an exact categorical draw (Gumbel-max) when sampling.
- Marginal calibration (an addition to the paper): each numeric column's generated values go through
  the monotone map that takes the generator's quantiles (measured on 10,000 rows of its own) to the
  training data's (101 quantiles, at most one per 20 rows on small tables; linear in between). Marginals then match closely while ranks, hence
  dependencies, are kept. The quantiles are aggregate statistics; no real row is stored.
- Model selection: at every evaluation the EMA generator's rows are scored for fidelity against held-out
  real rows (:func:`ganforge.metrics.tabular.fidelity`); the best is kept as the model file.

Phases: D then G, one step each per training step.
"""
from __future__ import annotations

import copy
import logging
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import losses
from ..config import option, to_dict
from ..data.copula import GaussianCopula, quantile_grid
from ..data.table_codec import TableCodec
from ..data.tables import NUMERIC, ColumnSpec, fingerprint, infer_schema, read_table, restore_column
from ..engine import AdversarialTask, Callback, Phase
from ..data.small import MIN_ROWS, warn_if_small
from ..errors import ConfigError, DataError, GanforgeError
from ..nets import registry
from ..nets.tabular import TableCopula, TableCritic, TableGenerator
from ..predict.base import ExportGraph, Model, NotSupported
from . import register

log = logging.getLogger("ganforge.tasks.table")

VALIDATION_MIN_ROWS = 1000   # below this, model selection scores against (a sample of) the training rows
CALIBRATION_ROWS = 10_000
MODELS = ("gan", "copula", "auto")


class ConditionError(GanforgeError):
    """A ``where`` condition that cannot be met (unknown level, value outside the trained range), or one
    too rare to meet within the sampling budget."""


@dataclass
class TableOptions:
    data: Any = option("", "CSV, TSV or Parquet file (a pandas DataFrame through the Python API).")
    types: Any = option(None, "Override inferred types: age=int,zip=categorical,id=drop (int, float, categorical, "
                        "bool, datetime, drop); a dict from Python.")
    target: str | None = option(None, "Column to predict (utility reports, preferred condition).")
    model: str = option("gan", "gan (the conditional table GAN), copula (a Gaussian copula with the table's own "
                        "marginals: seconds to fit, strong on small tables) or auto (train the GAN, keep whichever "
                        "of the two scores the higher fidelity; the model file says which and why).",
                        choices=MODELS)
    pac: int = option(10, "Rows the critic judges together (PacGAN); the batch is rounded to a multiple.")
    z_dim: int = option(128, "Noise size.")
    gen_dims: list[int] = option(default_factory=lambda: [256, 256], help="Generator hidden widths.")
    dis_dims: list[int] = option(default_factory=lambda: [256, 256], help="Critic hidden widths.")
    gp_weight: float = option(10.0, "Gradient penalty weight (WGAN-GP).")
    tau: float = option(0.2, "Gumbel-softmax temperature while training.")
    max_modes: int = option(10, "Gaussian-mixture modes per numeric column.")
    max_levels: int = option(100, "Modelled levels per categorical column; rarer ones share 'other'.")
    validation: float = option(0.1, "Share of rows held out for model selection (tables of 1000+ rows).")
    eval_rows: int = option(2000, "Rows generated (and real rows compared) per evaluation.")
    select: bool = option(True, "Keep the best-scoring model as model.safetensors.")
    calibrate: bool = option(True, "Map each numeric column's generated quantiles onto the real ones.")
    patience: int | None = option(10, "Stop after N evaluations without a fidelity gain (0 or None: never).")
    min_delta: float = option(0.001, "The smallest fidelity gain that counts for --patience.")
    dp_epsilon: float | None = option(None, "Differential privacy: train the critic with DP-SGD and stop when this "
                                      "epsilon is spent.")
    dp_delta: float | None = option(None, "DP delta (default 1 / (10 x rows)).")
    dp_noise: float = option(1.0, "DP noise multiplier (sigma): more noise, more steps per epsilon.")
    dp_max_grad_norm: float = option(1.0, "DP per-record gradient clip.")

    def validate(self) -> None:
        if not isinstance(self.data, str):
            import pandas as pd
            if not isinstance(self.data, pd.DataFrame):
                raise ConfigError(f"data must be a file path or a pandas DataFrame, got {type(self.data).__name__}")
        elif not self.data:
            raise ConfigError("data: give a CSV or Parquet file")
        for name in ("pac", "z_dim", "max_modes", "max_levels", "eval_rows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.model not in MODELS:
            raise ConfigError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.model == "auto" and not self.select:
            raise ConfigError("model auto chooses by fidelity: it needs select (drop --no-select, or pick --model)")
        if self.model != "gan" and self.dp_epsilon is not None:
            raise ConfigError(f"model {self.model}: differential privacy covers the GAN's critic only; use --model gan")
        if not 0 <= self.validation < 0.5:
            raise ConfigError(f"validation must be in [0, 0.5), got {self.validation}")
        if self.tau <= 0 or self.gp_weight < 0:
            raise ConfigError("tau must be positive and gp_weight non-negative")
        if not self.gen_dims or not self.dis_dims or min(self.gen_dims + self.dis_dims) < 1:
            raise ConfigError("gen_dims and dis_dims must be non-empty lists of positive widths")
        if self.patience is not None and self.patience < 0:
            raise ConfigError(f"patience must be a number of evaluations (0 or None: never), got {self.patience}")
        if self.dp_epsilon is not None:
            if self.dp_epsilon <= 0 or self.dp_noise <= 0 or self.dp_max_grad_norm <= 0:
                raise ConfigError("dp_epsilon, dp_noise and dp_max_grad_norm must be positive")
            if self.dp_delta is not None and not 0 < self.dp_delta < 1:
                raise ConfigError(f"dp_delta must be in (0, 1), got {self.dp_delta}")

    @property
    def private(self) -> bool:
        return self.dp_epsilon is not None


# --------------------------------------------------------------------------------------- output heads
def activate(raw: torch.Tensor, codec: TableCodec, tau: float, gen: torch.Generator | None, hard: bool = False
             ) -> torch.Tensor:
    """Raw generator outputs -> rows: tanh scalars, Gumbel-softmax one-hots (``hard``: exact draws)."""
    parts = []
    for span in codec.spans:
        x = raw[:, span.start:span.start + span.size]
        if span.act == "tanh":
            parts.append(torch.tanh(x))
            continue
        u = torch.rand(x.shape, generator=gen).to(x.device, torch.float32).clamp_(1e-10, 1 - 1e-10)
        g = x.float() - torch.log(-torch.log(u))
        if hard:
            parts.append(F.one_hot(g.argmax(1), span.size).to(x.dtype))
        else:
            parts.append(torch.softmax(g / tau, dim=1).to(x.dtype))
    return torch.cat(parts, dim=1)


class CondSampler:
    """Conditional vectors: training-by-sampling (log-frequency levels + a matching real row) and, for
    generation, levels in proportion to their real frequency."""

    def __init__(self, codec: TableCodec, level_idx: list[np.ndarray] | None, freq: list[list[int]]):
        self.codec = codec
        self.k = len(codec.discrete)
        self.sizes = [s.size for _, s in codec.discrete]
        width = max(self.sizes, default=1)
        counts = np.zeros((max(self.k, 1), width))
        for j, f in enumerate(freq):
            counts[j, :len(f)] = f
        self.freq = [list(map(int, f)) for f in freq]
        self.p_train = torch.tensor(np.log1p(counts), dtype=torch.float64)
        self.p_real = torch.tensor(counts, dtype=torch.float64)
        self.offsets = torch.tensor(codec.cond_offsets[:-1] or [0])
        starts = [s.start for _, s in codec.discrete]
        self.span_idx = torch.tensor([[st + min(i, sz - 1) for i in range(width)] for st, sz in zip(starts, self.sizes)]
                                     or [[0]])
        self.span_mask = torch.tensor([[i < sz for i in range(width)] for sz in self.sizes] or [[True]])
        if level_idx is not None and self.k:
            flat, offs, cnts = [], np.zeros((self.k, width), np.int64), np.zeros((self.k, width), np.int64)
            base = 0
            for j, li in enumerate(level_idx):
                order = np.argsort(li, kind="stable")
                c = np.bincount(li, minlength=width)
                offs[j] = base + np.r_[0, np.cumsum(c)[:-1]]
                cnts[j] = c
                flat.append(order)
                base += len(li)
            self.rows_flat = torch.from_numpy(np.concatenate(flat))
            self.row_off, self.row_cnt = torch.from_numpy(offs), torch.from_numpy(cnts)

    def vector(self, col: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        cond = torch.zeros(len(col), self.codec.cond_dim)
        if self.k:
            cond[torch.arange(len(col)), self.offsets[col] + level] = 1.0
        return cond

    def train_batch(self, n: int, gen: torch.Generator):
        """(cond vectors, column, level, real row indices) for ``n`` training rows."""
        col = torch.randint(self.k, (n,), generator=gen)
        level = torch.multinomial(self.p_train[col], 1, generator=gen)[:, 0]
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        cnt = self.row_cnt[col, level]
        rows = self.rows_flat[self.row_off[col, level] + (u * cnt).long().minimum(cnt - 1)]
        return self.vector(col, level), col, level, rows

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.sample_levels(n, gen)[0]

    def sample_levels(self, n: int, gen: torch.Generator):
        """(cond vectors, column, level) with levels in proportion to their real frequency."""
        if not self.k:
            return torch.zeros(n, 0), None, None
        col = torch.randint(self.k, (n,), generator=gen)
        level = torch.multinomial(self.p_real[col], 1, generator=gen)[:, 0]
        return self.vector(col, level), col, level

    def cross_entropy(self, raw: torch.Tensor, col: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        logits = raw.float()[torch.arange(len(col)).unsqueeze(1), self.span_idx[col].to(raw.device)]
        logits = logits.masked_fill(~self.span_mask[col].to(raw.device), -1e9)
        return F.cross_entropy(logits, level.to(raw.device))


def pack(x: torch.Tensor, pac: int) -> torch.Tensor:
    return x.reshape(x.shape[0] // pac, pac * x.shape[1])


# --------------------------------------------------------------------------------------- the task
@register("table")
class TabularSynthesis(AdversarialTask):
    Options = TableOptions
    data_kind = "table"
    primary = True  # the application a data set of this kind is most often for
    # what the CLI's `train table` used (fp32: the networks are small); the benchmarks measured these
    run_defaults = {"steps": 3000, "batch": 500, "eval_every": 200, "log_every": 50, "precision": "fp32"}

    def __init__(self, options: TableOptions, data=None, seed: int = 0, progress=None):
        options.validate()
        if data is None and isinstance(options.data, str) and options.data.startswith("DataFrame ") \
                and not Path(options.data).exists():
            raise ConfigError(f"this run was trained on a pandas DataFrame ({options.data}); continue it from Python "
                              "with ganforge.resume(run, data=the_same_dataframe)")
        frame = read_table(options.data if data is None else data)
        source = options.data if isinstance(options.data, str) else f"DataFrame {frame.shape[0]}x{frame.shape[1]}"
        options = copy.copy(options)
        options.data = source          # the options go to config.json: a path, never the frame
        self.options = opt = copy.deepcopy(options)
        self.fp = fingerprint(frame)
        warn_if_small(len(frame), "rows", source, MIN_ROWS)
        try:
            schema, values = infer_schema(frame, opt.types, opt.max_levels)
        except DataError as e:  # the schema sees a DataFrame: say which file it came from
            raise DataError(f"{source}: {e}") from None
        if opt.target is not None and opt.target not in schema.names:
            raise ConfigError(f"target: no usable column {opt.target!r} (columns: {', '.join(schema.names)})")
        n = len(frame)
        rng = np.random.default_rng(seed)
        train_rows = np.arange(n)
        val_rows = None
        if opt.validation > 0 and n >= VALIDATION_MIN_ROWS:
            perm = rng.permutation(n)
            n_val = min(int(round(n * opt.validation)), 5000)
            val_rows, train_rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        train_values = {k: v[train_rows] for k, v in values.items()}
        self.codec = TableCodec.fit(schema, train_values, opt.max_modes, seed=seed)
        self.X = torch.from_numpy(self.codec.transform(train_values, seed=seed))
        level_idx = [self.codec.level_indices(schema.columns[c], self.codec.state[c], train_values[schema.columns[c].name])
                     for c, _ in self.codec.discrete]
        freq = [np.bincount(li, minlength=s.size).tolist() for li, (_, s) in zip(level_idx, self.codec.discrete)]
        self.cond = CondSampler(self.codec, level_idx, freq)
        self.row_levels = torch.from_numpy(np.stack(level_idx, 1)) if level_idx else None
        self.privacy = self._private_setup(opt, len(train_rows)) if opt.private else None
        kept = schema.output_order
        grid = quantile_grid(len(train_rows))
        self.real_quantiles = {c.name: np.nanquantile(train_values[c.name], grid).tolist()
                               for c in schema.columns if c.kind in NUMERIC} if opt.calibrate else {}
        ref_rows = val_rows if val_rows is not None else rng.permutation(train_rows)[:opt.eval_rows]
        self.reference = frame.iloc[ref_rows][kept].reset_index(drop=True)
        self.data_info = {"source": source, "rows": n, "train_rows": int(len(train_rows)),
                          "validation_rows": int(len(val_rows)) if val_rows is not None else 0,
                          "columns": {c.name: c.kind for c in schema.columns}, "dropped": schema.dropped,
                          "fingerprint": self.fp, "encoded_dim": self.codec.dim, "cond_dim": self.codec.cond_dim}
        self.g_kwargs = dict(in_dim=opt.z_dim + self.codec.cond_dim, out_dim=self.codec.dim, hidden=list(opt.gen_dims))
        self.d_kwargs = dict(row_dim=self.codec.dim + self.codec.cond_dim, pac=opt.pac, hidden=list(opt.dis_dims))
        self.modules = {"G": TableGenerator(**self.g_kwargs), "D": TableCritic(**self.d_kwargs)}
        self.phases = [Phase("D", "D", 1), Phase("G", "G", 1)]
        self._warned_batch = False
        self._early_stop: str | None = None
        # the copula candidate (--model copula / auto): fitted once, in seconds, on the training rows
        self.copula = GaussianCopula.fit(self.codec, train_values, seed=seed, target=opt.target) \
            if opt.model != "gan" else None
        if opt.model == "gan" and n < 2000 and not opt.private:
            log.info("%d rows: on small tables --model auto also fits a Gaussian copula and keeps whichever of "
                     "the two scores the higher fidelity", n)
        self.family = "copula" if opt.model == "copula" else "gan"   # what export() writes
        self.best_family: str | None = None                           # the family of model-best.safetensors
        self.scores: dict[str, Any] = {}                              # auto: the scores the choice rests on

    def _private_setup(self, opt: TableOptions, n: int):
        """DP-SGD on the critic: one record per critic input, Poisson sampling, and no step of the run may
        look at real rows outside the critic's private gradient (no calibration, no fidelity selection)."""
        import torch.distributed as dist

        from ..engine.privacy import PrivacyAccount

        if dist.is_available() and dist.is_initialized():
            raise ConfigError("differential privacy runs in one process (--devices 1)")
        if opt.pac != 1 or opt.calibrate or opt.select or opt.gp_weight:
            log.info("differential privacy: pac=1 (one record per critic input), no gradient penalty, "
                     "no marginal calibration and no model selection on real rows")
        opt.pac, opt.calibrate, opt.select, opt.gp_weight, opt.patience = 1, False, False, 0.0, None
        self.real_quantiles = {}
        delta = opt.dp_delta if opt.dp_delta is not None else 1.0 / (10 * n)
        return PrivacyAccount(sample_rate=1.0, noise=opt.dp_noise, delta=delta, max_grad_norm=opt.dp_max_grad_norm)

    def stop_reason(self) -> str | None:
        if self.options.model == "copula":
            return "the Gaussian copula is fitted (--model copula trains no GAN)"
        if self.privacy is not None and self.privacy.steps and \
                self.privacy.epsilon(self.privacy.steps + 1) > self.options.dp_epsilon:
            return (f"privacy budget spent: epsilon {self.privacy.epsilon():.3f} of {self.options.dp_epsilon} "
                    f"(delta {self.privacy.delta:.2g}) after {self.privacy.steps} critic steps")
        return self._early_stop

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dp_steps": self.privacy.steps} if self.privacy is not None else {}
        if self.copula is not None:
            out.update(best_family=self.best_family, scores=self.scores)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_family = state.get("best_family", self.best_family)
        self.scores = dict(state.get("scores") or self.scores)
        if self.privacy is not None:
            self.privacy.steps = int(state.get("dp_steps", 0))

    # ------------------------------------------------------------------ training
    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        if self.privacy is not None:
            return self._private_batch(batch, gen, device)
        pac = self.options.pac
        b = max(pac, batch // pac * pac)
        if b != batch and not self._warned_batch:
            log.warning("batch %d is not a multiple of pac=%d: using %d rows per step", batch, pac, b)
            self._warned_batch = True
        if self.cond.k:
            cond, col, level, rows = self.cond.train_batch(b, gen)
        else:
            rows = torch.randint(len(self.X), (b,), generator=gen)
            cond, col, level = torch.zeros(b, 0), None, None
        out = {"real": self.X[rows].to(device), "cond": cond.to(device)}
        if col is not None:
            out.update(col=col, level=level)
        return out

    def _private_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        """Real rows by Poisson sampling (rate batch / rows), each conditioned on one of its own levels;
        the generator's conditions come from the level frequencies, never from this step's rows."""
        from ..engine.privacy import poisson_sample

        n = len(self.X)
        if self.privacy.sample_rate != min(1.0, batch / n):   # the batch size is known from the first step on
            self.privacy.sample_rate = min(1.0, batch / n)
            first = self.privacy.epsilon(self.privacy.steps + 1)
            if first > self.options.dp_epsilon:
                raise ConfigError(f"dp_epsilon={self.options.dp_epsilon} is less than one step costs ({first:.3g} at "
                                  f"batch {batch} of {n} rows, noise {self.options.dp_noise}): raise --dp-noise or "
                                  "--dp-epsilon, or lower --batch")
        rows = poisson_sample(n, self.privacy.sample_rate, gen)
        if self.cond.k:
            col = torch.randint(self.cond.k, (len(rows),), generator=gen)
            cond = self.cond.vector(col, self.row_levels[rows, col].long())
        else:
            cond = torch.zeros(len(rows), 0)
        gcond, gcol, glevel = self.cond.sample_levels(batch, gen)
        out = {"real": self.X[rows].to(device), "cond": cond.to(device), "gcond": gcond.to(device),
               "expected": float(batch)}
        if gcol is not None:
            out.update(col=gcol, level=glevel)
        return out

    def _private_loss(self, phase: str, batch: dict, G: nn.Module, D: nn.Module, gen: torch.Generator):
        """Non-saturating GAN loss; the critic's real-record term is DP-SGD (clipped, noised)."""
        from ..engine.privacy import private_gradient_loss

        opt = self.options
        gcond = batch["gcond"]
        z = torch.randn(len(gcond), opt.z_dim, generator=gen).to(gcond.device)
        if phase == "D":
            with torch.no_grad():
                fake = activate(G(torch.cat([z, gcond], 1)), self.codec, opt.tau, gen)
            d_fake = D(torch.cat([fake.float(), gcond], 1)).float()
            real_loss, clipped = private_gradient_loss(
                D, torch.cat([batch["real"], batch["cond"]], 1), lambda logits: F.softplus(-logits.float()),
                batch["expected"], opt.dp_max_grad_norm, opt.dp_noise, gen)
            self.privacy.steps += 1
            return real_loss + F.softplus(d_fake).mean(), {
                "D/fake": d_fake.detach().mean(), "privacy/epsilon": self.privacy.epsilon(),
                "privacy/clipped": clipped, "privacy/records": float(len(batch["real"]))}
        raw = G(torch.cat([z, gcond], 1))
        fake = activate(raw, self.codec, opt.tau, gen)
        adv = F.softplus(-D(torch.cat([fake.float(), gcond], 1)).float()).mean()
        ce = self.cond.cross_entropy(raw, batch["col"], batch["level"]) if "col" in batch else adv * 0
        return adv + ce, {"G/cond_ce": ce.detach()}

    def loss(self, phase: str, batch: dict[str, torch.Tensor], nets: dict[str, nn.Module], gen: torch.Generator):
        G, D, opt = nets["G"], nets["D"], self.options
        if self.privacy is not None:
            return self._private_loss(phase, batch, G, D, gen)
        real, cond = batch["real"], batch["cond"]
        n = real.shape[0]
        z = torch.randn(n, opt.z_dim, generator=gen).to(real.device)
        if phase == "D":
            with torch.no_grad():
                fake = activate(G(torch.cat([z, cond], 1)), self.codec, opt.tau, gen)
            real_in = pack(torch.cat([real, cond], 1), opt.pac)
            fake_in = pack(torch.cat([fake.float(), cond], 1), opt.pac)
            d_real, d_fake = D(real_in).float(), D(fake_in).float()
            loss = d_fake.mean() - d_real.mean()
            if opt.gp_weight > 0:
                loss = loss + opt.gp_weight * losses.gradient_penalty(D, real_in, fake_in, gen)
            return loss, {"D/real": d_real.detach().mean(), "D/fake": d_fake.detach().mean()}
        if phase == "G":
            raw = G(torch.cat([z, cond], 1))
            fake = activate(raw, self.codec, opt.tau, gen)
            adv = -D(pack(torch.cat([fake.float(), cond], 1), opt.pac)).float().mean()
            ce = self.cond.cross_entropy(raw, batch["col"], batch["level"]) if "col" in batch else adv * 0
            return adv + ce, {"G/cond_ce": ce.detach()}
        raise ValueError(f"unknown phase {phase!r}")

    # ------------------------------------------------------------------ outputs
    def data_description(self) -> dict[str, Any]:
        return self.data_info

    def callbacks(self) -> list[Callback]:
        return [] if self.privacy is not None else [FidelitySelection(self)]

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        if self.family == "copula":
            model = self.copula_predictor()
            tensors, specs = registry.export({"G": model.G})
            meta = {k: v for k, v in model.meta.items() if k != "step"}   # the engine's step stands
            return tensors, {**meta, "nets": specs, "choice": self.choice()}
        G = ema if ema is not None else copy.deepcopy(raw["G"]).eval()
        tensors, specs = registry.export({"G": G})
        return tensors, {"nets": specs, "options": to_dict(self.options), "codec": self.codec.to_json(),
                         "cond_freq": self.cond.freq, "calibration": self.predictor(G).meta["calibration"],
                         "privacy": self.privacy.describe() if self.privacy is not None else None,
                         "family": "gan", "choice": self.choice()}

    def choice(self) -> dict[str, Any] | None:
        """--model auto: which family the model file holds and why (the scores it was chosen on)."""
        if self.options.model != "auto" or not self.scores:
            return None
        return {"family": self.family, **self.scores}

    def copula_predictor(self, step: int = 0) -> "TableModel":
        """A sampler for the fitted Gaussian copula (the Cholesky factors are the network's weights)."""
        G = TableCopula(self.copula.dim, len(self.copula.weights))
        G.chol.copy_(torch.from_numpy(self.copula.cholesky()).float())
        meta = {"task": self.name, "options": to_dict(self.options), "codec": self.codec.to_json(),
                "cond_freq": self.cond.freq, "step": step, "calibration": {}, "family": "copula",
                "copula": self.copula.to_json()}
        return TableModel({"G": G.eval()}, meta, codec=self.codec)

    def predictor(self, G: nn.Module, step: int = 0) -> "TableModel":
        """A sampler for generator ``G`` (in eval mode), with its marginal calibration measured."""
        meta = {"task": self.name, "options": to_dict(self.options), "codec": self.codec.to_json(),
                "cond_freq": self.cond.freq, "step": step, "calibration": {}}
        # on G's own device: the base class moves networks to the predictor's device, and this G may be
        # the engine's EMA generator
        model = TableModel({"G": G}, meta, device=str(next(G.parameters()).device), codec=self.codec)
        if self.real_quantiles:
            values = model._values(CALIBRATION_ROWS, torch.Generator().manual_seed(12345),
                                   np.random.default_rng(12345), None)
            calibration = {}
            for name, real_q in self.real_quantiles.items():
                v = values[name][~np.isnan(values[name])]
                if len(v) >= 100:
                    grid = np.linspace(0, 1, len(real_q))
                    calibration[name] = {"generated": np.quantile(v, grid).tolist(), "real": real_q}
            model.meta["calibration"] = model.calibration = calibration
        return model


class FidelitySelection(Callback):
    """Score the EMA generator at every evaluation (fidelity vs held-out rows) and keep the best model.

    ``model-best.safetensors`` is written by the engine; at the end it becomes ``model.safetensors``
    (the last one is kept as ``model-last.safetensors``), so loading a run gives the best model.
    """

    def __init__(self, task: TabularSynthesis):
        self.task = task
        self.kinds = {c.name: ("numeric" if c.kind in NUMERIC else "discrete") for c in task.codec.schema.columns}
        self.leader: tuple[float, int] | None = None   # (fidelity, step) of the last gain of min_delta or more

    def on_eval(self, state, step: int) -> None:
        from ..metrics.tabular import fidelity

        task, opt = self.task, self.task.options
        if task.copula is not None and "copula" not in task.scores:   # once: the copula does not train
            synth = task.copula_predictor(step).sample(len(task.reference), seed=0)
            score = fidelity(task.reference, synth, self.kinds)["score"]
            task.scores["copula"] = round(score, 5)
            state.log({"eval/copula_fidelity": score})
            self._consider(state, "copula", score)
        if opt.model == "copula":
            return
        G = state.sampling_net("G")
        if G is state.net("G"):   # no EMA: sample from a copy in eval mode, not the network in training
            G = copy.deepcopy(G).eval()
        model = task.predictor(G, step)
        synth = model.sample(len(task.reference), seed=0)
        score = fidelity(task.reference, synth, self.kinds)
        state.log({f"eval/{k}": v for k, v in score.items()})
        if task.copula is not None and score["score"] > task.scores.get("gan", -1.0):
            task.scores.update(gan=round(score["score"], 5), gan_step=step)
        if opt.select:
            self._consider(state, "gan", score["score"])
        self._patience(state, step, score["score"])

    def _consider(self, state, family: str, value: float) -> None:
        """Offer the model of ``family`` as the best so far (the engine writes model-best.safetensors)."""
        task = self.task
        before, task.family = task.family, family
        try:
            if state.consider_best("eval/fidelity", value, lower_is_better=False):
                task.best_family = family
        finally:
            task.family = before

    def _patience(self, state, step: int, value: float) -> None:
        opt = self.task.options
        if self.leader is None and state.best and state.best.get("metric") == "eval/fidelity" \
                and self.task.best_family != "copula":
            self.leader = (state.best["value"], state.best["step"])   # after a resume
        if self.leader is None or value >= self.leader[0] + opt.min_delta:
            self.leader = (value, step)
        evals = (step - self.leader[1]) // max(state.run.eval_every, 1)
        if opt.patience and evals >= opt.patience:
            self.task._early_stop = (f"early stop: fidelity has not gained {opt.min_delta} in {evals} evaluations "
                                     f"(best {self.leader[0]:.4f} at step {self.leader[1]})")

    def on_end(self, state, status: str) -> None:
        from .. import artifact

        task = self.task
        run_dir = state.run_dir
        best = run_dir / artifact.BEST_MODEL_FILE
        final = run_dir / artifact.MODEL_FILE
        if status == "failed" or not task.options.select or not best.exists() or not state.best:
            return
        if state.best.get("step") != state.step or task.best_family not in (None, task.family):
            shutil.copyfile(final, run_dir / "model-last.safetensors")
            tensors, meta = artifact.load(best)
            meta.update(status=status, selected={"step": state.best["step"], "of_steps": state.step})
            artifact.save(final, tensors, meta)   # the run's status, not "running" as when the best was written
            log.info("model.safetensors is the best model (%s, step %d, fidelity %.4f); the last is "
                     "model-last.safetensors", task.best_family or "gan", state.best["step"], state.best["value"])
        if task.options.model == "auto" and task.scores:
            self._record_choice(final)

    def _record_choice(self, final: Path) -> None:
        """Write the complete reasons of --model auto's choice into the model file, and say them."""
        from .. import artifact

        task, sc = self.task, self.task.scores
        family = task.best_family or "gan"
        on = "the held-out validation rows" if task.data_info["validation_rows"] else "the training rows"
        gan = f"the GAN (best {sc['gan']:.4f} at step {sc['gan_step']})" if "gan" in sc else "the GAN (not scored)"
        cop = f"the Gaussian copula ({sc['copula']:.4f})"
        first, second = (cop, gan) if family == "copula" else (gan, cop)
        reason = f"chose {first} over {second}: fidelity (column shapes and pair trends) on {on}"
        tensors, meta = artifact.load(final)
        meta["choice"] = {"family": family, "reason": reason, **sc}
        artifact.save(final, tensors, meta)
        log.info("model auto: %s", reason)


# --------------------------------------------------------------------------------------- conditions
_COND = re.compile(r"^\s*([^<>=!]+?)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")


@dataclass
class Condition:
    column: str
    op: str
    text: str
    spec: ColumnSpec | None = None
    number: float | None = None
    matches: list | None = None       # discrete: the level values that satisfy "="/"!="
    native: int | None = None         # discrete "=" on one modelled level: its level index

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.text}"


def parse_where(where: str | list | None) -> list[Condition]:
    """``"sex=F,age>40"`` (or a list of such strings) -> conditions; values may not contain commas."""
    if not where:
        return []
    parts = where if isinstance(where, (list, tuple)) else str(where).split(",")
    out = []
    for part in parts:
        if not str(part).strip():
            continue
        m = _COND.match(str(part))
        if not m:
            raise ConditionError(f"where: cannot read {str(part).strip()!r}; write e.g. sex=F,age>40")
        out.append(Condition(m.group(1).strip(), m.group(2), m.group(3)))
    return out


def _same_level(level: Any, text: str) -> bool:
    if str(level) == text:
        return True
    if isinstance(level, bool):
        return text.lower() == str(level).lower()
    try:
        return isinstance(level, (int, float)) and float(text) == float(level)
    except ValueError:
        return False


def resolve_conditions(conds: list[Condition], codec: TableCodec) -> list[Condition]:
    """Check every condition against the schema; raise ConditionError for impossible ones."""
    schema = codec.schema
    for c in conds:
        if c.column not in schema.names:
            if c.column in schema.dropped:
                raise ConditionError(f"where {c}: column {c.column!r} is not generated (it was dropped as an identifier)")
            raise ConditionError(f"where {c}: no column {c.column!r} (columns: {', '.join(schema.names)})")
        spec = c.spec = schema[c.column]
        if spec.discrete:
            if c.op not in ("=", "!="):
                raise ConditionError(f"where {c}: {c.column!r} is categorical; only = and != apply")
            if c.text == "":
                c.matches = [None]
                if c.op == "=" and spec.missing == 0:
                    raise ConditionError(f"where {c}: impossible: {c.column!r} has no missing values")
                continue
            c.matches = [lv for lv in spec.levels + spec.other_levels if _same_level(lv, c.text)]
            if c.op == "=" and not c.matches:
                shown = ", ".join(map(str, spec.levels[:10])) + (", ..." if len(spec.levels) > 10 else "")
                raise ConditionError(f"where {c}: impossible: {c.text!r} is not a level of {c.column!r} "
                                     f"(levels: {shown})")
            idx = [i for i, lv in enumerate(spec.levels) if _same_level(lv, c.text)]
            if c.op == "=" and len(idx) == 1 and len(c.matches) == 1:
                c.native = idx[0]
            continue
        if c.text == "":
            if c.op not in ("=", "!="):
                raise ConditionError(f"where {c}: give a value to compare with")
            if c.op == "=" and spec.missing == 0:
                raise ConditionError(f"where {c}: impossible: {c.column!r} has no missing values")
            continue
        try:
            if spec.kind == "datetime":
                import pandas as pd
                ts = pd.Timestamp(c.text)
                if ts.tzinfo is not None:
                    ts = ts.tz_convert("UTC").tz_localize(None)
                c.number = ts.value / 1e9
            else:
                c.number = float(c.text)
        except ValueError:
            raise ConditionError(f"where {c}: {c.text!r} is not a {'date' if spec.kind == 'datetime' else 'number'}") from None
        lo, hi, x = spec.min, spec.max, c.number
        impossible = ((c.op == ">" and x >= hi) or (c.op == ">=" and x > hi) or (c.op == "<" and x <= lo)
                      or (c.op == "<=" and x < lo) or (c.op == "=" and not lo <= x <= hi)
                      or (c.op == "=" and spec.kind == "integer" and not float(x).is_integer()))
        if impossible:
            raise ConditionError(f"where {c}: impossible: {c.column!r} is generated within [{_fmt(spec, lo)}, "
                                 f"{_fmt(spec, hi)}]" + (" and is integer" if spec.kind == "integer" else ""))
    return conds


def _fmt(spec: ColumnSpec, x: float) -> str:
    if spec.kind == "datetime":
        import pandas as pd
        return str(pd.Timestamp(x, unit="s"))
    return f"{x:g}"


def condition_mask(df, conds: list[Condition]) -> np.ndarray:
    mask = np.ones(len(df), bool)
    for c in conds:
        s = df[c.column]
        if c.spec.discrete:
            hit = s.isna().to_numpy() if c.matches == [None] else s.isin([m for m in c.matches if m is not None]).to_numpy()
            mask &= hit if c.op == "=" else ~hit
            continue
        if c.number is None:  # "col=" / "col!=": missing / present
            hit = s.isna().to_numpy()
            mask &= hit if c.op == "=" else ~hit
            continue
        if c.spec.kind == "datetime":
            x = s.dt.tz_convert("UTC").dt.tz_localize(None) if c.spec.tz else s
            v = (x.astype("datetime64[ns]").astype("int64") / 1e9).where(x.notna()).to_numpy(dtype=float)
        else:
            v = s.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            hit = {"=": v == c.number, "!=": v != c.number, ">": v > c.number, ">=": v >= c.number,
                   "<": v < c.number, "<=": v <= c.number}[c.op]
        mask &= hit  # comparisons with NaN (missing) are False, except !=
    return mask


# --------------------------------------------------------------------------------------- predictor
class _TableGraph(nn.Module):
    """The exported table generator: noise (and the conditional vector) -> tanh scalars and softmax blocks."""

    def __init__(self, G: nn.Module, spans: list[tuple[int, int, str]]):
        super().__init__()
        self.G, self.spans = G, spans

    def forward(self, z: torch.Tensor, *cond: torch.Tensor) -> torch.Tensor:
        raw = self.G(torch.cat([z, *cond], 1)).float()
        return torch.cat([torch.tanh(raw[:, a:a + n]) if act == "tanh" else torch.softmax(raw[:, a:a + n], dim=1)
                          for a, n, act in self.spans], dim=1)


class TableModel(Model):
    """A trained table generator: ``sample(rows, seed=..., condition="sex=F,age>40")`` gives a pandas DataFrame
    with the input's columns (identifiers left out), order and dtypes."""

    Options = TableOptions
    sample_suffixes = (".csv", ".parquet", ".tsv")
    condition_help = 'conditions every row meets, e.g. "sex=F,age>40"'

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu", *,
                 codec: TableCodec | None = None):
        super().__init__(nets, meta, path, device)
        self.codec = codec or TableCodec.from_json(meta["codec"])
        self.cond = CondSampler(self.codec, None, meta["cond_freq"])
        self.calibration = meta.get("calibration") or {}
        #: "gan", or "copula": then G is a TableCopula and the copula's marginals decode its scores
        self.family = meta.get("family", "gan")
        self.copula = GaussianCopula.from_json(meta["copula"]) if self.family == "copula" else None

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        return {"G": {"class": registry.name_of(TableGenerator), **meta["nets"]["G"]}}


    @property
    def columns(self) -> list[str]:
        return self.codec.schema.output_order

    def export_graph(self) -> ExportGraph:
        """noise [N, z_dim] (and cond [N, cond_dim]) -> the encoded row [N, dim]: tanh scalars and softmax
        blocks; ``decoding`` says how a row becomes the table's values."""
        if self.copula is not None:
            return self._copula_graph()
        codec, k = self.codec, self.codec.cond_dim
        module = _TableGraph(self.G, [(s.start, s.size, s.act) for s in codec.spans])

        def make_inputs(n: int, seed: int, dims: dict[str, int]) -> dict[str, torch.Tensor]:
            gen = torch.Generator().manual_seed(seed)
            out = {"noise": torch.randn(n, self.options.z_dim, generator=gen)}
            if k:
                out["cond"] = self.cond.sample(n, gen)
            return out

        inputs = make_inputs(2, 0, {})
        info = {"noise": {"shape": ["batch", self.options.z_dim], "dtype": "float32", "range": "standard normal N(0, 1)",
                          "meaning": "one noise vector per row"}}
        if k:
            info["cond"] = {"shape": ["batch", k], "dtype": "float32", "range": [0, 1],
                            "meaning": "the conditional vector: see decoding.cond"}
        out = {"row": {"shape": ["batch", codec.dim], "dtype": "float32", "range": [-1, 1],
                       "meaning": "the encoded row: see decoding.spans"}}
        return ExportGraph(module, inputs, ["row"], {name: {0: "batch"} for name in inputs}, info, out,
                           "table generator: noise (and a conditional vector) -> one encoded row per noise vector",
                           make_inputs, decoding=self._decoding())

    def _copula_graph(self) -> ExportGraph:
        """noise [N, columns] and a component index [N] -> normal scores [N, columns]; ``decoding`` maps
        scores to values."""
        d, weights = self.copula.dim, torch.from_numpy(self.copula.weights)

        def make_inputs(n: int, seed: int, dims: dict[str, int]) -> dict[str, torch.Tensor]:
            gen = torch.Generator().manual_seed(seed)
            return {"noise": torch.randn(n, d, generator=gen),
                    "component": torch.multinomial(weights, n, replacement=True, generator=gen)}

        inputs = make_inputs(2, 0, {})
        info = {"noise": {"shape": ["batch", d], "dtype": "float32", "range": "standard normal N(0, 1)",
                          "meaning": "one noise vector per row"},
                "component": {"shape": ["batch"], "dtype": "int64", "range": [0, len(weights) - 1],
                              "meaning": "the copula of each row, drawn with the parts' weights (see decoding)"}}
        out = {"scores": {"shape": ["batch", d], "dtype": "float32", "range": "normal scores",
                          "meaning": "one normal score per column: see decoding"}}
        return ExportGraph(self.G, inputs, ["scores"], {k: {0: "batch"} for k in inputs}, info, out,
                           "Gaussian copula: noise and a component -> normal scores, one per column", make_inputs,
                           decoding={**self.copula.describe(), "levels": self._decoding()["columns"]})

    def _decoding(self) -> dict[str, Any]:
        """How an exported row becomes values (what ``sample`` does), and how ``cond`` is made."""
        codec = self.codec
        spans = [{"start": s.start, "size": s.size, "activation": s.act, "column": codec.schema.columns[s.column].name,
                  "part": s.part} for s in codec.spans]
        columns = []
        for spec, st in zip(codec.schema.columns, codec.state):
            col: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "dtype": spec.dtype}
            if spec.kind in NUMERIC:
                col.update(means=st["means"], stds=st["stds"], min=spec.min, max=spec.max,
                           has_missing=st["has_missing"])
                if spec.kind == "datetime":
                    col.update(unit="seconds since 1970-01-01 UTC", tz=spec.tz, resolution=spec.resolution)
            else:
                col.update(levels=list(spec.levels), has_other=st["has_other"], has_missing=st["has_missing"])
                if st["has_other"]:
                    col.update(other_levels=list(spec.other_levels), other_counts=list(spec.other_counts))
            columns.append(col)
        blocks = [{"column": codec.schema.columns[c].name, "offset": codec.cond_offsets[j], "size": s.size,
                   "frequencies": self.cond.freq[j] if j < len(self.cond.freq) else []}
                  for j, (c, s) in enumerate(codec.discrete)]
        return {
            "spans": spans,
            "columns": columns,
            "output_order": list(self.columns),
            "how": [
                "softmax blocks: pick one index per block; sample() draws argmax(log(p) + Gumbel noise), "
                "argmax(p) gives the most likely",
                "part 'value' (numeric columns): m = the index picked in the column's 'mode' block; "
                "value = clip(row[start], -1, 1) * 4 * stds[m] + means[m]",
                "part 'missing': index 1 means the value is missing",
                "part 'level' (categorical, boolean): index i < len(levels) is levels[i]; then 'other' (when "
                "has_other: a value drawn from other_levels in proportion to other_counts), then missing",
                "then, where calibration lists a column, value = interp(value, generated, real) (quantile mapping)",
                "finally numeric values are clipped to [min, max]; integers rounded; datetimes rounded to resolution",
            ],
            "cond": {"blocks": blocks,
                     "how": "one-hot: pick a block (column) uniformly and a level in proportion to its frequency, "
                            "set cond[offset + level] = 1; to ask for a level, set only that entry (sample() then "
                            "also forces that column's level block to it)"},
            "calibration": self.calibration,
        }

    @torch.no_grad()
    def _values(self, n: int, gen: torch.Generator, rng: np.random.Generator, native: Condition | None):
        """Model values per column (before calibration and dtype restoration)."""
        if self.copula is not None:   # conditions are met by rejection (``native`` is never set)
            # a stratified batch: each copula's share of rows and each column's quantiles without sampling noise
            k = self.copula.components(n, rng)
            noise = torch.randn(n, self.copula.dim, generator=gen)
            scores = self.G(noise.to(self.device), torch.from_numpy(k).to(self.device)).float().cpu().numpy()
            return self.copula.decode(self.copula.stratify(scores, k, rng), self.codec, rng, k)
        z = torch.randn(n, self.options.z_dim, generator=gen)
        if native is not None:
            k = next(i for i, (c, _) in enumerate(self.codec.discrete) if self.codec.schema.columns[c].name == native.column)
            cond = self.cond.vector(torch.full((n,), k), torch.full((n,), native.native))
        else:
            cond = self.cond.sample(n, gen)
        raw = self.G(torch.cat([z, cond], 1).to(self.device)).float().cpu()
        x = activate(raw, self.codec, 1.0, gen, hard=True).numpy()
        if native is not None:   # the conditioned column takes the asked level: exact, not approximate
            span = self.codec.discrete[k][1]
            x[:, span.start:span.start + span.size] = 0.0
            x[:, span.start + native.native] = 1.0
        return self.codec.inverse(x, seed=int(rng.integers(2**31 - 1)))

    def _generate(self, n: int, gen: torch.Generator, rng: np.random.Generator, native: Condition | None):
        import pandas as pd

        values = self._values(n, gen, rng, native)
        for name, cal in self.calibration.items():
            g = np.asarray(cal["generated"])
            g = g + np.arange(len(g)) * 1e-9 * max(1.0, float(np.abs(g).max()))  # strictly increasing for interp
            values[name] = np.interp(values[name], g, np.asarray(cal["real"]))    # NaN (missing) stays NaN
        specs = {c.name: c for c in self.codec.schema.columns}
        return pd.DataFrame({name: restore_column(specs[name], values[name]) for name in self.columns})

    def sample(self, n: int, *, seed: int = 0, condition: str | list | None = None, where: str | list | None = None,
               batch: int = 50_000, max_draws: int | None = None):
        """``n`` synthetic rows as a DataFrame; same seed, same rows.

        ``condition`` (e.g. ``"sex=F,age>40"``, or a list of such terms): every returned row satisfies every
        condition. A categorical equality conditions the generator natively; the rest is met by batched
        rejection, drawing at most ``max_draws`` rows (default max(200,000, 200 x n)) before raising
        :class:`ConditionError`. ``where`` is the former name of ``condition`` (deprecated).
        """
        import pandas as pd

        if where is not None:
            import warnings
            warnings.warn("TableModel.sample(where=...) is now sample(condition=...)", DeprecationWarning, stacklevel=2)
            if condition is None:
                condition = where
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"rows must be a non-negative integer, got {n!r}")
        rows = int(n)
        conds = resolve_conditions(parse_where(condition), self.codec)
        native = None
        natives = [c for c in conds if c.native is not None] if self.copula is None else []
        if natives:  # condition on the rarest one; the others are checked by rejection
            native = min(natives, key=lambda c: c.spec.counts[c.native])
        rest = [c for c in conds if c is not native]
        gen = torch.Generator().manual_seed(int(seed))
        rng = np.random.default_rng(int(seed))
        budget = max_draws if max_draws is not None else max(200_000, 200 * rows)
        parts, have, drawn = [], 0, 0
        while have < rows:
            if drawn >= budget:
                raise ConditionError(
                    f"where {','.join(map(str, conds))}: too rare: {have} of {drawn:,} generated rows matched, "
                    f"{rows} were asked for (raise max_draws, or relax the condition)")
            rate = (have + 1) / (drawn + 1) if drawn else 1.0
            if rest:
                draw = int(min(batch, budget - drawn, max(1000, math.ceil((rows - have) / rate * 1.2))))
            else:
                draw = min(batch, rows - have)
            df = self._generate(draw, gen, rng, native)
            drawn += draw
            if rest:
                df = df[condition_mask(df, rest)]
            parts.append(df)
            have += len(df)
        if not parts:
            specs = {c.name: c for c in self.codec.schema.columns}
            return pd.DataFrame({c: restore_column(specs[c], np.array([], dtype=float if specs[c].kind in NUMERIC
                                                                        else object)) for c in self.columns})
        return pd.concat(parts, ignore_index=True).iloc[:rows].reset_index(drop=True)

    def write_samples(self, result, path: str | Path, *, nrow: int | None = None) -> list[Path]:
        """Write the rows as CSV (TSV for .tsv) or Parquet, by suffix."""
        from ..data.tables import write_table

        path = Path(path)
        self.check_sample_path(path)
        return [write_table(result, path)]

    def write_each(self, result, folder: str | Path, *, prefix: str = "") -> list[Path]:
        raise NotSupported("a table model writes its rows to one file: -o synth.csv (or .parquet)")

    def preview(self, result, path: str | Path) -> list[Path]:
        """The rows as CSV (the studio shows its head)."""
        from ..data.tables import write_table

        return [write_table(result, Path(path).with_suffix(".csv"))]


TabularSynthesis.Predictor = TableModel
