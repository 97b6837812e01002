"""Adversarial purification: an APE-GAN class defence (Shen et al. 2017) for a given image classifier.

The generator (a small residual U-Net) maps an input image to a cleaned copy; it is trained on pairs
(adversarial or clean image -> clean image) with a pixel loss plus an adversarial loss from a
discriminator that tells clean images from purified ones. Adversarial examples are made on the fly
against the frozen classifier: FGSM with a random eps in [0, ``eps``] per image (``attack`` "mixed" also
uses 5-step PGD for half of them), and a ``clean_fraction`` of the batch is left clean so that the
purifier learns to leave clean images alone. At test time: ``classifier(purifier(x))``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .. import losses, nets
from ..config import check_choices, option, to_dict
from ..engine import AdversarialTask, Phase
from ..errors import ConfigError, DataError
from ..nets.autoencoder import PatchDiscriminator, UNetPurifier
from ..predict.base import Model, verb
from . import register


@dataclass
class PurifierOptions:
    classifier: str = option("", "Classifier to defend: a feature file from 'ganforge features train' on labelled "
                             "data, or TorchScript (.pt, with --size/--channels).")
    data: str = option("", "Clean training images (labels used when present, else the classifier's predictions).")
    limit: int | None = option(None, "Use only the first N images.")
    eps: float = option(0.3, "Largest attack strength in training, on the [0, 1] pixel scale.")
    attack: str = option("fgsm", "Training attacks: fgsm, or mixed (fgsm + 5-step PGD).", choices=("fgsm", "mixed"))
    clean_fraction: float = option(0.25, "Fraction of each batch left clean, so that clean images pass unchanged.")
    width: int = option(32, "Base channel count.")
    w_rec: float = option(0.7, "Weight of the pixel MSE (APE-GAN: 0.7).")
    w_adv: float = option(0.3, "Weight of the adversarial term (APE-GAN: 0.3; 0: no discriminator).")
    size: int | None = option(None, "TorchScript classifiers: input side.")
    channels: int | None = option(None, "TorchScript classifiers: input channels.")

    def validate(self) -> None:
        if not self.classifier:
            raise ConfigError("classifier: give the classifier to defend (--classifier FILE)")
        if not self.data:
            raise ConfigError("data: give clean training images (--data)")
        if not 0 < self.eps <= 1:
            raise ConfigError(f"eps must lie in (0, 1] (pixel scale), got {self.eps}")
        check_choices(self)
        if not 0 <= self.clean_fraction < 1:
            raise ConfigError(f"clean_fraction must lie in [0, 1), got {self.clean_fraction}")
        if self.width < 1:
            raise ConfigError(f"width must be positive, got {self.width}")
        if self.w_rec < 0 or self.w_adv < 0 or self.w_rec + self.w_adv == 0:
            raise ConfigError("w_rec and w_adv must be >= 0 and not both 0")


@register("purifier")
class Purification(AdversarialTask):
    Options = PurifierOptions
    ema_module = None

    def __init__(self, options: PurifierOptions, data=None, seed: int = 0, progress=None):
        from ..data import load_images
        from ..metrics.robustness import load_classifier

        options.validate()
        self.options = opt = copy.deepcopy(options)
        self.classifier = load_classifier(opt.classifier, opt.size, opt.channels)
        size, ch = self.classifier.input_size, self.classifier.channels
        if size % 4:
            raise ConfigError(f"{opt.classifier}: input side {size} must be a multiple of 4 for the purifier")
        self.data = data if data is not None else load_images(opt.data, size, channels=ch, limit=opt.limit,
                                                              progress=progress)
        d = self.data
        if len(d) < 8:
            raise DataError(f"{d.source}: {len(d)} images are too few to train a purifier (need at least 8)")
        self._images = d.images
        if d.labels is not None and len(d.class_names) == len(self.classifier.classes):
            self._labels = d.labels
            self.label_source = "data"
        else:  # the classifier's own predictions: the attack then pushes away from what it sees now
            with torch.no_grad():
                x = d.images.float().div(127.5).sub(1)
                self._labels = torch.cat([self.classifier(x[s:s + 500]).argmax(1) for s in range(0, len(x), 500)])
            self.label_source = "classifier"
        self.modules = {"G": UNetPurifier(channels=ch, width=opt.width)}
        self.phases = [Phase("G", "G", 1)]
        if opt.w_adv > 0:
            self.modules["D"] = PatchDiscriminator(channels=ch, width=opt.width)
            self.phases.append(Phase("D", "D", 1))

    def learning_rates(self, lr_g: float, lr_d: float) -> dict[str, float]:
        return {"G": lr_g, "D": lr_d}

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        from ..metrics.robustness import fgsm, pgd

        opt = self.options
        idx = torch.randint(len(self._images), (batch,), generator=gen)
        clean = self._images[idx].to(device).float().div_(127.5).sub_(1.0)
        y = self._labels[idx].to(device)
        clf = self.classifier.to(device)
        eps = torch.rand(batch, generator=gen) * opt.eps
        eps[torch.rand(batch, generator=gen) < opt.clean_fraction] = 0.0
        adv = fgsm(clf, clean, y, eps)
        if opt.attack == "mixed":  # the first half: 5-step PGD at one random eps for the group (not per image)
            half = batch // 2
            e = float(opt.eps) * float(torch.rand((), generator=gen))
            keep_clean = (eps[:half] == 0).to(device)[:, None, None, None]
            adv[:half] = torch.where(keep_clean, clean[:half], pgd(clf, clean[:half], y[:half], e, steps=5, gen=gen))
        return {"clean": clean, "adv": adv}

    def loss(self, phase: str, batch: dict[str, torch.Tensor], nets: dict[str, nn.Module], gen: torch.Generator):
        opt = self.options
        clean, adv = batch["clean"], batch["adv"]
        G = nets["G"]
        if phase == "G":
            out = G(adv).float()
            rec = (out - clean).pow(2).mean()
            total = opt.w_rec * rec
            scalars = {"G/mse": rec.detach()}
            if opt.w_adv > 0:
                adv_loss = losses.g_loss("ns", nets["D"](out))
                total = total + opt.w_adv * adv_loss
            return total, scalars
        if phase == "D":
            D = nets["D"]
            with torch.no_grad():
                out = G(adv).float()
            real, fake = D(clean), D(out)
            return losses.d_loss("ns", real, fake), {"D/real": real.detach().float().mean(),
                                                     "D/fake": fake.detach().float().mean()}
        raise ValueError(f"unknown phase {phase!r}")

    def data_description(self) -> dict[str, Any]:
        return dict(self.data.describe(), labels=self.label_source)

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        c = self.classifier
        tensors, specs = nets.export({"G": raw["G"]})
        return tensors, {
            "nets": specs, "options": to_dict(self.options),
            "classifier": {"path": str(Path(c.source).resolve()), "sha256": c.sha256, "input_size": c.input_size,
                           "channels": c.channels, "classes": c.classes}}


class PurifierModel(Model):
    """A trained purifier: ``purify(x)`` maps float [-1, 1] NCHW images to cleaned images of the same shape
    (also callable as ``model(x)``). ``meta["classifier"]`` names the classifier it was trained to defend.
    The verb ``robustness`` evaluates a classifier under attack, with this purifier in front or (``self`` None)
    alone: :func:`ganforge.metrics.robustness.robustness_report`."""

    Options = PurifierOptions

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu"):
        super().__init__(nets, meta, path, device)
        self.nets["G"].float().requires_grad_(False)
        self.input_size = meta["classifier"]["input_size"]
        self.channels = meta["classifier"]["channels"]

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        return {"G": {"class": "autoencoder.UNetPurifier", **meta["nets"]["G"]}}

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise DataError(f"purify: expected [N, {self.channels}, H, W] images, got {tuple(x.shape)}")
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise DataError(f"purify: image sides must be multiples of 4, got {tuple(x.shape[-2:])}")
        return self.nets["G"](x.to(self.device).float())

    __call__ = purify

    @verb("robustness", model="optional", model_flag="--purifier", help={
        "classifier": "Classifier file (feature file or TorchScript).",
        "data": "Labelled test images (class folders, IDX, .npz with labels).",
        "attack": "fgsm, pgd or both (comma list).",
        "eps": "Attack strengths on the [0, 1] pixel scale (comma list).",
        "n": "At most this many test images.",
        "pgd_steps": "PGD iterations.",
        "white_box": "Also attack through the purifier (PGD).",
        "size": "TorchScript classifiers: input side.",
        "channels": "TorchScript classifiers: input channels.",
        "seed": "Seed of the attacks' random starts.",
        "output": "Also write the report as JSON."})
    def robustness(self, *, classifier: Path, data: str, attack: str = "fgsm,pgd",
                   eps: str = "0.1,0.3", n: int = 1000, pgd_steps: int = 40, white_box: bool = False,
                   size: int | None = None, channels: int | None = None, seed: int = 0,
                   output: Path | None = None) -> str:
        """Clean accuracy, accuracy under FGSM/PGD, and accuracy after purification (when a purifier is given)."""
        from ..metrics.robustness import robustness_report, table

        if self is not None and not isinstance(self, PurifierModel):
            raise ConfigError(f"{self.path}: a {self.task!r} model, not a purifier ('ganforge train purifier')")
        report = robustness_report(classifier, data, purifier=self, attacks=attack, eps=eps, n=n,
                                   pgd_steps=pgd_steps, white_box=white_box, size=size, channels=channels,
                                   seed=seed, output=output)
        return table(report) + (f"\nwrote {output}" if output is not None else "")


Purification.Predictor = PurifierModel
