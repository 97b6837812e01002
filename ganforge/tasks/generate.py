"""Image generation: new samples that look like a folder of images (unconditional or class-conditional GAN).

Phases: G (every ``n_critic`` steps), D (adversarial + WGAN-GP when chosen, on G's samples of the
same step) and D_reg (lazy R1, every ``r1_interval`` steps). Differentiable augmentation is applied
to everything D sees when the data set is small.

With ``conditional`` the labels of the data (class folders, IDX labels, a file,label CSV) condition both
networks: conditional batch norm in G, and in D either the projection term (default) or an auxiliary
classifier head (AC-GAN, ``cond_mode="acgan"``) whose cross-entropy is added to both losses.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .. import losses, nets
from ..imaging import media
from ..augment import DiffAugment
from ..config import to_dict
from ..engine import AdversarialTask, Callback, Phase
from ..errors import ConfigError
from ..predict.latent import looping_walk
from ..predict.base import Model
from . import register

SMALL_DATA = 10_000  # below this many images, augmentation is on by default
MIN_PER_CLASS = 10  # conditional training refuses classes with fewer images than this
COND_MODES = ("projection", "acgan")


@dataclass
class ImageOptions:
    data: str = "builtin:digits"
    size: int = 32
    channels: int | None = None        # None: 1 if every image is grey, else 3
    limit: int | None = None           # use only the first N images
    arch: str = "auto"                 # dcgan | resnet | auto (by data and image size)
    width: int = 64                    # base channel count
    z_dim: int = 128
    loss: str = "ns"                   # ns | hinge | wgan-gp | lsgan
    r1_gamma: float | None = None      # None: 0.1 for ns/hinge/lsgan, off for wgan-gp
    r1_interval: int = 16
    gp_weight: float = 10.0
    n_critic: int | None = None        # D steps per G step; None: 5 for wgan-gp, else 1
    augment: bool | None = None        # None: on below 10k images
    augment_policy: str = "color,translation,cutout"
    sample_grid: int = 64              # images in each evaluation grid
    walk_frames: int = 12              # frames between two key points of the latent walk
    metrics: str = ""                  # scores at each evaluation, e.g. "kid" or "fid,kid,pr" (EMA generator)
    eval_n: int = 1000                 # generated (and real) images per evaluation
    features: str = "auto"             # inception | pixels | a domain feature file | auto
    weights: str | None = None         # Inception weight file (or GANFORGE_INCEPTION_WEIGHTS)
    select: str | None = None          # metric that picks model-best.safetensors (default: kid, else the first)
    conditional: bool = False          # condition G and D on the data's class labels
    cond_mode: str = "projection"      # projection | acgan (auxiliary classifier in D)
    ac_weight: float = 1.0             # AC-GAN: weight of the class cross-entropy

    def validate(self) -> None:
        if self.size not in (16, 32, 64, 128, 256):
            raise ConfigError(f"size must be one of 16, 32, 64, 128, 256; got {self.size}")
        if self.arch not in ("auto", *nets.archs()):
            raise ConfigError(f"arch must be auto or one of {', '.join(nets.archs())}; got {self.arch!r}")
        if self.loss not in losses.LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(losses.LOSSES)}; got {self.loss!r}")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"channels must be 1 or 3; got {self.channels}")
        for name in ("width", "z_dim", "r1_interval", "sample_grid", "walk_frames"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)}")
        if self.metrics:
            from ..metrics.evaluate import parse_metrics
            names = parse_metrics(self.metrics)
            if self.select is not None and self.select not in names:
                raise ConfigError(f"select: {self.select!r} is not one of the chosen metrics ({self.metrics})")
            if self.eval_n < 2:
                raise ConfigError(f"eval_n must be at least 2, got {self.eval_n}")
        if self.cond_mode not in COND_MODES:
            raise ConfigError(f"cond_mode must be one of {', '.join(COND_MODES)}; got {self.cond_mode!r}")
        try:
            DiffAugment(self.augment_policy)
        except ValueError as e:
            raise ConfigError(f"augment_policy: {e}") from None


def default_arch(n_images: int, size: int) -> str:
    """DCGAN is fastest on CPU and fine for small sets; SNGAN-ResNet pays off on large, larger images."""
    return "resnet" if size >= 64 and n_images >= SMALL_DATA else "dcgan"


@register("image")
class ImageGeneration(AdversarialTask):
    Options = ImageOptions
    data_kind = "images"

    def __init__(self, options: ImageOptions, data=None, seed: int = 0, progress=None):
        from ..data import load_images

        options.validate()
        self.options = opt = copy.deepcopy(options)
        self.data = data if data is not None else load_images(opt.data, opt.size, channels=opt.channels,
                                                              limit=opt.limit, progress=progress)
        n = len(self.data)
        if opt.arch == "auto":
            opt.arch = default_arch(n, opt.size)
        if opt.channels is None:
            opt.channels = self.data.channels
        if opt.n_critic is None:
            opt.n_critic = 5 if opt.loss == "wgan-gp" else 1
        if opt.r1_gamma is None:
            opt.r1_gamma = 0.0 if opt.loss == "wgan-gp" else 0.1
        if opt.augment is None:
            opt.augment = n < SMALL_DATA
        self.augment = DiffAugment(opt.augment_policy) if opt.augment else None
        self.class_names = check_classes(self.data, opt.data) if opt.conditional else None
        self.num_classes = len(self.class_names) if self.class_names else 0
        self.g_kwargs = dict(arch=opt.arch, z_dim=opt.z_dim, size=opt.size, channels=opt.channels, width=opt.width)
        self.d_kwargs = dict(arch=opt.arch, size=opt.size, channels=opt.channels, width=opt.width)
        if self.num_classes:
            self.g_kwargs["num_classes"] = self.num_classes
            self.d_kwargs.update(num_classes=self.num_classes, cond=opt.cond_mode)
        self.modules = {"G": nets.build("G", **self.g_kwargs), "D": nets.build("D", **self.d_kwargs)}
        # G first: the D phase of the same step then reuses G's samples (detached) instead of running G
        # again, one generator forward less per step (~10% of a DCGAN step), as in the classic loop
        self.phases = [Phase("G", "G", opt.n_critic), Phase("D", "D", 1)]
        if opt.r1_gamma > 0:
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

    def loss(self, phase: str, batch, nets: dict[str, nn.Module], gen: torch.Generator):
        if self.num_classes:
            return self._conditional_loss(phase, batch, nets, gen)
        G, D, opt = nets["G"], nets["D"], self.options
        n = batch.shape[0]
        if phase == "D":
            fake = self._fake
            if fake is None:  # G did not run this step (n_critic > 1)
                with torch.no_grad():
                    fake = G(self._z(n, gen, batch.device))
            real_aug, fake_aug = self._aug(batch, gen), self._aug(fake.float(), gen)
            real_logits, fake_logits = D(real_aug), D(fake_aug)
            loss = losses.d_loss(opt.loss, real_logits, fake_logits)
            if opt.loss == "wgan-gp":
                loss = loss + opt.gp_weight * losses.gradient_penalty(D, real_aug, fake_aug, gen)
            return loss, {"D/real": real_logits.detach().float().mean(), "D/fake": fake_logits.detach().float().mean()}
        if phase == "D_reg":
            real = self._aug(batch, gen).detach().requires_grad_(True)
            logits = D(real)
            penalty = losses.r1_penalty(logits, real)
            # gamma/2 as in StyleGAN2; the engine multiplies a lazy phase's loss by its interval
            return penalty * (opt.r1_gamma / 2) + 0 * logits.sum(), {"r1": penalty.detach()}
        if phase == "G":
            fake = G(self._z(n, gen, batch.device))
            self._fake = fake.detach()
            return losses.g_loss(opt.loss, D(self._aug(fake.float(), gen))), {}
        raise ValueError(f"unknown phase {phase!r}")

    def _conditional_loss(self, phase: str, batch, nets: dict[str, nn.Module], gen: torch.Generator):
        """The same phases with labels: fakes get uniformly drawn classes; D sees (image, label) pairs
        (projection) or predicts the class from the image (AC-GAN: column 0 adversarial, then class logits)."""
        import torch.nn.functional as F

        G, D, opt = nets["G"], nets["D"], self.options
        x, y = batch
        n = x.shape[0]
        ac = opt.cond_mode == "acgan"

        def critic(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            out = D(images) if ac else D(images, labels)
            return (out[:, :1], out[:, 1:]) if ac else (out, None)

        if phase == "D":
            fake, fy = self._fake, self._fake_y
            if fake is None:
                fy = self._y(n, gen, x.device)
                with torch.no_grad():
                    fake = G(self._z(n, gen, x.device), fy)
            real_logits, real_cls = critic(self._aug(x, gen), y)
            fake_logits, fake_cls = critic(self._aug(fake.float(), gen), fy)
            loss = losses.d_loss(opt.loss, real_logits, fake_logits)
            scalars = {"D/real": real_logits.detach().float().mean(), "D/fake": fake_logits.detach().float().mean()}
            if opt.loss == "wgan-gp":
                # one label per pair: the interpolate of a real and a fake of different classes is judged as the real's
                loss = loss + opt.gp_weight * losses.gradient_penalty(lambda h: critic(h, y)[0], self._aug(x, gen),
                                                                      self._aug(fake.float(), gen), gen)
            if ac:
                ce = F.cross_entropy(real_cls.float(), y)
                loss = loss + opt.ac_weight * ce
                scalars["D/class_ce"] = ce.detach()
            return loss, scalars
        if phase == "D_reg":
            real = self._aug(x, gen).detach().requires_grad_(True)
            out = D(real) if ac else D(real, y)
            penalty = losses.r1_penalty(out[:, :1], real)
            # gamma/2 as in StyleGAN2; the engine multiplies a lazy phase's loss by its interval
            return penalty * (opt.r1_gamma / 2) + 0 * out.sum(), {"r1": penalty.detach()}
        if phase == "G":
            fy = self._y(n, gen, x.device)
            fake = G(self._z(n, gen, x.device), fy)
            self._fake, self._fake_y = fake.detach(), fy
            logits, cls = critic(self._aug(fake.float(), gen), fy)
            loss = losses.g_loss(opt.loss, logits)
            if ac:
                loss = loss + opt.ac_weight * F.cross_entropy(cls.float(), fy)
            return loss, {}
        raise ValueError(f"unknown phase {phase!r}")

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

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        generator = standing_stats(ema if ema is not None else raw["G"], self.options.z_dim)
        tensors = {f"G.{k}": v for k, v in generator.state_dict().items()}
        tensors.update({f"D.{k}": v for k, v in raw["D"].state_dict().items()})
        meta = {"options": to_dict(self.options), "nets": {"G": self.g_kwargs, "D": self.d_kwargs}}
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


def _labels_for(G: nn.Module, n: int, gen: torch.Generator | None = None) -> torch.Tensor | None:
    """Labels cycling through the classes for a conditional G (random with ``gen``); None for others."""
    k = getattr(G, "num_classes", 0)
    if not k:
        return None
    return torch.randint(k, (n,), generator=gen) if gen is not None else torch.arange(n) % k


@torch.no_grad()
def standing_stats(G: nn.Module, z_dim: int, batches: int = 8, batch: int = 128, seed: int = 0) -> nn.Module:
    """A copy of ``G`` in eval mode whose batch-norm statistics are measured on its own samples.

    The EMA generator's weights never saw the running statistics they would inherit, so we
    recompute them (BigGAN's "standing statistics"); sampling is then batch-independent.
    """
    G = copy.deepcopy(G)
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        device = next(G.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
        G.train()
        for _ in range(batches):
            z = torch.randn(batch, z_dim, generator=gen).to(device)
            y = _labels_for(G, batch, gen)
            G(z) if y is None else G(z, y.to(device))
        for m in norms:
            m.momentum = 0.1
    return G.eval()


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
        G = state.sampling_net("G")
        G = standing_stats(G, self.task.options.z_dim)
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
        G = standing_stats(state.sampling_net("G"), opt.z_dim)
        meta = {"options": to_dict(opt), "step": step}
        if self.task.class_names:
            meta["classes"] = list(self.task.class_names)
        model = ImageGenerator(G, meta, device=state.device)
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
        G = standing_stats(state.sampling_net("G"),
                           self.task.options.z_dim)
        write_walk(G, self.task.options, state.run_dir / "walk.gif", state.device)


def write_walk(G: nn.Module, opt: ImageOptions, path: Path, device, seed: int = 0, walks: int = 16) -> Path:
    zs = looping_walk(opt.z_dim, walks=walks, frames_per_key=opt.walk_frames, seed=seed)
    scale = max(1, 128 // opt.size)
    frames = []
    with torch.no_grad():
        for z in zs:
            y = _labels_for(G, len(z))
            x = G(z.to(device)) if y is None else G(z.to(device), y.to(device))
            frames.append(media.upscale(media.grid(media.to_uint8(x), nrow=4), scale))
    return media.save_animation(path, frames, fps=12)


class ImageGenerator(Model):
    """A trained image generator: ``sample(n, seed)`` gives uint8 NHWC images.

    A conditional model (``classes`` is its list of class names) samples the classes in turn, or those
    asked for: ``sample(n, seed, classes="3")`` (a name or an index, or one per image).
    """

    def __init__(self, G: nn.Module, meta: dict[str, Any], path=None, device="cpu", D: nn.Module | None = None):
        super().__init__(meta, path, device)
        self.G = G.to(self.device).eval()
        self.D = D.to(self.device).eval() if D is not None else None
        self.options = ImageOptions(**meta["options"])

    @classmethod
    def from_tensors(cls, tensors, meta, path=None, device="cpu") -> "ImageGenerator":
        G = nets.build("G", **meta["nets"]["G"])
        G.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("G.")})
        D = None
        if any(k.startswith("D.") for k in tensors):
            D = nets.build("D", **meta["nets"]["D"])
            D.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("D.")})
        return cls(G, meta, path, device, D)

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
                raise ConfigError(f"classes: {len(classes)} given for {n} images")
            return torch.tensor([self.class_index(c) for c in classes], dtype=torch.int64)
        return torch.full((n,), self.class_index(classes), dtype=torch.int64)

    def latents(self, n: int, seed: int = 0) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """G's output in [-1, 1], NCHW, with gradients (for inversion); ``y`` labels for a conditional model."""
        z = z.to(self.device)
        if self.conditional:
            y = torch.zeros(len(z), dtype=torch.int64) if y is None else y
            return self.G(z, y.to(self.device))
        return self.G(z)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch: int = 256, y: torch.Tensor | None = None) -> np.ndarray:
        """Images for given latents (and labels, for a conditional model; default: classes in turn), uint8 NHWC."""
        if self.conditional and y is None:
            y = self.labels(len(z))
        out = [media.to_uint8(self.forward(z[i:i + batch], None if y is None else y[i:i + batch]))
               for i in range(0, len(z), batch)]
        return np.concatenate(out) if out else np.zeros((0, self.options.size, self.options.size,
                                                          self.options.channels), np.uint8)

    def sample(self, n: int, seed: int = 0, as_pil: bool = False, batch: int = 256, classes=None):
        """``n`` new images (uint8 NHWC array, or PIL images with ``as_pil``); same seed, same images.
        ``classes`` (conditional models): a class name or index, or one per image; default: all in turn."""
        images = self.generate(self.latents(n, seed), batch, y=self.labels(n, classes))
        if as_pil:
            from PIL import Image
            return [Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im) for im in images]
        return images

    def walk(self, path: str | Path, seed: int = 0, walks: int = 16) -> Path:
        """Write a looping latent-walk animation (.gif or .mp4)."""
        return write_walk(self.G, self.options, Path(path), self.device, seed=seed, walks=walks)


ImageGeneration.Predictor = ImageGenerator
