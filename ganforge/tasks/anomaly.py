"""Anomaly detection: a GANomaly-class model trained on normal images only (Akcay et al. 2018).

The generator encodes an image (z), decodes it (x_hat) and encodes the reconstruction again (z_hat);
a discriminator sees real images and reconstructions. Trained on normal images alone, the model
reconstructs normal images well and anomalies badly, so five scores per image are available:

- ``latent``: mean (z - z_hat)^2, GANomaly's score;
- ``recon``: mean |x - x_hat|, the reconstruction error (its per-pixel map is the heat map);
- ``mixed``: the mean of both after standardising each on held-out normal images;
- ``fanogan``: f-AnoGAN's score (Schlegl et al. 2019), mean (x - x_hat)^2 + kappa * mean (f(x) - f(x_hat))^2
  with f the discriminator's features; here the encoder and decoder train together (GANomaly's losses,
  plus f-AnoGAN's per-image feature residual, izi_f, when ``w_feat`` > 0) rather than an encoder fitted
  afterwards to a frozen WGAN generator;
- ``knn``: the distance of an image's discriminator features (every stage pooled to 2x2) to its ``k``
  nearest normal training images' (up to ``bank`` of them are kept in the model file).

A fraction of the normal images (``holdout``) is kept out of training; their scores fix the automatic
threshold (the ``quantile`` of held-out normal scores, stored in the model file) and the standardisation.
At the end of training the held-out check (``holdout_check`` in the model file, also logged) says how well
the chosen score tells held-out normal images from synthetic anomalies made of them, beside a pixel nearest
neighbour on the same images: no labelled anomalies exist at training time, so this is a sanity check.
With ``w_adv`` = 0 and ``w_enc`` = 0 the same networks train as a plain autoencoder (the baseline).
"""
from __future__ import annotations

import copy
import csv
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import losses, nets
from ..config import check_choices, option, to_dict
from ..data.imageset import ImageSet
from ..engine import AdversarialTask, Callback, Phase
from ..errors import ConfigError, DataError
from ..nets.autoencoder import FeatureDiscriminator, GanomalyGenerator
from ..predict.base import Model, verb
from . import register

log = logging.getLogger("ganforge.tasks.anomaly")

SCORES = ("latent", "recon", "mixed", "fanogan", "knn")
SYNTHETIC = ("patch", "rotation", "tiles")


@dataclass
class AnomalyOptions:
    data: str = option("builtin:digits", "Normal images only (folder, zip, IDX, .npz, builtin:digits).")
    size: int = option(32, "Image side: 16, 32, 64 or 128.", choices=(16, 32, 64, 128))
    channels: int | None = option(None, "Image channels, 1 or 3 (default: 1 if every image is grey, else 3).",
                                  choices=(1, 3))
    limit: int | None = option(None, "Use only the first N normal images.")
    normal_class: str | None = option(None, "Use only this class of labelled data (class folder or IDX label) as "
                                      "the normal images.")
    holdout: float = option(0.05, "Fraction of normal images kept out of training, for the automatic threshold.")
    quantile: float = option(0.95, "Automatic threshold: this quantile of held-out normal scores.")
    score: str = option("latent", "Score: latent (GANomaly), recon (reconstruction error), mixed, fanogan (pixel + "
                        "discriminator-feature residual) or knn (distance to the nearest normal training images in "
                        "the discriminator's features).", choices=SCORES)
    kappa: float = option(1.0, "fanogan score: weight of the discriminator-feature residual (f-AnoGAN's kappa).")
    bank: int = option(4096, "knn score: at most this many normal training images' discriminator features are kept "
                       "in the model file (0: none, no knn score).", before=0)
    k: int = option(1, "knn score: mean distance to this many nearest normal training images.")
    negatives: float = option(0.0, "The discriminator also sees this many (a fraction of the batch) normal images "
                              "made abnormal (rotated, quarters swapped) as fakes: negative data augmentation.",
                              before=0.0)
    w_feat: float = option(0.0, "Weight of the per-image discriminator-feature residual ||f(x) - f(x_hat)||^2 in the "
                           "generator's loss (f-AnoGAN's izi_f encoder training; needs w_adv > 0).", before=0.0)
    z_dim: int = option(100, "Code size.")
    width: int = option(32, "Base channel count.")
    w_adv: float = option(1.0, "Weight of the feature-matching adversarial term (0: no discriminator).")
    w_rec: float = option(50.0, "Weight of the L1 reconstruction term.")
    w_enc: float = option(1.0, "Weight of the latent consistency term ||z - z_hat||^2 (0: no second encoder).")

    def validate(self) -> None:
        check_choices(self)
        if not 0 < self.holdout < 0.5:
            raise ConfigError(f"holdout must lie in (0, 0.5), got {self.holdout}")
        if not 0 < self.quantile < 1:
            raise ConfigError(f"quantile must lie in (0, 1), got {self.quantile}")
        for name in ("z_dim", "width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("w_adv", "w_rec", "w_enc", "w_feat", "kappa"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.w_rec == 0 and self.w_adv == 0:
            raise ConfigError("w_rec and w_adv are both 0: nothing would train the decoder")
        if self.score in ("latent", "mixed") and self.w_enc == 0:
            raise ConfigError(f"score {self.score!r} needs the second encoder (w_enc > 0); use score='recon'")
        if self.bank < 0 or self.k < 1:
            raise ConfigError(f"bank must be >= 0 and k >= 1, got bank={self.bank}, k={self.k}")
        if self.w_adv == 0 and (self.score in ("fanogan", "knn") or self.w_feat > 0):
            what = f"score {self.score!r}" if self.score in ("fanogan", "knn") else "w_feat > 0"
            raise ConfigError(f"{what} needs the discriminator (w_adv > 0)")
        if self.score == "knn" and self.bank == 0:
            raise ConfigError("score 'knn' needs a feature bank (bank > 0)")


def select_class(data: ImageSet, name: str) -> ImageSet:
    """The images of class ``name`` (a class folder or IDX label) of ``data``."""
    if data.labels is None:
        raise DataError(f"{data.source}: normal_class={name!r} needs labelled data (class folders or IDX labels)")
    if str(name) not in data.class_names:
        raise DataError(f"{data.source}: no class {name!r}; classes are {', '.join(data.class_names)}")
    keep = data.labels == data.class_names.index(str(name))
    return ImageSet(data.images[keep].contiguous(), None, None, f"{data.source} (class {name})")


@register("anomaly")
class AnomalyDetection(AdversarialTask):
    Options = AnomalyOptions
    data_kind = "images"
    ema_module = None  # scores come from the trained weights; batch-norm statistics stay consistent

    def __init__(self, options: AnomalyOptions, data: ImageSet | None = None, seed: int = 0, progress=None):
        from ..data import load_images

        options.validate()
        self.options = opt = copy.deepcopy(options)
        if data is None:
            data = load_images(opt.data, opt.size, channels=opt.channels, limit=None if opt.normal_class else opt.limit,
                               progress=progress)
            if opt.normal_class is not None:
                data = select_class(data, opt.normal_class)
                if opt.limit:
                    data = ImageSet(data.images[:opt.limit].contiguous(), None, None, data.source)
        self.data = data
        if opt.channels is None:
            opt.channels = data.channels
        n = len(data)
        n_hold = max(2, int(round(n * opt.holdout)))
        if n - n_hold < 8:
            raise DataError(f"{data.source}: {n} normal images are too few (need at least {n_hold + 8})")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        self._train = data.images[perm[n_hold:]]
        self._hold = data.images[perm[:n_hold]]
        self.modules = {"G": GanomalyGenerator(size=opt.size, channels=opt.channels, width=opt.width, z_dim=opt.z_dim,
                                               second_encoder=opt.w_enc > 0)}
        self.phases = [Phase("G", "G", 1)]
        if opt.w_adv > 0:
            self.modules["D"] = FeatureDiscriminator(size=opt.size, channels=opt.channels, width=opt.width)
            self.phases.append(Phase("D", "D", 1))

    def learning_rates(self, lr_g: float, lr_d: float) -> dict[str, float]:
        return {"G": lr_g, "D": lr_d}

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        idx = torch.randint(len(self._train), (batch,), generator=gen)
        return self._train[idx].to(device).float().div_(127.5).sub_(1.0)

    def loss(self, phase: str, batch: torch.Tensor, nets: dict[str, nn.Module], gen: torch.Generator):
        opt = self.options
        G = nets["G"]
        if phase == "G":
            x_hat, z, z_hat = G(batch)
            x_hat = x_hat.float()
            rec = (batch - x_hat).abs().mean()
            total = opt.w_rec * rec
            scalars = {"G/rec": rec.detach()}
            if opt.w_enc > 0:
                enc = (z.float() - z_hat.float()).pow(2).mean()
                total = total + opt.w_enc * enc
                scalars["G/enc"] = enc.detach()
            if opt.w_adv > 0:
                _, f_real = nets["D"](batch)
                _, f_fake = nets["D"](x_hat)
                adv = (f_real.float().detach().mean(0) - f_fake.float().mean(0)).pow(2).mean()
                total = total + opt.w_adv * adv
                scalars["G/adv"] = adv.detach()
                if opt.w_feat > 0:  # izi_f: each reconstruction's features match its own image's
                    feat = (f_real.float().detach() - f_fake.float()).pow(2).mean()
                    total = total + opt.w_feat * feat
                    scalars["G/feat"] = feat.detach()
            return total, scalars
        if phase == "D":
            D = nets["D"]
            with torch.no_grad():
                x_hat = G(batch)[0].float()
            real, _ = D(batch)
            fake, _ = D(x_hat)
            if self.options.negatives > 0:  # normal images made abnormal count as fakes too (Sinha et al. 2021)
                n = max(1, int(round(self.options.negatives * batch.shape[0])))
                fake = torch.cat([fake, D(shifted(batch[:n], gen))[0]])
            return losses.d_loss("ns", real, fake), {"D/real": real.detach().float().mean(),
                                                     "D/fake": fake.detach().float().mean()}
        raise ValueError(f"unknown phase {phase!r}")

    def data_description(self) -> dict[str, Any]:
        return dict(self.data.describe(), held_out=len(self._hold))

    def callbacks(self) -> list[Callback]:
        return [ReconstructionGrids(self)]

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        opt = self.options
        G = copy.deepcopy(raw["G"]).float().eval()
        D = copy.deepcopy(raw["D"]).float().eval() if "D" in raw else None
        keep = {"G": raw["G"]} if D is None else {"G": raw["G"], "D": raw["D"]}
        bank = None
        if D is not None and opt.bank > 0:
            bank = make_bank(D, self._train, opt.bank, opt.k)
            keep["bank"] = bank
        hold = self._hold.float().div(127.5).sub(1.0)
        out = compute_scores(G, hold, D=D, bank=bank, kappa=opt.kappa)
        calib = {k: {"mean": float(out[k].mean()), "std": float(out[k].std() + 1e-12)} for k in ("latent", "recon")}
        scores = combine(out, opt.score, calib)
        threshold = float(np.quantile(scores, opt.quantile))
        heat_scale = float(np.quantile(out["maps"], 0.999) * 2 + 1e-6)
        log.info("automatic threshold (%s score, %.0f%% of held-out normal images): %.5g", opt.score,
                 100 * opt.quantile, threshold)
        check = holdout_check(G, D, bank, hold, self._train[:max(opt.bank, 1024)], opt.score, calib, opt.kappa)
        log.info(check["line"])
        tensors, specs = nets.export(keep)
        return tensors, {"nets": specs, "options": to_dict(opt), "calibration": calib, "threshold": threshold,
                         "heat_scale": heat_scale, "holdout_check": check,
                         "holdout_scores": {"n": int(len(scores)), "quantile": opt.quantile,
                                            "median": float(np.median(scores)), "max": float(scores.max())}}


class ReconstructionGrids(Callback):
    """At every evaluation: ``samples/step-NNNNNN.png``, held-out normal images (top row) over their
    reconstructions and |x - x_hat| heat maps, so that one can see what the model has learnt."""

    def __init__(self, task: AnomalyDetection):
        self.task = task

    def on_eval(self, state, step: int) -> None:
        from ..imaging import media

        G = copy.deepcopy(state.net("G")).float().eval()
        x = self.task._hold[:8].float().div(127.5).sub(1.0)
        out = compute_scores(G, x)
        rows = [media.to_uint8(x), media.to_uint8(out["recon_images"])]
        if rows[0].shape[-1] == 1:
            rows = [r.repeat(3, -1) for r in rows]
        heat = heat_colours(out["maps"], float(np.quantile(out["maps"], 0.999) * 2 + 1e-6))
        grid = media.grid(np.concatenate(rows + [heat]), nrow=len(x))
        media.save_image(state.run_dir / "samples" / f"step-{step:06d}.png",
                         media.upscale(grid, max(1, 64 // self.task.options.size)))


def d_features(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The discriminator's feature map before its head, flattened: what f-AnoGAN's feature residual compares."""
    return D(x)[1].float().flatten(1)


@torch.no_grad()
def compute_scores(G: nn.Module, x: torch.Tensor, batch: int = 256, D: nn.Module | None = None,
                   bank: nn.Module | None = None, kappa: float = 1.0) -> dict[str, np.ndarray]:
    """Per-image ``latent`` and ``recon`` scores, ``maps`` (per-pixel |x - x_hat|, channel mean, [N, H, W])
    and ``recon_images`` (x_hat, float [-1, 1]) for float images ``x`` in [-1, 1], NCHW. With the
    discriminator ``D``: ``fanogan`` (mean (x - x_hat)^2 + kappa * mean (f(x) - f(x_hat))^2, f = D's
    features) and its two parts ``residual`` and ``feature_residual``; with a feature ``bank`` as well:
    ``knn`` (distance of x's pooled multi-stage D features to its k nearest normal training images')."""
    device = next(G.parameters(), torch.empty(0)).device
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("latent", "recon", "maps", "recon_images", "residual",
                                                             "feature_residual", "knn")}
    for s in range(0, x.shape[0], batch):
        xb = x[s:s + batch].to(device).float()
        x_hat, z, z_hat = G(xb)
        x_hat = x_hat.float()
        diff = (xb - x_hat).abs()
        parts["latent"].append((z.float() - z_hat.float()).pow(2).mean(1).cpu())
        parts["recon"].append(diff.flatten(1).mean(1).cpu())
        parts["maps"].append(diff.mean(1).cpu())
        parts["recon_images"].append(x_hat.cpu())
        if D is not None:
            f_x, f_hat = d_features(D, xb), d_features(D, x_hat)
            parts["residual"].append(diff.pow(2).flatten(1).mean(1).cpu())
            parts["feature_residual"].append((f_x - f_hat).pow(2).mean(1).cpu())
            if bank is not None:
                parts["knn"].append(bank(D.pooled_features(xb)).cpu())
    out = {k: torch.cat(v).numpy() for k, v in parts.items() if v}
    for k in ("latent", "recon", "maps", "recon_images"):
        out.setdefault(k, np.zeros((0,), np.float32))
    if "residual" in out:
        out["fanogan"] = out["residual"] + kappa * out["feature_residual"]
    return out


@torch.no_grad()
def make_bank(D: nn.Module, images: torch.Tensor, cap: int, k: int, seed: int = 0) -> nn.Module:
    """A FeatureBank of D's pooled features of at most ``cap`` of the uint8 ``images`` (a seeded random choice)."""
    from ..nets.autoencoder import FeatureBank

    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:cap]
    x = images[idx].float().div(127.5).sub(1.0)
    device = next(D.parameters()).device
    feats = torch.cat([D.pooled_features(x[s:s + 256].to(device)).cpu() for s in range(0, len(x), 256)])
    bank = FeatureBank(n=feats.shape[0], dim=feats.shape[1], k=k)
    bank.features.copy_(feats.half())
    return bank


def shifted(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image of ``x`` rotated by 90, 180 or 270 degrees or with its quarters swapped (a random choice
    per image, from ``gen``): negatives for the discriminator."""
    choice = torch.randint(0, 4, (x.shape[0],), generator=gen).tolist()
    h = x.shape[-1] // 2
    out = []
    for im, c in zip(x, choice):
        if c < 3:
            out.append(torch.rot90(im, c + 1, (1, 2)))
        else:
            out.append(torch.roll(im, (h, h), (1, 2)))
    return torch.stack(out)


def synthetic_anomalies(x: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, list[str]]:
    """One altered copy of each float image of ``x``, the kinds of SYNTHETIC in turn: ``patch`` (a square of
    side/4 to side/2 from another image pasted at a random place), ``rotation`` (90 degrees) and ``tiles``
    (its 4 x 4 tiles shuffled)."""
    gen = torch.Generator().manual_seed(seed)
    n, _, h, w = x.shape
    other = x[torch.roll(torch.arange(n), 1)]
    out, kinds = x.clone(), []
    for i in range(n):
        kind = SYNTHETIC[i % len(SYNTHETIC)]
        kinds.append(kind)
        if kind == "patch":
            side = int(torch.randint(max(1, h // 4), max(2, h // 2 + 1), (1,), generator=gen))
            ys, xs, yd, xd = (int(v) for v in torch.randint(0, h - side + 1, (4,), generator=gen))
            out[i, :, yd:yd + side, xd:xd + side] = other[i, :, ys:ys + side, xs:xs + side]
        elif kind == "rotation":
            out[i] = torch.rot90(x[i], 1, (1, 2))
        else:
            t = h // 4
            tiles = x[i, :, :4 * t, :4 * t].unfold(1, t, t).unfold(2, t, t).reshape(x.shape[1], 16, t, t)
            tiles = tiles[:, torch.randperm(16, generator=gen)].reshape(x.shape[1], 4, 4, t, t)
            out[i, :, :4 * t, :4 * t] = tiles.permute(0, 1, 3, 2, 4).reshape(x.shape[1], 4 * t, 4 * t)
    return out, kinds


def pixel_nn(train: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """Euclidean distance of each float image of ``x`` to the nearest of the float images ``train``."""
    from ..nets.autoencoder import FeatureBank

    bank = FeatureBank(n=train.shape[0], dim=train[0].numel(), k=1)
    bank.features = train.flatten(1).float()
    return bank(x.flatten(1)).numpy()


def holdout_check(G: nn.Module, D: nn.Module | None, bank: nn.Module | None, hold: torch.Tensor,
                  train: torch.Tensor, kind: str, calib: dict[str, dict[str, float]], kappa: float) -> dict[str, Any]:
    """How well score ``kind`` separates the held-out normal images from synthetic anomalies made of them
    (AUROC), beside a pixel nearest neighbour over (up to) the same normal training images ``train`` (uint8).
    No labelled anomalies exist at training time; synthetic ones are a sanity check, not a forecast."""
    from sklearn.metrics import roc_auc_score

    odd, kinds = synthetic_anomalies(hold)
    both = torch.cat([hold, odd])
    y = np.r_[np.zeros(len(hold)), np.ones(len(odd))]
    out = compute_scores(G, both, D=D, bank=bank, kappa=kappa)
    ours = combine(out, kind, calib)
    pix = pixel_nn(train.float().div(127.5).sub(1.0), both)
    available = [k for k in SCORES if k == "mixed" or k in out]
    if getattr(G, "encoder2", None) is None:   # a plain autoencoder: z_hat is z
        available = [k for k in available if k not in ("latent", "mixed")]
    res: dict[str, Any] = {"score": kind, "n_normal": len(hold), "n_synthetic": len(odd),
                           "auroc": round(float(roc_auc_score(y, ours)), 4),
                           "auroc_pixel_nn": round(float(roc_auc_score(y, pix)), 4), "by_kind": {}}
    for k in SYNTHETIC:
        sel = np.r_[np.ones(len(hold), bool), np.array(kinds) == k]
        if sel.sum() > len(hold):
            res["by_kind"][k] = {"auroc": round(float(roc_auc_score(y[sel], ours[sel])), 4),
                                 "auroc_pixel_nn": round(float(roc_auc_score(y[sel], pix[sel])), 4)}
    res["by_score"] = {k: round(float(roc_auc_score(y, combine(out, k, calib))), 4) for k in available}
    best = max(res["by_score"], key=res["by_score"].get)
    res["line"] = (f"held-out check: the {kind} score tells {len(hold)} held-out normal images from {len(odd)} synthetic "
                   f"anomalies made of them ({', '.join(SYNTHETIC)}) with AUROC {res['auroc']:.3f}; a pixel nearest "
                   f"neighbour over {len(train)} training images: {res['auroc_pixel_nn']:.3f} (synthetic anomalies are "
                   "a sanity check, not real ones)" + (f"; best score on this check: {best} ({res['by_score'][best]:.3f})"
                                                        if best != kind else ""))
    return res


def combine(out: dict[str, np.ndarray], kind: str, calib: dict[str, dict[str, float]]) -> np.ndarray:
    if kind in ("latent", "recon", "fanogan", "knn"):
        return out[kind].astype(np.float64)
    z = [(out[k] - calib[k]["mean"]) / calib[k]["std"] for k in ("latent", "recon")]
    return ((z[0] + z[1]) / 2).astype(np.float64)


def heat_colours(maps: np.ndarray, scale: float) -> np.ndarray:
    """[N, H, W] non-negative maps -> uint8 [N, H, W, 3] in a black-red-yellow-white ("hot") scale."""
    h = np.clip(maps / max(scale, 1e-12), 0, 1)[..., None]
    rgb = np.concatenate([np.clip(3 * h, 0, 1), np.clip(3 * h - 1, 0, 1), np.clip(3 * h - 2, 0, 1)], axis=-1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def as_images(images: Any, size: int, channels: int) -> tuple[torch.Tensor, list[str]]:
    """Float [-1, 1] NCHW images of ``size`` and ``channels`` from a source (folder, file, archive, IDX, ...),
    an ImageSet, a uint8 array (NHW, NHWC or NCHW) or a float tensor in [-1, 1]; plus a name per image."""
    if isinstance(images, (str, os.PathLike)):
        names, x = _read_named(images, size, channels)
        return x, names
    if isinstance(images, ImageSet):
        x = images.images
    elif isinstance(images, np.ndarray):
        a = images
        if a.ndim == 3:
            a = a[:, None]
        elif a.ndim == 4 and a.shape[-1] in (1, 3) and a.shape[1] not in (1, 3):
            a = a.transpose(0, 3, 1, 2)
        if a.ndim != 4:
            raise DataError(f"images: expected NHW, NHWC or NCHW, got shape {images.shape}")
        if a.dtype != np.uint8:
            raise DataError(f"images: a NumPy array must be uint8, got {a.dtype} (float tensors in [-1, 1] are "
                            "accepted as torch tensors)")
        x = torch.from_numpy(np.ascontiguousarray(a))
    elif isinstance(images, torch.Tensor):
        x = images
    else:
        raise DataError(f"images: cannot read a {type(images).__name__}; give a path, an ImageSet, an array or a tensor")
    if x.dim() != 4:
        raise DataError(f"images: expected a 4-D NCHW batch, got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        x = x.float().div(127.5).sub(1.0)
    x = x.float()
    if x.shape[1] != channels:
        if x.shape[1] == 3 and channels == 1:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        elif x.shape[1] == 1 and channels == 3:
            x = x.repeat(1, 3, 1, 1)
        else:
            raise DataError(f"images: {x.shape[1]} channels, the model takes {channels}")
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x, [f"{i:05d}" for i in range(x.shape[0])]


def _read_named(source: str | os.PathLike, size: int, channels: int) -> tuple[list[str], torch.Tensor]:
    """Images of a folder or single file keep their relative file names; other sources get indices."""
    from ..data import load_images
    from ..data.images import Unreadable, decode_image, is_image_name, no_images_error, skip

    path = Path(source).expanduser()
    if path.is_dir() and not any(p.name.endswith(("idx3-ubyte", "idx3-ubyte.gz")) for p in path.iterdir()):
        names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                       if p.is_file() and is_image_name(p.relative_to(path).as_posix()))
        files = [(n, path / n) for n in names]
    elif path.is_file() and is_image_name(path.name):
        files = [(path.name, path)]
    else:
        data = load_images(str(source), size, channels=channels)
        return [f"{i:05d}" for i in range(len(data))], data.images.float().div(127.5).sub(1.0)
    kept, arrays, skipped = [], [], []
    for name, file in files:
        try:
            im = decode_image(file.read_bytes(), size, channels)
        except (Unreadable, OSError) as e:
            skip(skipped, name, str(e))
            continue
        arrays.append(np.asarray(im).reshape(size, size, -1))
        kept.append(name)
    if not kept:
        raise no_images_error(str(source), skipped) if skipped else DataError(f"no image files in {source}")
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    return kept, x


class AnomalyModel(Model):
    """A trained anomaly detector.

    ``score(images)`` -> anomaly score per image (higher = more anomalous; ``kind`` one of SCORES,
    default: the one trained for); ``predict(images)`` -> True where the score exceeds the threshold
    (default: the automatic one stored in the model file); ``analyze(images)`` -> scores, names,
    reconstructions and heat maps (per-pixel |x - x_hat|). ``images``: a path (folder, file, archive,
    IDX, ...), an ImageSet, a uint8 array or a float tensor in [-1, 1]. The verb ``score`` (``score_files``)
    writes the scores of image files to a CSV, with optional heat maps and threshold.
    """

    Options = AnomalyOptions

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu"):
        super().__init__(nets, meta, path, device)
        for net in self.nets.values():
            net.float()
        self.size, self.channels, self.kind = self.options.size, self.options.channels, self.options.score

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        return {"G": {"class": "autoencoder.GanomalyGenerator", **meta["nets"]["G"]}}

    @property
    def threshold(self) -> float:
        """The automatic threshold: a high quantile of scores on held-out normal training images."""
        return float(self.meta["threshold"])

    def _kind(self, kind: str | None) -> str:
        kind = kind or self.kind
        if kind not in SCORES:
            raise ConfigError(f"score kind must be one of {', '.join(SCORES)}; got {kind!r}")
        if kind in ("latent", "mixed") and self.nets["G"].encoder2 is None:
            raise ConfigError(f"this model is a plain autoencoder: only the 'recon' score exists, not {kind!r}")
        if kind in ("fanogan", "knn") and self.D is None:
            raise ConfigError(f"this model file keeps no discriminator (trained without one, or before ganforge "
                              f"kept it): the {kind!r} score needs one; retrain for it")
        if kind == "knn" and "bank" not in self.nets:
            raise ConfigError("this model file keeps no feature bank (bank=0, or saved before ganforge kept one): "
                              "the 'knn' score needs one; retrain for it")
        return kind

    def analyze(self, images: Any, kind: str | None = None, every: bool = True) -> dict[str, Any]:
        kind = self._kind(kind)
        x, names = as_images(images, self.size, self.channels)
        D = self.D if every or kind in ("fanogan", "knn") else None
        out = compute_scores(self.nets["G"], x, D=D, bank=self.nets.get("bank") if every or kind == "knn" else None,
                             kappa=self.options.kappa)
        return dict({k: v for k, v in out.items() if k not in ("recon_images",)}, names=names,
                    scores=combine(out, kind, self.meta["calibration"]), kind=kind, inputs=x,
                    reconstructions=out["recon_images"])

    def score(self, images: Any, kind: str | None = None) -> np.ndarray:
        return self.analyze(images, kind, every=False)["scores"]

    def predict(self, images: Any, threshold: float | None = None) -> np.ndarray:
        return self.score(images) > (self.threshold if threshold is None else threshold)

    @verb("score", help={
        "images": "Images to score (folder, file, zip, IDX, .npz).",
        "output": "CSV: name, score[, anomaly].",
        "heatmaps": "Write input | reconstruction | heat map pictures into this folder.",
        "threshold": "'auto' (stored in the model) or a number: adds an 'anomaly' column.",
        "kind": "latent, recon, mixed, fanogan or knn (default: the model's)."})
    def score_files(self, images: str, output: Path = Path("scores.csv"), heatmaps: Path | None = None,
                    threshold: str | None = None, kind: str | None = None) -> str:
        """Anomaly score per image (higher = more anomalous), optional heat maps and threshold."""
        from ..fileio import write_bytes
        from ..imaging import media

        limit = None
        if threshold is not None:
            if threshold == "auto":
                if kind is not None and kind != self.kind:
                    raise ConfigError(f"--threshold auto was calibrated for the {self.kind!r} score; "
                                      f"give a number for --kind {kind}")
                limit = self.threshold
            else:
                try:
                    limit = float(threshold)
                except ValueError:
                    raise ConfigError(f"--threshold must be 'auto' or a number, got {threshold!r}") from None
        result = self.analyze(images, kind, every=False)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["name", "score"] + (["anomaly"] if limit is not None else []))
        for name, s in zip(result["names"], result["scores"]):
            w.writerow([name, f"{s:.6g}"] + ([int(s > limit)] if limit is not None else []))
        write_bytes(Path(output), buf.getvalue().encode())
        n = len(result["names"])
        msg = f"scored {n} images ({result['kind']} score) -> {output}"
        if limit is not None:
            msg += f"; {int((result['scores'] > limit).sum())} above the threshold {limit:.5g}"
        if heatmaps is not None:
            for name, panel in zip(result["names"], self.heatmap_panels(result)):
                media.save_image(Path(heatmaps) / (Path(name).with_suffix("").as_posix().replace("/", "__") + ".png"),
                                 panel)
            msg += f"; {n} heat maps in {heatmaps}"
        return msg

    def heatmap_panels(self, result: dict[str, Any], scale: int | None = None) -> list[np.ndarray]:
        """One uint8 HWC picture per image: input | reconstruction | heat map, enlarged to >= 96 px high."""
        from ..imaging import media

        inputs = media.to_uint8(result["inputs"])
        recons = media.to_uint8(result["reconstructions"])
        heat = heat_colours(result["maps"], self.meta["heat_scale"])
        if inputs.shape[-1] == 1:
            inputs, recons = inputs.repeat(3, -1), recons.repeat(3, -1)
        scale = scale or max(1, 96 // self.size)
        gap = np.full((self.size, 2, 3), 255, np.uint8)
        return [media.upscale(np.concatenate([a, gap, b, gap, c], axis=1), scale)
                for a, b, c in zip(inputs, recons, heat)]


AnomalyDetection.Predictor = AnomalyModel
