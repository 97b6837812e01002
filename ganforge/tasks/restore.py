"""Restoration from any folder of photos: super-resolution, inpainting, denoising, de-raining, colorization
and deblurring. The degraded input is synthesised on the fly from random crops (ganforge/data/degrade.py),
so no paired data set is needed.

Networks: super-resolution uses an SRGAN-class generator (residual blocks, pixel-shuffle upsampling, on
top of a bicubic enlargement); the other tasks a U-Net without normalisation (a plain convolution of its
input, so tiles blend without seams) that predicts a correction to its input (denoise, derain, deblur) or
the image itself (colorize). A PatchGAN D judges the outputs.

Inpainting (``inpaint_net="ffc"``, the default) uses LaMa's recipe sized for a CPU (ganforge/nets/inpaint.py):
a generator of fast Fourier convolutions that corrects a smooth harmonic fill (so it starts at a classical
baseline), large training masks (wide strokes, boxes; ``mask="large"``), a two-scale PatchGAN and a
feature-matching loss beside the pixel loss (L1 + MSE over the holes). Known pixels are kept. A few photos
are held out of training (``holdout``); at the end, the model and a classical fill (scikit-image's biharmonic
inpainting when installed, else the harmonic fill) are scored on them (masked-region PSNR, centre boxes and
free-form strokes), logged, and stored in the model file (``holdout``), so a user sees whether the model beats
the classical fill on their own data.

Training runs ``pretrain_steps`` with the pixel (L1) loss alone, then adds ``lambda_adv`` x adversarial
loss (SRGAN's recipe). The model at the end of the pixel phase is also written as ``model-pixel.safetensors``.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .. import losses
from ..imaging import media
from ..config import check_choices, option, to_dict
from ..data.degrade import TASKS, Degradation, grey
from ..data.pairs import random_crop, read_photos, to_tensor
from ..engine import AdversarialTask, Callback, Phase
from ..errors import ConfigError
from ..predict.image import ImageToImage, read_mask, to_tensor as image_tensor
from ..nets import inpaint as inpaint_nets, registry, unet
from . import register
from .translate import np_rng

log = logging.getLogger("ganforge.restore")
PIXEL_MODEL_FILE = "model-pixel.safetensors"
#: per task: training crop, adversarial weight, pixel-only steps
DEFAULTS = {"superres": (96, 1e-3, 1000), "inpaint": (128, 1e-2, 0), "denoise": (64, 1e-3, 0),
            "derain": (64, 1e-3, 0), "colorize": (128, 1e-2, 0), "deblur": (64, 1e-3, 0)}


@dataclass
class RestoreOptions:
    kind: str = option("superres", "What to restore: superres, inpaint, denoise, derain, colorize or deblur.",
                       choices=TASKS, aliases=("--task",))
    data: str = option("", "Any folder of clean photos (inputs are degraded on the fly).")
    scale: int = option(4, "superres: 2, 3, 4 or 8.", choices=(2, 3, 4, 8))
    crop: int | None = option(None, "Training crop of the clean image (default 96 superres, 128 inpaint/colorize, "
                              "else 64).")
    load_size: int | None = option(None, "Resize each photo's shorter side to this first.")
    limit: int | None = option(None, "Use only the first N photos.")
    noise: str = option("gaussian", "denoise: gaussian or poisson.", choices=("gaussian", "poisson"))
    level: float | None = option(None, "denoise: sigma (default 25) or Poisson peak (default 30).")
    mask: str = option("large", "inpaint: training masks: large (LaMa-style wide strokes and boxes, with some thin "
                       "strokes and rectangles), rect, free or mixed (rect or free).",
                       choices=("rect", "free", "mixed", "large"), before="mixed")
    inpaint_net: str = option("ffc", "inpaint: generator: ffc (fast Fourier convolutions correcting a smooth fill, "
                              "as LaMa) or unet.", choices=("ffc", "unet"), before="unet")
    holdout: int | None = option(None, "inpaint: photos held out of training, on which the model is scored against a "
                                 "classical fill at the end (default: 10%, at most 8; none under 10 photos).", before=0)
    blur: float = option(3.0, "deblur: largest Gaussian blur sigma.")
    sr_blur: float = option(0.0, "superres: Gaussian blur sigma before the reduction.")
    sr_noise: float = option(0.0, "superres: Gaussian noise sigma on the small image.")
    sr_jpeg: int | None = option(None, "superres: JPEG quality of the small image.")
    width: int = option(64, "Base channel count.")
    blocks: int = option(8, "superres: residual blocks; inpaint ffc: Fourier blocks (6 when left at 8).")
    depth: int | None = option(None, "U-Net levels (default: from the crop).")
    lambda_pixel: float = option(1.0, "Weight of the pixel (L1) loss.")
    lambda_adv: float | None = option(None, "Adversarial weight (default 1e-3; 1e-2 colorize and inpaint unet).")
    lambda_fm: float = option(0.01, "inpaint ffc: weight of the discriminator feature-matching loss.")
    pretrain_steps: int | None = option(None, "Pixel-loss steps before the adversarial loss (default 1000 superres, "
                                        "else 0).")
    loss: str = option("ns", "Adversarial loss: ns, lsgan or hinge.", choices=("ns", "lsgan", "hinge"))
    sample_grid: int = option(4, "Rows in each sample grid.")

    def validate(self) -> None:
        check_choices(self)
        if not self.data:
            raise ConfigError("give the data: a folder of photos")
        crop = self.crop if self.crop is not None else DEFAULTS[self.kind][0]
        if crop < 16:
            raise ConfigError(f"crop must be at least 16; got {crop}")
        if self.kind == "superres" and crop % self.scale:
            raise ConfigError(f"crop {crop} is not a multiple of the scale {self.scale}")
        for name in ("width", "blocks", "sample_grid"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)}")
        if self.lambda_adv is not None and self.lambda_adv < 0:
            raise ConfigError(f"lambda_adv must not be negative; got {self.lambda_adv}")
        if self.lambda_fm < 0:
            raise ConfigError(f"lambda_fm must not be negative; got {self.lambda_fm}")
        if self.holdout is not None and self.holdout < 0:
            raise ConfigError(f"holdout must not be negative; got {self.holdout}")
        if self.pretrain_steps is not None and self.pretrain_steps < 0:
            raise ConfigError(f"pretrain_steps must not be negative; got {self.pretrain_steps}")
        self.degradation()  # checks noise, mask, level, blur

    def degradation(self) -> Degradation:
        return Degradation(self.kind, scale=self.scale, noise=self.noise, level=self.level, mask=self.mask,
                           blur=self.blur, sr_blur=self.sr_blur, sr_noise=self.sr_noise, sr_jpeg=self.sr_jpeg)


def uses_ffc(opt: RestoreOptions) -> bool:
    return opt.kind == "inpaint" and opt.inpaint_net == "ffc"


def build_generator(opt: RestoreOptions) -> nn.Module:
    """The generator for a task's (resolved) options: SRResNet for superres, the FFC inpainter for inpaint
    (unless ``inpaint_net="unet"``), else a U-Net without norm."""
    if opt.kind == "superres":
        return unet.SRResNet(channels=3, width=opt.width, blocks=opt.blocks, scale=opt.scale)
    if uses_ffc(opt):
        return inpaint_nets.FFCInpainter(width=opt.width * 2, blocks=6 if opt.blocks == 8 else opt.blocks)
    in_ch = {"inpaint": 4, "colorize": 1}.get(opt.kind, 3)
    residual = opt.kind in ("denoise", "derain", "deblur")
    return unet.UNet(in_channels=in_ch, out_channels=3, width=opt.width, depth=opt.depth, norm="none",
                     residual=residual)


#: format 1 files name the generator's architecture with "kind"
FORMAT1_CLASSES = {"srresnet": "unet.SRResNet", "unet": "unet.UNet"}


@register("restore")
class Restoration(AdversarialTask):
    Options = RestoreOptions
    data_kind = "images"
    ema_module = None
    # what the old CLI's `train restore` used: 3000 steps, 16 crops a step, Adam (0.9, 0.99), grids every 200
    run_defaults: dict[str, Any] = {"steps": 3000, "batch": 16, "beta1": 0.9, "eval_every": 200}

    def __init__(self, options: RestoreOptions, data=None, seed: int = 0, progress=None):
        options.validate()
        self.options = opt = copy.deepcopy(options)
        crop, adv, pre = DEFAULTS[opt.kind]
        opt.crop = crop if opt.crop is None else opt.crop
        ffc = uses_ffc(opt)
        opt.lambda_adv = (1e-3 if ffc else adv) if opt.lambda_adv is None else opt.lambda_adv
        opt.pretrain_steps = pre if opt.pretrain_steps is None else opt.pretrain_steps
        if ffc:
            if opt.crop % 4:
                raise ConfigError(f"crop {opt.crop} is not a multiple of 4 (the Fourier inpainter works at 1/4 size)")
        else:
            if opt.kind != "superres" and opt.depth is None:
                opt.depth = unet.default_depth(opt.crop)
            if opt.kind != "superres" and opt.crop % 2 ** opt.depth:
                raise ConfigError(f"crop {opt.crop} is not a multiple of 2^depth = {2 ** opt.depth}")
        self.degrade = opt.degradation()
        self.data = data if data is not None else read_photos(opt.data, opt.limit, opt.load_size)
        self.data.check_crop(opt.crop)
        n = len(self.data)
        if opt.kind == "inpaint" and opt.holdout is None:
            opt.holdout = min(8, n // 10) if n >= 10 else 0
        held = min(opt.holdout or 0, n - 1) if opt.kind == "inpaint" else 0
        #: photos trained on, and those held out (seeded, spread over the folder) for the final score
        order = np.random.default_rng(12345).permutation(n) if held else np.arange(n)
        self.held_idx = sorted(int(i) for i in order[:held])
        self.train_idx = [i for i in range(n) if i not in set(self.held_idx)]
        layers = 3 if opt.crop >= 64 else 2
        D = inpaint_nets.MultiScalePatchGAN(in_channels=3, width=max(opt.width // 2, 8), layers=layers) if ffc \
            else unet.PatchDiscriminator(in_channels=3, width=opt.width, layers=layers)
        self.modules = {"G": build_generator(opt), "D": D}
        self.phases = [Phase("G", "G"), Phase("D", "D")]
        self.steps_seen = 0
        self._fake: torch.Tensor | None = None

    @property
    def adversarial(self) -> bool:
        """Past the pixel-loss phase (and with a non-zero adversarial weight)."""
        return self.steps_seen > self.options.pretrain_steps and self.options.lambda_adv > 0

    # --------------------------------------------------------------- data
    def make_batch(self, images: list[np.ndarray], rng: np.random.Generator):
        """(network input, target, mask or None) tensors for clean crops ``images``."""
        xs, masks = [], []
        for im in images:
            x, m = self.degrade(im, rng)
            xs.append(x)
            masks.append(m)
        x, y = to_tensor(xs), to_tensor(images)
        mask = None
        if self.options.kind == "inpaint":
            mask = torch.from_numpy(np.stack(masks))[:, None]
            x = torch.cat([x * (1 - mask), mask * 2 - 1], 1)  # holes are 0 (mid grey); the mask channel in {-1, 1}
        return x, y, mask

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device):
        self._fake = None
        self.steps_seen += 1
        rng, opt = np_rng(gen), self.options
        idx = [self.train_idx[i] for i in rng.integers(len(self.train_idx), size=batch)]
        crops = [random_crop([self.data.images[i]], opt.crop, rng)[0] for i in idx]
        x, y, m = self.make_batch(crops, rng)
        return x.to(device), y.to(device), None if m is None else m.to(device)

    # --------------------------------------------------------------- losses
    def forward(self, G: nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        out = G(x)
        if mask is not None:  # keep the known pixels
            out = mask * out + (1 - mask) * x[:, :3]
        return out

    def loss(self, phase: str, batch, nets: dict[str, nn.Module], gen: torch.Generator):
        G, D, opt = nets["G"], nets["D"], self.options
        x, y, mask = batch
        if phase == "G":
            out = self.forward(G, x, mask)
            pixel = (out.float() - y).abs().mean()
            if mask is not None:  # the hole is what matters: its mean error, not diluted by the known pixels
                pixel = (out.float() - y).abs().mul(mask).sum() / (mask.sum() * 3).clamp_min(1)
            scalars = {"G/pixel": pixel.detach()}
            if uses_ffc(opt):  # PSNR is what users compare: the hole's mean squared error as well
                mse = (out.float() - y).square().mul(mask).sum() / (mask.sum() * 3).clamp_min(1)
                scalars["G/mse"] = mse.detach()
                pixel = pixel + mse
            total = opt.lambda_pixel * pixel
            if self.adversarial and uses_ffc(opt):
                self._fake = out.detach()
                features = _unwrapped(D).features  # G's phase: D is not trained, so no DDP hooks are needed
                fake_logits, fake_feats = features(out)
                with torch.no_grad():
                    _, real_feats = features(y.to(out.dtype))
                adv = sum(losses.g_loss(opt.loss, f) for f in fake_logits) / len(fake_logits)
                fm = sum((f.float() - r.float()).abs().mean() for f, r in zip(fake_feats, real_feats)) / len(fake_feats)
                total = total + opt.lambda_adv * adv + opt.lambda_fm * fm
                scalars.update({"G/adv": adv.detach(), "G/fm": fm.detach()})
            elif self.adversarial:
                self._fake = out.detach()
                adv = losses.g_loss(opt.loss, D(out))
                total = total + opt.lambda_adv * adv
                scalars["G/adv"] = adv.detach()
            return total, scalars
        if phase == "D":
            if not self.adversarial:  # pixel phase: no D step (a zero loss that touches every parameter)
                return sum(p.sum() for p in D.parameters()) * 0.0, {}
            fake = self._fake if self._fake is not None else self.forward(G, x, mask).detach()
            real_logits, fake_logits = D(y), D(fake.to(y.dtype))
            if isinstance(real_logits, list):  # multi-scale: the mean over scales
                d = sum(losses.d_loss(opt.loss, r, f) for r, f in zip(real_logits, fake_logits)) / len(real_logits)
                return d, {"D/real": sum(r.detach().float().mean() for r in real_logits) / len(real_logits),
                           "D/fake": sum(f.detach().float().mean() for f in fake_logits) / len(fake_logits)}
            return losses.d_loss(opt.loss, real_logits, fake_logits), {
                "D/real": real_logits.detach().float().mean(), "D/fake": fake_logits.detach().float().mean()}
        raise ValueError(f"unknown phase {phase!r}")

    def state_dict(self) -> dict[str, Any]:
        return {"steps_seen": self.steps_seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps_seen = int(state.get("steps_seen", 0))

    # --------------------------------------------------------------- outputs
    def data_description(self) -> dict[str, Any]:
        out = {"source": self.data.source, "n": len(self.data), "kind": "photos",
               "fingerprint": self.data.fingerprint()}
        if self.held_idx:
            out["held_out"] = len(self.held_idx)
        return out

    def callbacks(self) -> list[Callback]:
        return [RestorationGrids(self), PixelModelAtSwitch(self)]

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        tensors, specs = registry.export({"G": raw["G"]})  # no EMA here: G itself
        extra = {"nets": specs, "options": to_dict(self.options),
                 "phase": "adversarial" if self.adversarial else "pixel"}
        if self.options.kind == "inpaint":
            extra["holdout"] = self.holdout_scores(raw["G"])
        return tensors, extra

    def holdout_images(self) -> tuple[list[np.ndarray], bool]:
        """Centre crops (the training crop's size) of the held-out photos, or of the first training photos
        when none are held out; and whether they are held out."""
        crop = self.options.crop
        held = bool(self.held_idx)
        idx = self.held_idx if held else self.train_idx[:4]
        out = []
        for i in idx:
            im = self.data.images[i]
            h, w = im.shape[:2]
            out.append(im[(h - crop) // 2:(h - crop) // 2 + crop, (w - crop) // 2:(w - crop) // 2 + crop])
        return out, held

    def holdout_scores(self, G: nn.Module) -> dict[str, Any]:
        """Masked-region PSNR of the model and of a classical fill on held-out photos (a centre box and
        seeded free-form strokes on each), logged for the user and stored in the model file."""
        from ..metrics.quality import masked_psnr
        from ..data.degrade import centre_mask, free_form_mask

        images, held = self.holdout_images()
        G = copy.deepcopy(G).float().eval()
        rows: dict[str, dict[str, list[float]]] = {}
        baseline = "biharmonic" if _biharmonic_available() else "harmonic"
        for kind in ("centre", "free"):
            rows[kind] = {"model": [], baseline: [], "harmonic": []}
            for i, clean in enumerate(images):
                h, w = clean.shape[:2]
                m = centre_mask(h, w) if kind == "centre" else free_form_mask(h, w, np.random.default_rng(i))
                x = image_tensor(clean, torch.device("cpu"))
                mt = torch.from_numpy(m)[None, None]
                with torch.no_grad():
                    y = self.forward(G, torch.cat([x * (1 - mt), mt * 2 - 1], 1), mt)
                rows[kind]["model"].append(masked_psnr(media.to_uint8(y.float())[0], clean, m))
                rows[kind][baseline].append(masked_psnr(classical_fill(clean, m), clean, m))
                rows[kind]["harmonic"].append(masked_psnr(classical_fill(clean, m, "harmonic"), clean, m))
        scores = {k: {name: round(float(np.mean(v)), 3) for name, v in r.items()} for k, r in rows.items()}
        on = f"{len(images)} held-out photos" if held else f"{len(images)} training photos (too few to hold some out)"
        for kind, s in scores.items():
            log.info("inpainting, masked-region PSNR on %s, %s holes: model %.2f dB vs %s %.2f dB (%+.2f dB); "
                     "the harmonic fill the model starts from %.2f dB", on, kind, s["model"], baseline, s[baseline],
                     s["model"] - s[baseline], s["harmonic"])
        return {"metric": "masked_psnr_db", "n": len(images), "held_out": held, "baseline": baseline, **scores}


class RestorationGrids(Callback):
    """``samples/step-NNNNNN.png``: rows of degraded input | output | clean target, on fixed crops."""

    def __init__(self, task: Restoration):
        self.task = task
        opt = task.options
        rng = np.random.default_rng(0)
        crops = []
        for i in range(opt.sample_grid):
            im = task.data.images[i % len(task.data)]
            h, w = im.shape[:2]
            y, x = (h - opt.crop) // 2, (w - opt.crop) // 2
            crops.append(im[y:y + opt.crop, x:x + opt.crop])
        self.x, self.y, self.mask = task.make_batch(crops, rng)

    def on_eval(self, state, step: int) -> None:
        G = state.net("G")
        x, y = self.x.to(state.device), self.y.to(state.device)
        mask = None if self.mask is None else self.mask.to(state.device)
        with torch.no_grad():
            out = self.task.forward(G, x, mask).float().clamp(-1, 1)
        shown = x[:, :3]
        if shown.shape[1] == 1:
            shown = shown.repeat(1, 3, 1, 1)
        if shown.shape[2] != out.shape[2]:  # super-resolution: show the small input enlarged (nearest)
            shown = torch.nn.functional.interpolate(shown, size=out.shape[2:], mode="nearest")
        images = torch.stack([shown.float().cpu(), out.cpu(), y.float().cpu()], 1).reshape(-1, *out.shape[1:])
        media.save_image(state.run_dir / "samples" / f"step-{step:06d}.png",
                         media.grid(media.to_uint8(images), nrow=3))


class PixelModelAtSwitch(Callback):
    """Write ``model-pixel.safetensors`` when the pixel-loss phase ends (the PSNR-oriented model)."""

    def __init__(self, task: Restoration):
        self.task = task

    def on_step(self, state) -> None:
        if self.task.options.pretrain_steps and state.step == self.task.options.pretrain_steps:
            state.export(state.run_dir / PIXEL_MODEL_FILE)

    def on_end(self, state, status: str) -> None:
        if status != "failed" and not self.task.adversarial and self.task.options.pretrain_steps:
            state.export(state.run_dir / PIXEL_MODEL_FILE)  # training ended inside the pixel phase


class Restorer(ImageToImage):
    """A trained restoration model: ``apply(image)`` restores an image of any size.

    Inpainting models need ``mask=`` (an image, path or HW array; white / 1 = missing pixels).
    ``degrade(image, seed)`` synthesises the model's training degradation of a clean image.
    """

    Options = RestoreOptions

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu"):
        super().__init__(nets, meta, path, device)
        self.kind = self.options.kind
        if self.kind == "inpaint":
            self.apply_options = ("tile", "compare", "mask")
        self.scale = self.options.scale if self.kind == "superres" else 1

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        kwargs = dict(meta["nets"]["G"])
        return {"G": {"class": FORMAT1_CLASSES[kwargs.pop("kind")], **kwargs}}

    def degrade(self, image: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """The training degradation of a clean image: (input float32 HWC 0..255, mask or None)."""
        from ..predict.image import as_array
        return self.options.degradation()(as_array(image), np.random.default_rng(seed))

    def _net_input(self, a: np.ndarray, mask: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.kind == "colorize":
            return image_tensor(grey(a), self.device), None
        x = image_tensor(a, self.device)
        if self.kind != "inpaint":
            return x, None
        if mask is None:
            raise ConfigError("an inpainting model needs a mask (--mask: white where pixels are missing)")
        m = torch.from_numpy(read_mask(mask, a.shape[:2]))[None, None].to(self.device)
        return torch.cat([x * (1 - m), m * 2 - 1], 1), m

    def _export_net(self) -> tuple[nn.Module, dict[str, int], int, str]:
        if self.kind == "inpaint":
            return _InpaintGraph(self.G), {"image": 3, "mask": 1}, self.G.multiple, "known pixels are the input's"
        if self.kind == "colorize":
            return self.G, {"image": 1}, self.G.multiple, ("apply() then puts the input's luma back (adds "
                                                           "luma - 0.299 R - 0.587 G - 0.114 B to each channel); the file does not")
        return super()._export_net()

    def _apply_array(self, a: np.ndarray, tile: int | None = None, mask: Any = None) -> np.ndarray:
        x, m = self._net_input(a, mask)
        y = self._tiled(self.G, x, tile, scale=self.scale, multiple=self.G.multiple)
        if m is not None:
            y = m * y + (1 - m) * x[:, :3]
        out = media.to_uint8(y)[0]
        if self.kind == "colorize":
            out = keep_luma(out, grey(a))
        return out

    def _comparison_input(self, a: np.ndarray, options: dict[str, Any]) -> np.ndarray:
        if self.kind == "colorize":
            return np.repeat(np.clip(grey(a), 0, 255).astype(np.uint8), 3, 2)
        if self.kind == "inpaint" and options.get("mask") is not None:
            m = read_mask(options["mask"], a.shape[:2])[..., None]
            return (a * (1 - m) + 255 * m).astype(np.uint8)
        return a


class _InpaintGraph(nn.Module):
    """The exported inpainting model: (image, mask with 1 = missing) -> the image with the holes filled."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        y = self.G(torch.cat([x * (1 - m), m * 2 - 1], 1))
        return m * y + (1 - m) * x


def _unwrapped(net: nn.Module) -> nn.Module:
    """The module under a DDP or torch.compile wrapper."""
    for attr in ("module", "_orig_mod", "module"):
        net = getattr(net, attr, net)
    return net


def _biharmonic_available() -> bool:
    try:
        import skimage.restoration  # noqa: F401
    except ImportError:
        return False
    return True


def classical_fill(image: np.ndarray, mask: np.ndarray, method: str = "auto") -> np.ndarray:
    """A classical fill: ``"biharmonic"`` (scikit-image's, the one a user would otherwise pick), ``"harmonic"``
    (ganforge's multigrid fill, the inpainter's starting point) or ``"auto"`` (biharmonic when scikit-image is
    installed, else harmonic). uint8 HWC image, HW mask (1 = missing) -> uint8 HWC."""
    m = np.asarray(mask) > 0.5
    x = image.astype(np.float64) / 255.0 * (~m)[..., None]
    if method == "biharmonic" or (method == "auto" and _biharmonic_available()):
        from skimage.restoration import inpaint_biharmonic
        out = inpaint_biharmonic(x, m, channel_axis=-1)
    else:
        t = torch.from_numpy(x).permute(2, 0, 1)[None].float()
        known = torch.from_numpy((~m).astype(np.float32))[None, None]
        out = inpaint_nets.harmonic_fill(t, known)[0].permute(1, 2, 0).numpy()
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def keep_luma(rgb: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """``rgb``'s colour (chroma) on the given luma: colorization keeps the input's brightness exactly."""
    x = rgb.astype(np.float32)
    y = x @ np.array([0.299, 0.587, 0.114], np.float32)
    out = x + (luma[..., 0] - y)[..., None]  # shifting R, G and B equally changes luma only
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


Restoration.Predictor = Restorer
