"""Anomaly detection: a GANomaly-class model trained on normal images only (Akcay et al. 2018).

The generator encodes an image (z), decodes it (x_hat) and encodes the reconstruction again (z_hat);
a discriminator sees real images and reconstructions. Trained on normal images alone, the model
reconstructs normal images well and anomalies badly, so three scores per image are available:

- ``latent``: mean (z - z_hat)^2, GANomaly's score;
- ``recon``: mean |x - x_hat|, the reconstruction error (its per-pixel map is the heat map);
- ``mixed``: the mean of both after standardising each on held-out normal images.

A fraction of the normal images (``holdout``) is kept out of training; their scores fix the automatic
threshold (the ``quantile`` of held-out normal scores, stored in the model file) and the standardisation.
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

SCORES = ("latent", "recon", "mixed")


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
    score: str = option("latent", "Score: latent (GANomaly), recon (reconstruction error) or mixed.", choices=SCORES)
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
        for name in ("w_adv", "w_rec", "w_enc"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.w_rec == 0 and self.w_adv == 0:
            raise ConfigError("w_rec and w_adv are both 0: nothing would train the decoder")
        if self.score != "recon" and self.w_enc == 0:
            raise ConfigError(f"score {self.score!r} needs the second encoder (w_enc > 0); use score='recon'")


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
            return total, scalars
        if phase == "D":
            D = nets["D"]
            with torch.no_grad():
                x_hat = G(batch)[0].float()
            real, _ = D(batch)
            fake, _ = D(x_hat)
            return losses.d_loss("ns", real, fake), {"D/real": real.detach().float().mean(),
                                                     "D/fake": fake.detach().float().mean()}
        raise ValueError(f"unknown phase {phase!r}")

    def data_description(self) -> dict[str, Any]:
        return dict(self.data.describe(), held_out=len(self._hold))

    def callbacks(self) -> list[Callback]:
        return [ReconstructionGrids(self)]

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        G = copy.deepcopy(raw["G"]).float().eval()
        hold = self._hold.float().div(127.5).sub(1.0)
        out = compute_scores(G, hold)
        calib = {k: {"mean": float(out[k].mean()), "std": float(out[k].std() + 1e-12)} for k in ("latent", "recon")}
        scores = combine(out, self.options.score, calib)
        threshold = float(np.quantile(scores, self.options.quantile))
        heat_scale = float(np.quantile(out["maps"], 0.999) * 2 + 1e-6)
        log.info("automatic threshold (%s score, %.0f%% of held-out normal images): %.5g", self.options.score,
                 100 * self.options.quantile, threshold)
        tensors, specs = nets.export({"G": raw["G"]})
        return tensors, {"nets": specs, "options": to_dict(self.options), "calibration": calib, "threshold": threshold, "heat_scale": heat_scale,
                         "holdout_scores": {"n": int(len(scores)), "quantile": self.options.quantile,
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


@torch.no_grad()
def compute_scores(G: nn.Module, x: torch.Tensor, batch: int = 256) -> dict[str, np.ndarray]:
    """Per-image ``latent`` and ``recon`` scores, ``maps`` (per-pixel |x - x_hat|, channel mean, [N, H, W])
    and ``recon_images`` (x_hat, float [-1, 1]) for float images ``x`` in [-1, 1], NCHW."""
    device = next(G.parameters()).device
    lat, rec, maps, xs = [], [], [], []
    for s in range(0, x.shape[0], batch):
        xb = x[s:s + batch].to(device).float()
        x_hat, z, z_hat = G(xb)
        x_hat = x_hat.float()
        diff = (xb - x_hat).abs()
        lat.append((z.float() - z_hat.float()).pow(2).mean(1).cpu())
        rec.append(diff.flatten(1).mean(1).cpu())
        maps.append(diff.mean(1).cpu())
        xs.append(x_hat.cpu())
    cat = lambda parts: torch.cat(parts).numpy() if parts else np.zeros((0,), np.float32)  # noqa: E731
    return {"latent": cat(lat), "recon": cat(rec), "maps": cat(maps), "recon_images": cat(xs)}


def combine(out: dict[str, np.ndarray], kind: str, calib: dict[str, dict[str, float]]) -> np.ndarray:
    if kind in ("latent", "recon"):
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

    ``score(images)`` -> anomaly score per image (higher = more anomalous; ``kind`` latent, recon or mixed,
    default: the one trained for); ``predict(images)`` -> True where the score exceeds the threshold
    (default: the automatic one stored in the model file); ``analyze(images)`` -> scores, names,
    reconstructions and heat maps (per-pixel |x - x_hat|). ``images``: a path (folder, file, archive,
    IDX, ...), an ImageSet, a uint8 array or a float tensor in [-1, 1]. The verb ``score`` (``score_files``)
    writes the scores of image files to a CSV, with optional heat maps and threshold.
    """

    Options = AnomalyOptions

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu"):
        super().__init__(nets, meta, path, device)
        self.nets["G"].float()
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
        if kind != "recon" and self.nets["G"].encoder2 is None:
            raise ConfigError(f"this model is a plain autoencoder: only the 'recon' score exists, not {kind!r}")
        return kind

    def analyze(self, images: Any, kind: str | None = None) -> dict[str, Any]:
        kind = self._kind(kind)
        x, names = as_images(images, self.size, self.channels)
        out = compute_scores(self.nets["G"], x)
        return {"names": names, "scores": combine(out, kind, self.meta["calibration"]), "kind": kind,
                "latent": out["latent"], "recon": out["recon"], "maps": out["maps"],
                "inputs": x, "reconstructions": out["recon_images"]}

    def score(self, images: Any, kind: str | None = None) -> np.ndarray:
        return self.analyze(images, kind)["scores"]

    def predict(self, images: Any, threshold: float | None = None) -> np.ndarray:
        return self.score(images) > (self.threshold if threshold is None else threshold)

    @verb("score", help={
        "images": "Images to score (folder, file, zip, IDX, .npz).",
        "output": "CSV: name, score[, anomaly].",
        "heatmaps": "Write input | reconstruction | heat map pictures into this folder.",
        "threshold": "'auto' (stored in the model) or a number: adds an 'anomaly' column.",
        "kind": "latent, recon or mixed (default: the model's)."})
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
        result = self.analyze(images, kind)
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
