"""Image generation: new samples that look like a folder of images (unconditional or class-conditional GAN).

Phases: G (every ``n_critic`` steps), D (adversarial + WGAN-GP when chosen, on G's samples of the
same step) and D_reg (lazy R1, every ``r1_interval`` steps; with the rpgan loss R1 on real and R2 on
generated samples, computed inside the D phase when ``r1_interval`` is 1, as R3GAN does). Augmentation
(DiffAugment or adaptive, ADA) is applied to everything D sees. The light architecture's discriminator
also reconstructs its real inputs (a pixel loss added to D's).

With ``conditional`` the labels of the data (class folders, IDX labels, a file,label CSV) condition both
networks: conditional batch norm in G (a class embedding joined to z for r3), and in D either the
projection term (default) or an auxiliary classifier head (AC-GAN, ``cond_mode="acgan"``) whose
cross-entropy is added to both losses. With rpgan, each generated sample takes the class of the real
sample it is paired with.

Options left at auto (architecture, loss, width, augmentation, gamma) are chosen from the data size,
image side, device and budget by :mod:`ganforge.tasks.image_defaults`, which logs its reasons.
"""
from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import losses, nets
from ..imaging import media
from ..augment import AdaptiveAugment, DiffAugment
from ..config import RunConfig, check_choices, option, to_dict
from ..engine import AdversarialTask, Callback, Phase
from ..errors import ConfigError
from ..nets.standing import standing_stats
from ..predict import latent, wspace
from ..predict.base import ExportGraph, Model
from . import image_defaults, register

log = logging.getLogger("ganforge")

SMALL_DATA = image_defaults.SMALL_DATA  # below this many images, CPU runs augment by default
MIN_PER_CLASS = 10  # conditional training refuses classes with fewer images than this
COND_MODES = ("projection", "acgan")
AUGMENTS = ("auto", "off", "diff", "ada")
_TRUE, _FALSE = ("true", "on", "yes", "1"), ("false", "off", "no", "0", "none")


@dataclass
class ImageOptions:
    data: str = option("builtin:digits", "Folder, .zip/.tar, IDX (MNIST) folder or file, .npz/.npy, builtin:digits "
                       "or builtin:shapes.")
    size: int = option(32, "Image side: 16, 32, 64, 128 or 256.", choices=(16, 32, 64, 128, 256))
    channels: int | None = option(None, "Force 1 (grey) or 3 (RGB) channels (default: 1 if every image is grey, "
                                  "else 3).", choices=(1, 3))
    limit: int | None = option(None, "Use only the first N images.")
    arch: str = option("auto", "dcgan, resnet (SNGAN), style (StyleGAN2), r3 (R3GAN class), light (FastGAN class) "
                       "or auto (by images, size, device: see README).", choices=("auto", *nets.archs()))
    width: int | None = option(None, "Base channel count of both networks (default: by architecture, size and "
                               "device).")
    blocks: int | None = option(None, "r3: residual blocks per resolution (default: 1 on CPU, 2 on CUDA).")
    z_dim: int = option(128, "Latent size.")
    loss: str = option("auto", "ns (non-saturating), hinge, wgan-gp, lsgan, rpgan (relativistic pairing, R3GAN) "
                       "or auto (rpgan for r3, hinge for light, else ns).",
                       choices=("auto", *losses.LOSSES, *losses.PAIRED_LOSSES))
    r1_gamma: float | None = option(None, "R1 penalty weight; with rpgan the weight of R1 (real) + R2 (generated). "
                                    "Default: rpgan by image size and batch (README), 0.1 for ns/hinge/lsgan, "
                                    "off for wgan-gp; 0 turns it off.")
    r1_interval: int = option(16, "Apply the R1 (and R2) penalty every N steps (lazy regularisation; 1: every "
                              "step).")
    gp_weight: float = option(10.0, "wgan-gp: gradient penalty weight.")
    n_critic: int | None = option(None, "D steps per G step (default: 5 for wgan-gp, else 1).")
    augment: str | bool | None = option("auto", "Augmentation of what D sees: diff (DiffAugment, --augment-policy), "
                                        "ada (adaptive, StyleGAN2-ADA), off, or auto (by data size and device); "
                                        "true/false mean diff/off.", choices=AUGMENTS)
    augment_policy: str = option("color,translation,cutout", "diff: augmentations, comma-separated: color, "
                                 "translation, cutout.")
    ada_target: float = option(0.6, "ada: target of r_t = E[sign(D(real))]; p rises while D is surer than this.")
    ada_kimg: float | None = option(None, "ada: thousands of images over which p can go from 0 to 1 (default 500, "
                                    "or a fifth of a shorter run's images).")
    recon_weight: float = option(1.0, "light: weight of the discriminator's reconstruction loss (0: off).")
    sample_grid: int = option(64, "Images in each evaluation grid.")
    walk_frames: int = option(12, "Frames between two key points of the latent walk written at the end.")
    metrics: str = option("", "Scores at each evaluation, e.g. kid or fid,kid,pr (EMA generator); keeps "
                          "model-best.safetensors by KID (or the first metric).")
    eval_n: int = option(1000, "Generated and real images per evaluation.")
    features: str = option("auto", "Feature network for --metrics: inception, pixels, a domain feature file, or "
                           "auto (inception when its weights are set).")
    weights: str | None = option(None, "Inception weight file (or GANFORGE_INCEPTION_WEIGHTS).")
    select: str | None = option(None, "Metric that picks model-best.safetensors (default: kid, else the first).")
    conditional: bool = option(False, "Class-conditional: labels from class subfolders, IDX label files or a "
                               "file,label CSV given as --data.")
    cond_mode: str = option("projection", "With --conditional: projection (discriminator) or acgan (auxiliary "
                            "classifier).", choices=COND_MODES)
    ac_weight: float = option(1.0, "acgan: weight of the class cross-entropy.")

    def __post_init__(self) -> None:
        # model files and configs written before augment was a choice hold a bool (or None for auto)
        a = self.augment
        if a is None:
            self.augment = "auto"
        elif isinstance(a, bool):
            self.augment = "diff" if a else "off"
        elif isinstance(a, str) and a.strip().lower() in _TRUE:
            self.augment = "diff"
        elif isinstance(a, str) and a.strip().lower() in _FALSE:
            self.augment = "off"
        elif isinstance(a, str):
            self.augment = a.strip().lower()

    def validate(self) -> None:
        check_choices(self)
        for name in ("z_dim", "r1_interval", "sample_grid", "walk_frames"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)}")
        for name in ("width", "blocks", "ada_kimg"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)}")
        if not 0 < self.ada_target < 1:
            raise ConfigError(f"ada_target must lie strictly between 0 and 1; got {self.ada_target}")
        if self.recon_weight < 0:
            raise ConfigError(f"recon_weight must be 0 or more; got {self.recon_weight}")
        if self.metrics:
            from ..metrics.evaluate import parse_metrics
            names = parse_metrics(self.metrics)
            if self.select is not None and self.select not in names:
                raise ConfigError(f"select: {self.select!r} is not one of the chosen metrics ({self.metrics})")
            if self.eval_n < 2:
                raise ConfigError(f"eval_n must be at least 2, got {self.eval_n}")
        try:
            DiffAugment(self.augment_policy)
        except ValueError as e:
            raise ConfigError(f"augment_policy: {e}") from None


def default_arch(n_images: int, size: int, device: str = "cpu") -> str:
    """The architecture ``arch="auto"`` picks (see :mod:`ganforge.tasks.image_defaults`)."""
    opt = ImageOptions(size=size)
    return image_defaults.choose(opt, image_defaults.Facts(n_images, size, device)).values["arch"]


def run_facts(n_images: int, size: int, run: RunConfig | None) -> image_defaults.Facts:
    """What the budget-aware defaults look at, from the data and the run (None: CPU unless CUDA is present)."""
    from ..engine.runtime import resolve_device

    if run is None:
        return image_defaults.Facts(n_images, size, "cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = resolve_device(run.device)
    except ConfigError:
        device = run.device
    return image_defaults.Facts(n_images, size, device, run.minutes, run.steps, run.batch * max(1, run.devices))


@register("image")
class ImageGeneration(AdversarialTask):
    Options = ImageOptions
    data_kind = "images"
    primary = True  # the application a data set of this kind is most often for
    takes_run = True  # its defaults depend on the device and budget
    # the old CLI's `train image` used RunConfig's defaults throughout (batch 64, lr 2e-4, Adam (0, 0.99),
    # eval/checkpoint every 500, log every 10, 2000 steps): nothing to override
    run_defaults: dict[str, Any] = {}

    def __init__(self, options: ImageOptions, data=None, seed: int = 0, progress=None, run: RunConfig | None = None):
        from ..data import load_images

        options.validate()
        self.options = opt = copy.deepcopy(options)
        self.data = data if data is not None else load_images(opt.data, opt.size, channels=opt.channels,
                                                              limit=opt.limit, progress=progress)
        n = len(self.data)
        facts = run_facts(n, opt.size, run)
        choices = image_defaults.choose(opt, facts)
        if any(r != "given" for r in choices.reasons.values()):
            log.info(choices.line(facts))
        if opt.channels is None:
            opt.channels = self.data.channels
        if opt.n_critic is None:
            opt.n_critic = 5 if opt.loss == "wgan-gp" else 1
        self.paired = opt.loss in losses.PAIRED_LOSSES
        if opt.augment == "diff":
            self.augment: DiffAugment | AdaptiveAugment | None = DiffAugment(opt.augment_policy)
        elif opt.augment == "ada":
            self.augment = AdaptiveAugment(target=opt.ada_target, kimg=opt.ada_kimg or 500.0)
        else:
            self.augment = None
        self.class_names = check_classes(self.data, opt.data) if opt.conditional else None
        self.num_classes = len(self.class_names) if self.class_names else 0
        g_kwargs = dict(z_dim=opt.z_dim, size=opt.size, channels=opt.channels, width=opt.width)
        d_kwargs = dict(size=opt.size, channels=opt.channels, width=opt.width)
        if opt.arch == "r3" and opt.blocks:
            g_kwargs["blocks"] = d_kwargs["blocks"] = opt.blocks
        if self.num_classes:
            g_kwargs["num_classes"] = self.num_classes
            d_kwargs.update(num_classes=self.num_classes, cond=opt.cond_mode)
        self.modules = {"G": nets.build("G", opt.arch, **g_kwargs), "D": nets.build("D", opt.arch, **d_kwargs)}
        self.recon = opt.arch == "light" and opt.recon_weight > 0
        # rpgan with R1/R2 at every step: both penalties inside the D phase, on the logits of its own forward
        self.inline_penalty = self.paired and opt.r1_gamma > 0 and opt.r1_interval == 1
        # G first: the D phase of the same step then reuses G's samples (detached) instead of running G
        # again, one generator forward less per step (~10% of a DCGAN step), as in the classic loop
        self.phases = [Phase("G", "G", opt.n_critic), Phase("D", "D", 1)]
        if opt.r1_gamma > 0 and not self.inline_penalty:
            self.phases.append(Phase("D_reg", "D", opt.r1_interval))
        self._fake: torch.Tensor | None = None
        self._fake_y: torch.Tensor | None = None
        self._images = self.data.images  # uint8 NCHW on CPU
        self._labels = self.data.labels if self.num_classes else None

    # --------------------------------------------------------------- training
    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device):
        """Real images in [-1, 1]; with ``conditional`` a pair (images, labels)."""
        self._fake = None
        idx = torch.randint(len(self._images), (batch,), generator=gen)
        x = self._images[idx].to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
        if self._labels is None:
            return x
        return x, self._labels[idx].to(device)

    def _aug(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return self.augment(x, gen) if self.augment is not None else x

    def _z(self, n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randn(n, self.options.z_dim, generator=gen).to(device)

    def _y(self, n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randint(self.num_classes, (n,), generator=gen).to(device)

    def _fake_labels(self, y: torch.Tensor | None, n: int, gen: torch.Generator, device: torch.device):
        """Classes of generated samples: uniform, or with rpgan those of the real samples they are paired with."""
        if not self.num_classes:
            return None
        return y if self.paired else self._y(n, gen, device)

    def _generate(self, G: nn.Module, n: int, y: torch.Tensor | None, gen: torch.Generator, device: torch.device):
        z = self._z(n, gen, device)
        return G(z) if y is None else G(z, y)

    def _critic(self, D: nn.Module, images: torch.Tensor, labels: torch.Tensor | None, **kw):
        """(adversarial logits [N, 1], class logits or None, extra outputs) of D on ``images``."""
        ac = self.num_classes and self.options.cond_mode == "acgan"
        if labels is None or ac:
            out = D(images, None, **kw) if kw else D(images)
        else:
            out = D(images, labels, **kw)
        extra = ()
        if isinstance(out, tuple):
            out, extra = out[0], out[1:]
        return (out[:, :1], out[:, 1:], extra) if ac else (out, None, extra)

    def loss(self, phase: str, batch, nets: dict[str, nn.Module], gen: torch.Generator):
        G, D, opt = nets["G"], nets["D"], self.options
        x, y = batch if self.num_classes else (batch, None)
        n, dev = x.shape[0], x.device
        if phase == "G":
            fy = self._fake_labels(y, n, gen, dev)
            fake = self._generate(G, n, fy, gen, dev)
            self._fake, self._fake_y = fake.detach(), fy
            logits, cls, _ = self._critic(D, self._aug(fake.float(), gen), fy)
            real_logits = None
            if self.paired:  # D's view of the paired real samples: a constant for G
                with torch.no_grad():
                    real_logits = self._critic(D, self._aug(x, gen), y)[0]
            loss = losses.g_loss(opt.loss, logits, real_logits)
            if cls is not None:
                loss = loss + opt.ac_weight * F.cross_entropy(cls.float(), fy)
            return loss, {}
        if phase == "D":
            return self._d_loss(D, G, x, y, gen)
        if phase == "D_reg":
            return self._penalty(D, G, x, y, gen)
        raise ValueError(f"unknown phase {phase!r}")

    def _fakes_of_step(self, G: nn.Module, x: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator):
        """This step's generated samples (made in its G phase), or new ones when G did not run (n_critic > 1)."""
        fake, fy = self._fake, self._fake_y
        if fake is None:
            fy = self._fake_labels(y, x.shape[0], gen, x.device)
            with torch.no_grad():
                fake = self._generate(G, x.shape[0], fy, gen, x.device)
        return fake.float(), fy

    def _d_loss(self, D: nn.Module, G: nn.Module, x: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator):
        from ..nets.light import reconstruction_targets

        opt = self.options
        fake, fy = self._fakes_of_step(G, x, y, gen)
        real_aug, fake_aug = self._aug(x, gen), self._aug(fake, gen)
        if self.inline_penalty:
            real_aug, fake_aug = real_aug.detach().requires_grad_(True), fake_aug.detach().requires_grad_(True)
        part = int(torch.randint(4, (1,), generator=gen)) if self.recon else None
        real_logits, real_cls, rec = self._critic(D, real_aug, y, **({"part": part} if self.recon else {}))
        fake_logits, _, _ = self._critic(D, fake_aug, fy)
        loss = losses.d_loss(opt.loss, real_logits, fake_logits)
        scalars = {"D/real": real_logits.detach().float().mean(), "D/fake": fake_logits.detach().float().mean()}
        if opt.loss == "wgan-gp":
            # one label per pair: the interpolate of a real and a fake of different classes is judged as the real's
            loss = loss + opt.gp_weight * losses.gradient_penalty(lambda h: self._critic(D, h, y)[0], real_aug,
                                                                  fake_aug, gen)
        if self.inline_penalty:
            r1 = losses.zero_centred_penalty(real_logits, real_aug)
            r2 = losses.zero_centred_penalty(fake_logits, fake_aug)
            loss = loss + (opt.r1_gamma / 2) * (r1 + r2)
            scalars.update({"r1": r1.detach(), "r2": r2.detach()})
        if self.recon:
            whole, piece = rec
            t_whole, t_piece = reconstruction_targets(real_aug.detach(), part, whole.shape[-1], piece.shape[-1])
            rec_loss = F.l1_loss(whole.float(), t_whole.float()) + F.l1_loss(piece.float(), t_piece.float())
            loss = loss + opt.recon_weight * rec_loss
            scalars["D/recon"] = rec_loss.detach()
        if real_cls is not None:
            ce = F.cross_entropy(real_cls.float(), y)
            loss = loss + opt.ac_weight * ce
            scalars["D/class_ce"] = ce.detach()
        if isinstance(self.augment, AdaptiveAugment):
            # StyleGAN2-ADA's overfitting heuristic r_t = E[sign(D(real))]; a relativistic D's logits have no
            # zero point, so with rpgan the sign of D(real) - D(paired fake) stands in for it
            self.augment.observe(real_logits - fake_logits if self.paired else real_logits)
            self.augment.step(x.shape[0])
            scalars["ada/p"] = self.augment.p
        return loss, scalars

    def _penalty(self, D: nn.Module, G: nn.Module, x: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator):
        """Lazy R1 (and, with rpgan, R2 on this step's generated samples) times gamma / 2, as in StyleGAN2; the
        engine multiplies a lazy phase's loss by its interval."""
        opt = self.options
        real = self._aug(x, gen).detach().requires_grad_(True)
        logits, cls, _ = self._critic(D, real, y)
        penalty = losses.r1_penalty(logits, real)
        anchor = logits.sum() + (cls.sum() if cls is not None else 0)
        scalars = {"r1": penalty.detach()}
        if self.paired:
            fake, fy = self._fakes_of_step(G, x, y, gen)
            fake = self._aug(fake, gen).detach().requires_grad_(True)
            f_logits, f_cls, _ = self._critic(D, fake, fy)
            r2 = losses.zero_centred_penalty(f_logits, fake)
            penalty = penalty + r2
            anchor = anchor + f_logits.sum()
            scalars["r2"] = r2.detach()
        # 0 * anchor: every parameter of D takes part (several processes wait for each gradient)
        return penalty * (opt.r1_gamma / 2) + 0 * anchor, scalars

    def state_dict(self) -> dict[str, Any]:
        return {"augment": self.augment.state_dict() if self.augment else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.augment and state.get("augment"):
            self.augment.load_state_dict(state["augment"])

    # --------------------------------------------------------------- outputs
    def data_description(self) -> dict[str, Any]:
        return self.data.describe()

    def callbacks(self) -> list[Callback]:
        return [SampleGrids(self), LatentWalkAtEnd(self)] + ([EvalMetrics(self)] if self.options.metrics else [])

    def standing(self, G: nn.Module) -> nn.Module:
        """An eval copy of ``G`` with batch-norm statistics measured on its own samples."""
        return standing_stats(G, generator_inputs(self.options.z_dim, self.num_classes))

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        # the image task keeps an EMA of G (ema_module "G"): it is the generator people sample from
        tensors, specs = nets.export({"G": self.standing(ema), "D": raw["D"]})
        meta = {"options": to_dict(self.options), "nets": specs}
        if self.class_names:
            meta["classes"] = list(self.class_names)
        return tensors, meta


def check_classes(data, source: str) -> list[str]:
    """The class names of labelled ``data`` for conditional training; one-line DataErrors otherwise."""
    from ..errors import DataError

    if data.labels is None or not data.class_names:
        raise DataError(f"{source}: conditional training needs labels (class subfolders, IDX label files or a "
                        "file,label CSV), and these images have none")
    if len(data.class_names) < 2:
        raise DataError(f"{source}: conditional training needs at least 2 classes, found {len(data.class_names)}")
    counts = torch.bincount(data.labels, minlength=len(data.class_names))
    low = int(counts.argmin())
    if int(counts[low]) < MIN_PER_CLASS:
        raise DataError(f"{source}: class {data.class_names[low]!r} has {int(counts[low])} images; conditional "
                        f"training needs at least {MIN_PER_CLASS} per class")
    return list(data.class_names)


def generator_inputs(z_dim: int, num_classes: int = 0):
    """``inputs(n, gen, device)`` -> G's arguments: random latents, and random classes for a conditional G."""
    def inputs(n: int, gen: torch.Generator, device: torch.device) -> tuple:
        z = torch.randn(n, z_dim, generator=gen).to(device)
        if not num_classes:
            return (z,)
        return z, torch.randint(num_classes, (n,), generator=gen).to(device)
    return inputs


class SampleGrids(Callback):
    """A grid of EMA samples from fixed latents at every evaluation: ``samples/step-NNNNNN.png``.

    A conditional model gets one row per class, the same latents in every row (one column, one style).
    """

    def __init__(self, task: ImageGeneration):
        self.task = task
        k = task.num_classes
        self.cols = max(1, task.options.sample_grid // k) if k else None
        n = self.cols if k else task.options.sample_grid
        z = torch.randn(n, task.options.z_dim, generator=torch.Generator().manual_seed(0))
        self.z = z.repeat(k, 1) if k else z
        self.y = torch.arange(k).repeat_interleave(self.cols) if k else None

    def on_eval(self, state, step: int) -> None:
        G = self.task.standing(state.sampling_net("G"))
        with torch.no_grad():
            z = self.z.to(state.device)
            images = media.to_uint8(G(z) if self.y is None else G(z, self.y.to(state.device)))
        scale = max(1, 128 // self.task.options.size)
        media.save_image(state.run_dir / "samples" / f"step-{step:06d}.png",
                         media.upscale(media.grid(images, nrow=self.cols), min(scale, 2)))


class EvalMetrics(Callback):
    """At every evaluation, score the EMA generator against the training images; keep the best model.

    The real images' features are computed once. The selection metric is KID by default when chosen
    (unbiased, so usable at the small sample counts affordable during training), else the first one.
    """

    def __init__(self, task: ImageGeneration):
        from ..metrics.evaluate import parse_metrics

        self.task = task
        self.names = parse_metrics(task.options.metrics)
        self.select = task.options.select or ("kid" if "kid" in self.names else self.names[0])
        self.extractor = None
        self.real_cache = None

    def on_eval(self, state, step: int) -> None:
        from ..metrics.evaluate import SELECTION, evaluate, resolve_features

        opt = self.task.options
        if self.extractor is None:
            self.extractor = resolve_features(opt.features, opt.weights, str(state.device))
        G = self.task.standing(state.sampling_net("G"))
        meta = {"task": self.task.name, "options": to_dict(opt), "step": step}
        if self.task.class_names:
            meta["classes"] = list(self.task.class_names)
        model = ImageGenerator({"G": G}, meta, device=str(state.device))
        report = evaluate(model, self.task.data, self.names, n=opt.eval_n, features=self.extractor,
                          real_stats=self.real_cache, seed=0)
        self.real_cache = report.get("real_cache")
        state.log({f"eval/{k}": v for k, v in report["scores"].items()})
        key, lower = SELECTION[self.select]
        state.consider_best(key, report["scores"][key], lower)


class LatentWalkAtEnd(Callback):
    """When training ends, a looping latent walk GIF of 16 EMA samples: ``walk.gif``."""

    def __init__(self, task: ImageGeneration):
        self.task = task

    def on_end(self, state, status: str) -> None:
        if status == "failed":
            return
        G = self.task.standing(state.sampling_net("G"))
        opt = self.task.options
        write_looping_walk(G, state.run_dir / "walk.gif", z_dim=opt.z_dim, size=opt.size,
                           frames_per_key=opt.walk_frames, num_classes=self.task.num_classes)


def write_looping_walk(G: nn.Module, path: str | Path, *, z_dim: int, size: int, frames_per_key: int = 12, seed: int = 0,
                       walks: int = 16, fps: int = 12, labels: torch.Tensor | None = None, num_classes: int = 0
                       ) -> tuple[Path, str | None]:
    """A looping latent walk of ``walks`` samples side by side (a grid per frame), GIF or MP4.

    A conditional G draws ``labels`` (default: the classes in turn). Returns ``(path written, note)`` as
    :func:`ganforge.predict.latent.write_animation` (a GIF instead when MP4 cannot be encoded)."""
    device = next(G.parameters()).device
    zs = latent.looping_walk(z_dim, walks=walks, frames_per_key=frames_per_key, seed=seed)
    if num_classes and labels is None:
        labels = torch.arange(walks) % num_classes
    scale = max(1, 128 // size)
    frames = []
    with torch.no_grad():
        for z in zs:
            x = G(z.to(device)) if labels is None else G(z.to(device), labels.to(device))
            frames.append(media.upscale(media.grid(media.to_uint8(x), nrow=4), scale))
    return latent.write_animation(path, np.stack(frames), fps=fps, upscale=1)


#: the architectures of ganforge 0.1.0 (model file format 1) and their registered classes
FORMAT1_CLASSES = {("dcgan", "G"): "dcgan.DCGANGenerator", ("dcgan", "D"): "dcgan.DCGANDiscriminator",
                   ("resnet", "G"): "resnet.ResNetGenerator", ("resnet", "D"): "resnet.ResNetDiscriminator"}


class _GeneratorGraph(nn.Module):
    """The exported generator: plain tensors in (z, and the class for a conditional model), images out."""

    def __init__(self, G: nn.Module, conditional: bool):
        super().__init__()
        self.G, self.conditional = G, conditional

    def forward(self, z: torch.Tensor, *y: torch.Tensor) -> torch.Tensor:
        return self.G(z, *y) if self.conditional else self.G(z)


class ImageGenerator(wspace.WSpaceVerbs, latent.LatentVerbs, Model):
    """A trained image generator: ``sample(n, seed=...)`` gives uint8 NHWC images.

    A conditional model (``classes`` is its list of class names) samples the classes in turn, or those
    asked for: ``sample(n, seed=0, condition="3")`` (a name or an index, or one per image). The latent
    tools (invert, edit, directions, encoder, arithmetic) are its verbs (:class:`ganforge.predict.latent.LatentVerbs`).
    """

    sample_options = ("psi", "space")  # truncation; walks in z or W

    Options = ImageOptions
    condition_help = "Class-conditional models: the class of every image (name or index), or one per image."

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        """ganforge 0.1.0 stored ``{"arch": "dcgan", **kwargs}`` per network, built by ``nets.build(kind, arch, ...)``."""
        specs = {}
        for name, kwargs in meta["nets"].items():
            if not any(k.startswith(name + ".") for k in tensors):
                continue
            kwargs = dict(kwargs)
            arch = kwargs.pop("arch")
            if (arch, name) not in FORMAT1_CLASSES:
                raise ConfigError(f"network {name!r} of unknown architecture {arch!r} in a format 1 model file")
            specs[name] = {"class": FORMAT1_CLASSES[arch, name], **kwargs}
        return specs



    @property
    def z_dim(self) -> int:
        return self.options.z_dim

    @property
    def classes(self) -> list[str] | None:
        """Class names of a conditional model (index -> name); None for an unconditional one."""
        return self.meta.get("classes")

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    def conditions(self) -> list[str] | None:
        return self.classes

    def class_index(self, cls: int | str) -> int:
        """The index of a class given by name or by index; ConfigError naming the known classes otherwise."""
        names = self.classes
        if not names:
            raise ConfigError("this model is not conditional: it has no classes (train it with --conditional)")
        if isinstance(cls, str) and cls in names:
            return names.index(cls)
        if not isinstance(cls, bool):
            try:
                i = int(cls)
            except (TypeError, ValueError):
                i = None
            if i is not None and 0 <= i < len(names) and str(cls).strip().lstrip("-").isdigit():
                return i
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise ConfigError(f"unknown class {cls!r}: this model knows {shown} (or indices 0..{len(names) - 1})")

    def labels(self, n: int, classes=None) -> torch.Tensor | None:
        """int64 labels for ``n`` images: ``classes`` None cycles through all classes; one name/index, or a
        list of ``n`` of them. None for an unconditional model (which refuses ``classes``)."""
        if not self.conditional:
            if classes is not None:
                self.class_index(classes if not isinstance(classes, (list, tuple)) else classes[0])
            return None
        if classes is None:
            return torch.arange(n) % len(self.classes)
        if isinstance(classes, torch.Tensor):
            classes = classes.tolist()
        if isinstance(classes, (list, tuple, np.ndarray)):
            if len(classes) != n:
                raise ConfigError(f"condition: {len(classes)} classes given for {n} images")
            return torch.tensor([self.class_index(c) for c in classes], dtype=torch.int64)
        return torch.full((n,), self.class_index(classes), dtype=torch.int64)

    def latents(self, n: int, seed: int = 0) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, psi: float = 1.0) -> torch.Tensor:
        """G's output in [-1, 1], NCHW, with gradients (for inversion); ``y`` labels for a conditional model;
        ``psi`` < 1 truncates in W (generators with a mapping network)."""
        z = z.to(self.device)
        if psi != 1:
            wspace.require_w(self)
            y = (torch.zeros(len(z), dtype=torch.int64) if y is None else y) if self.conditional else None
            return self.G(z, None if y is None else y.to(self.device), psi=psi)
        if self.conditional:
            y = torch.zeros(len(z), dtype=torch.int64) if y is None else y
            return self.G(z, y.to(self.device))
        return self.G(z)

    def export_graph(self) -> ExportGraph:
        """z [N, z_dim] (standard normal) [and class [N], int64, for a conditional model] -> images [N, C, S, S]
        in [-1, 1]: the generator as ``sample`` runs it (the EMA generator where training kept one)."""
        G = _GeneratorGraph(self.G, self.conditional)
        k = len(self.classes) if self.conditional else 0

        def make_inputs(n: int, seed: int, dims: dict[str, int]) -> dict[str, torch.Tensor]:
            gen = torch.Generator().manual_seed(seed)
            out = {"z": torch.randn(n, self.z_dim, generator=gen)}
            if k:
                out["class"] = torch.randint(k, (n,), generator=gen)
            return out

        inputs = make_inputs(2, 0, {})
        with torch.no_grad():
            _, c, h, w = G(*(v.to(self.device) for v in inputs.values())).shape
        info = {"z": {"shape": ["batch", self.z_dim], "dtype": "float32", "range": "standard normal N(0, 1)",
                      "meaning": "latent vectors; sample(seed=s) draws torch.randn(n, z_dim) from a torch.Generator seeded s"}}
        if k:
            info["class"] = {"shape": ["batch"], "dtype": "int64", "range": [0, k - 1],
                             "meaning": "class index per image", "classes": list(self.classes)}
        out = {"image": {"shape": ["batch", int(c), int(h), int(w)], "dtype": "float32", "range": [-1, 1],
                         "meaning": f"{'RGB' if c == 3 else 'grey'} images, NCHW; to 8 bits: "
                                    "clip((x + 1) * 127.5 + 0.5, 0, 255), then NHWC"}}
        return ExportGraph(G, inputs, ["image"], {name: {0: "batch"} for name in inputs}, info, out,
                           "image generator: latent z" + (" and class index" if k else "") + " -> image in [-1, 1]",
                           make_inputs)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch: int = 256, y: torch.Tensor | None = None, psi: float = 1.0) -> np.ndarray:
        """Images for given latents (and labels, for a conditional model; default: classes in turn), uint8 NHWC;
        ``psi``: truncation (generators with a mapping network)."""
        if self.conditional and y is None:
            y = self.labels(len(z))
        out = [media.to_uint8(self.forward(z[i:i + batch], None if y is None else y[i:i + batch], psi))
               for i in range(0, len(z), batch)]
        return np.concatenate(out) if out else np.zeros((0, self.options.size, self.options.size,
                                                          self.options.channels), np.uint8)

    def sample(self, n: int, *, seed: int = 0, condition=None, as_pil: bool = False, batch: int = 256,
               classes=None, psi: float = 1.0):
        """``n`` new images (uint8 NHWC array, or PIL images with ``as_pil``); same seed, same images.
        ``condition`` (conditional models): a class name or index, or one per image; default: all in turn.
        ``psi`` (generators with a mapping network): truncation, 1 = none, 0.7 typical, 0 = the average image.
        ``classes`` is the earlier name of ``condition`` (deprecated)."""
        if classes is not None:
            if condition is not None:
                raise ConfigError("give condition or classes (its earlier name), not both")
            warnings.warn("sample(classes=...) is now sample(condition=...)", DeprecationWarning, stacklevel=2)
            condition = classes
        images = self.generate(self.latents(n, seed), batch, y=self.labels(n, condition), psi=psi)
        if as_pil:
            from PIL import Image
            return [Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im) for im in images]
        return images

    def walk(self, path: str | Path, *, seed: int = 0, walks: int = 16, start: str | None = None,
             end: str | None = None, frames: int = 48, fps: int = 12, mode: str = "slerp", condition=None,
             psi: float = 1.0, space: str = "z") -> Path:
        """Write a latent-walk animation (.gif or .mp4): a looping walk of ``walks`` samples side by side, or,
        with ``start`` and ``end`` (seeds or latent files from ``invert``), ``frames`` frames from one to the
        other (``mode`` slerp or lerp). ``condition``: the class along the walk (conditional models).
        ``psi`` truncates, ``space="w"`` walks in straight lines in W (generators with a mapping network).
        Returns the file written (a GIF instead of an MP4 when no MP4 encoder is found)."""
        if space not in ("z", "w"):
            raise ConfigError(f"space must be z or w, got {space!r}")
        if psi != 1 or space == "w":
            return self._walk_w(Path(path), seed=seed, walks=walks, start=start, end=end, frames=frames, fps=fps,
                                psi=psi, space=space, condition=condition)
        if start is None and end is None:
            labels = self.labels(walks, condition) if (self.conditional or condition is not None) else None
            out, note = write_looping_walk(self.G, path, z_dim=self.z_dim, size=self.options.size,
                                           frames_per_key=self.options.walk_frames, seed=seed, walks=walks, fps=fps,
                                           labels=labels)
        else:
            if start is None or end is None:
                raise ConfigError("give both ends of the walk: --from SEED --to SEED")
            a, b = latent.endpoint(self, start, condition), latent.endpoint(self, end, condition)
            out, note = latent.write_walk(self, path, a, b, frames=frames, fps=fps, mode=mode)
        if note:
            log.warning(note)
        return out


ImageGeneration.Predictor = ImageGenerator
