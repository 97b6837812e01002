"""Photo blending: a GP-GAN class blender (Wu et al. 2019) -- a network for what the pasted region should look
like at low frequency, plus a Poisson-type solve for the detail (``ganforge.imaging.poisson``).

Training needs only ordinary colour photos: each step makes composites with a known answer from them
(``ganforge.data.composites``). Two networks (``--net``):

- ``field`` (the default): from the source, the destination and the mask at ``size`` pixels, a U-Net predicts
  smooth relighting fields (gain, offset, gamma on a coarse grid) and an object matte, trained on four
  families of composites (global colour shifts, smooth lighting changes, objects with loose masks over textured
  seams, masks that cut the object) with an L2 loss inside the mask plus a small adversarial term. At full
  resolution the fields and the matte, upsampled, relight the full-resolution source; a Poisson solve inside
  the mask, guided by that estimate, mends the seam. A ring check (:func:`ring_check`) falls back on plain
  Poisson blending for a photo where Poisson predicts a ring of known pixels around the mask better.
  Photos are held out of training, and the blender is scored beside Poisson and copy-paste on them at the end.
- ``colour`` (the earlier design, and what older model files hold): one per-channel gain and offset per image
  from the composite and its mask, trained on global colour shifts (GP-GAN's 0.999 L2 / 0.001 adversarial);
  the network's output, upsampled, fixes the colour at low frequency in a Gaussian-Poisson solve:
  :func:`ganforge.imaging.poisson.gaussian_poisson`.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import losses, nets
from ..config import check_choices, option, to_dict
from ..engine import AdversarialTask, Phase
from ..errors import ConfigError, DataError
from ..data import composites
from ..nets.autoencoder import ColourBlendNet, PatchDiscriminator
from ..nets.blend import FieldBlendNet
from ..predict.base import Model, verb
from . import register

log = logging.getLogger(__name__)


@dataclass
class BlendOptions:
    data: str = option("builtin:shapes", "Colour photos (folder, zip, ...): composites are made from them.")
    size: int = option(64, "Resolution of the blending network: 16, 32, 64 or 128.", choices=(16, 32, 64, 128))
    limit: int | None = option(None, "Use only the first N photos.")
    width: int = option(32, "Base channel count.")
    shift: float = option(0.3, "Colour shift of training composites: gain in 1 +- shift, offset +- shift/3.")
    w_adv: float = option(0.001, "Adversarial weight (GP-GAN: 0.001; the L2 term gets 1 - w_adv).")
    net: str = option("field", "field: relighting fields and an object matte, trained on all composite families "
                      "(lighting changes, loose masks over textured seams, masks that cut the object); colour: one "
                      "gain and offset per image, trained on global colour shifts (the earlier design).",
                      choices=("field", "colour"), before="colour")
    holdout: int | None = option(None, "Photos held out of training; at the end the blender is scored on composites "
                                 "made of them, beside Poisson blending and copy-paste (default: a tenth, at most 16).",
                                 before=0)

    def validate(self) -> None:
        check_choices(self)
        if not 0 < self.shift < 1:
            raise ConfigError(f"shift must lie in (0, 1), got {self.shift}")
        if not 0 <= self.w_adv < 1:
            raise ConfigError(f"w_adv must lie in [0, 1), got {self.w_adv}")
        if self.width < 1:
            raise ConfigError(f"width must be positive, got {self.width}")
        if self.holdout is not None and self.holdout < 0:
            raise ConfigError(f"holdout must be >= 0, got {self.holdout}")


def random_masks(n: int, size: int, gen: torch.Generator, lo: float = 0.25, hi: float = 0.6) -> torch.Tensor:
    """[n, 1, size, size] float masks of the colour network's composites: one axis-aligned rectangle or ellipse
    each, sides lo..hi of the image."""
    return composites.box_or_ellipse(n, size, size, gen, lo, hi, margin=0)


def colour_shift(x01: torch.Tensor, gen: torch.Generator, shift: float) -> torch.Tensor:
    """Per-image, per-channel gain in 1 +- shift and offset +- shift/3 of [0, 1] images, clipped."""
    gain, offset = composites.gain_offset(x01.shape[0], x01.shape[1], gen, shift)
    return (x01 * gain.to(x01.device) + offset.to(x01.device)).clamp(0, 1)


@register("blend")
class Blending(AdversarialTask):
    Options = BlendOptions
    data_kind = "images"
    ema_module = None

    def __init__(self, options: BlendOptions, data=None, seed: int = 0, progress=None):
        from ..data import load_images

        options.validate()
        self.options = opt = copy.deepcopy(options)
        self.data = data if data is not None else load_images(opt.data, opt.size, channels=3, limit=opt.limit,
                                                              progress=progress)
        n = len(self.data)
        if n < 4:
            raise DataError(f"{self.data.source}: {n} photos are too few (need at least 4)")
        if opt.holdout is None:
            opt.holdout = min(16, n // 10)
        held = min(opt.holdout, n - 4)
        #: photos trained on, and those held out (seeded, spread over the folder) for the final score
        order = np.random.default_rng(12345).permutation(n) if held else np.arange(n)
        self.held_idx = torch.tensor(sorted(int(i) for i in order[:held]), dtype=torch.long)
        self.train_idx = torch.tensor(sorted(int(i) for i in order[held:]), dtype=torch.long)
        if opt.net == "field":
            self.modules = {"G": FieldBlendNet(size=opt.size, width=opt.width, grid=max(2, opt.size // 8))}
        else:
            self.modules = {"G": ColourBlendNet(size=opt.size, channels=3, width=opt.width)}
        self.phases = [Phase("G", "G", 1)]
        if opt.w_adv > 0:
            self.modules["D"] = PatchDiscriminator(channels=3, width=opt.width)
            self.phases.append(Phase("D", "D", 1))

    def learning_rates(self, lr_g: float, lr_d: float) -> dict[str, float]:
        return {"G": lr_g, "D": lr_d}

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        if self.options.net == "field":
            return self._hard_batch(batch, gen, device)
        idx = self.train_idx[torch.randint(len(self.train_idx), (batch,), generator=gen)]
        photo = self.data.images[idx].float().div(255)
        shifted = colour_shift(photo, gen, self.options.shift)
        mask = random_masks(batch, self.options.size, gen)
        comp = mask * photo + (1 - mask) * shifted
        x = torch.cat([comp * 2 - 1, mask * 2 - 1], 1)
        return {"input": x.to(device), "target": (shifted * 2 - 1).to(device)}

    def _hard_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        """Composites of every family (``ganforge.data.composites``), a quarter of the batch each, from three
        photos per composite (the scene; the object's photo, never the scene; the object's own background, never
        the object's photo)."""
        n = len(self.train_idx)
        parts = []
        for i, family in enumerate(composites.FAMILIES):
            k = batch // len(composites.FAMILIES) + (i < batch % len(composites.FAMILIES))
            if k == 0:
                continue
            a = torch.randint(n, (k,), generator=gen)
            b = (a + 1 + torch.randint(n - 1, (k,), generator=gen)) % n
            c = (b + 1 + torch.randint(n - 1, (k,), generator=gen)) % n
            photos = [self.data.images[self.train_idx[j]].float().div(255) for j in (a, b, c)]
            if torch.rand((), generator=gen) < 0.5:  # flips: the photos' own lighting has no favoured side
                photos = [p.flip(-1) for p in photos]
            parts.append(composites.make(family, *photos, gen, shift=self.options.shift))
        cat = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        x = torch.cat([cat["src"], cat["dst"], cat["mask"]], 1) * 2 - 1
        return {"input": x.to(device), "target": (cat["truth"] * 2 - 1).to(device)}

    def loss(self, phase: str, batch: dict[str, torch.Tensor], nets: dict[str, nn.Module], gen: torch.Generator):
        w = self.options.w_adv
        G = nets["G"]
        if phase == "G":
            out = G(batch["input"]).float()
            if self.options.net == "field":  # outside the mask the blend is the destination: score the inside
                inside = (batch["input"][:, 6:7] + 1) / 2
                l2 = ((out - batch["target"]).pow(2) * inside).sum() / (3 * inside.sum()).clamp_min(1)
            else:
                l2 = (out - batch["target"]).pow(2).mean()
            total = (1 - w) * l2
            if w > 0:
                total = total + w * losses.g_loss("ns", nets["D"](out))
            return total, {"G/l2": l2.detach()}
        if phase == "D":
            with torch.no_grad():
                out = G(batch["input"]).float()
            real, fake = nets["D"](batch["target"]), nets["D"](out)
            return losses.d_loss("ns", real, fake), {"D/real": real.detach().float().mean(),
                                                     "D/fake": fake.detach().float().mean()}
        raise ValueError(f"unknown phase {phase!r}")

    def data_description(self) -> dict[str, Any]:
        out = self.data.describe()
        if len(self.held_idx):
            out["held_out"] = len(self.held_idx)
        return out

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        tensors, specs = nets.export({"G": raw["G"]})
        extra = {"nets": specs, "options": to_dict(self.options)}
        if self.options.net == "field":
            extra["holdout"] = self.holdout_scores(raw["G"])
        return tensors, extra

    def holdout_scores(self, G: nn.Module) -> dict[str, Any]:
        """PSNR inside the mask of the blender, plain Poisson and copy-paste on composites of every family made
        of the held-out photos (of training photos when too few to hold some out), at the network's resolution;
        logged for the user and stored in the model file."""
        held = len(self.held_idx) >= 3
        idx = self.held_idx if held else self.train_idx[:8]
        photos = self.data.images[idx].float().div(255)
        k = len(photos)
        G = copy.deepcopy(G).float().eval()
        rows: dict[str, list[float]] = {"blender": [], "poisson": [], "copy": []}
        gen = torch.Generator().manual_seed(0)
        for family in composites.FAMILIES:
            c = composites.make(family, photos, photos.roll(1, 0), photos.roll(2, 0), gen, shift=self.options.shift)
            for i in range(k):
                s, d, t = (c[key][i].permute(1, 2, 0).double().numpy() for key in ("src", "dst", "truth"))
                m = c["mask"][i, 0].numpy() > 0.5
                if not m.any():
                    continue
                truth8 = (t * 255 + 0.5).astype(np.uint8)
                outs = {"blender": field_blend(G, s, d, m, self.options.size),
                        "poisson": blend(s, d, m, method="poisson"), "copy": blend(s, d, m, method="copy")}
                for name, out in outs.items():
                    err = ((out[m].astype(np.float64) - truth8[m]) ** 2).mean()
                    rows[name].append(10 * np.log10(255 ** 2 / max(err, 1e-10)))
        scores = {name: round(float(np.mean(v)), 3) for name, v in rows.items()}
        on = f"{k} held-out photos" if held else f"{k} training photos (too few to hold some out)"
        log.info("blending, PSNR inside the mask on %d composites of %s: blender %.2f dB, Poisson %.2f dB, "
                 "copy-paste %.2f dB (blender - Poisson: %+.2f dB)", len(rows["copy"]), on, scores["blender"],
                 scores["poisson"], scores["copy"], scores["blender"] - scores["poisson"])
        return {"metric": "psnr_in_mask_db", "composites": len(rows["copy"]), "held_out": held, **scores}


def _float_image(a: Any, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, -1)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise DataError(f"{name}: expected an HxWx3 colour image, got shape {a.shape}")
    a = a[..., :3]
    return a.astype(np.float64) / 255 if a.dtype == np.uint8 else a.astype(np.float64)


def low_resolution(net: nn.Module, comp: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """The network's blend at ``size`` pixels, upsampled (bilinear) back to the composite's HxW; [0, 1]."""
    h, w = mask.shape
    t = torch.from_numpy(comp).permute(2, 0, 1)[None].float() * 2 - 1
    m = torch.from_numpy(mask.astype(np.float32))[None, None] * 2 - 1
    small = F.interpolate(torch.cat([t, m], 1), size=(size, size), mode="area")
    with torch.no_grad():
        out = net(small.to(next(net.parameters()).device)).float().cpu()
    up = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
    return ((up[0].permute(1, 2, 0).double().numpy() + 1) / 2).clip(0, 1)


def field_estimate(net: FieldBlendNet, src: np.ndarray, dst: np.ndarray, mask: np.ndarray, size: int,
                   inside_only: bool = True) -> np.ndarray:
    """The field network's blend at the photo's resolution (HxWx3 in [0, 1]): it sees the photos at ``size``
    pixels; its relighting fields and matte, upsampled, are applied to the full-resolution source. Outside the
    mask it is the destination, or with ``inside_only=False`` the blend continued there as if all were pasted."""
    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, np.float32)).permute(2, 0, 1)[None]

    S, D, M = tensor(src), tensor(dst), tensor(mask[..., None].astype(np.float32))
    small = F.interpolate(torch.cat([S, D, M], 1), size=(size, size), mode="area") * 2 - 1
    with torch.no_grad():
        fields = net.fields(small.to(next(net.parameters()).device))
        out = net.compose({k: v.float().cpu() for k, v in fields.items()}, S, D, M if inside_only else torch.ones_like(M))
    return out[0].permute(1, 2, 0).double().numpy()


def _field_blend(net: FieldBlendNet, s: np.ndarray, d: np.ndarray, m: np.ndarray, size: int, beta: float) -> np.ndarray:
    """The field network's blend, uint8: the relit, matted source continued past the mask, then a seam solve
    whose guidance across the seam is that estimate's own (continuous) difference, so the destination's border
    fixes only what the network left over."""
    from ..imaging.poisson import gaussian_poisson

    estimate = field_estimate(net, s, d, m, size, inside_only=False)
    out = gaussian_poisson(estimate, d, m, estimate, beta=beta, border="mask")
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def field_blend(net: FieldBlendNet, s: np.ndarray, d: np.ndarray, m: np.ndarray, size: int, beta: float = 1e-4,
                check: bool = True) -> np.ndarray:
    """A field network's blend of float HxWx3 ``s`` into ``d`` under bool ``m``, uint8; with ``check``, plain
    Poisson blending instead where :func:`ring_check` says it predicts the known ring better."""
    from ..imaging.poisson import poisson_blend

    if check and ring_check(net, s, d, m, size, beta) == "poisson":
        return (np.clip(poisson_blend(s, d, m), 0, 1) * 255 + 0.5).astype(np.uint8)
    return _field_blend(net, s, d, m, size, beta)


def ring_check(net: FieldBlendNet, s: np.ndarray, d: np.ndarray, m: np.ndarray, size: int, beta: float) -> str:
    """"field" or "poisson": which of the two, run on the mask grown by a ring (3% of the longer side), better
    predicts the destination in that ring -- pixels whose right answer is known. Where the source around the
    mask shows the same scene as the destination, the ring measures the relighting; where it shows the object's
    own background, it measures what the matte leaves to the destination."""
    from scipy.ndimage import distance_transform_edt

    from ..imaging.poisson import poisson_blend

    grown = distance_transform_edt(~m) <= max(3, round(0.03 * max(m.shape)))
    ring = grown & ~m
    if not ring.any():
        return "field"
    truth = np.clip(d[ring], 0, 1) * 255
    poisson = (np.clip(poisson_blend(s, d, grown), 0, 1) * 255 + 0.5).astype(np.uint8)  # both rounded alike
    err_field = ((_field_blend(net, s, d, grown, size, beta)[ring] - truth) ** 2).mean()
    err_poisson = ((poisson[ring] - truth) ** 2).mean()
    choice = "field" if err_field <= err_poisson else "poisson"
    log.debug("blend ring check: field %.2f, poisson %.2f (mean squared error, 8-bit) -> %s",
              err_field, err_poisson, choice)
    return choice


class BlendModel(Model):
    """A trained blender: ``blend(src, dst, mask)`` -> uint8 HxWx3. ``src`` and ``dst`` are HxWx3 images of one
    size (uint8 or float in [0, 1]; the object is already where it should go in ``src``), ``mask`` HxW (> 0.5
    or True where ``src`` is pasted). ``method``: "gp" (the network + Gaussian-Poisson solve), "poisson"
    (plain seamless cloning), "mixed" (mixed-gradient seamless cloning) or "copy" (copy-paste)."""

    Options = BlendOptions

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu"):
        super().__init__(nets, meta, path, device)
        self.nets["G"].float()
        self.size = self.options.size

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        return {"G": {"class": "autoencoder.ColourBlendNet", **meta["nets"]["G"]}}

    def blend(self, src: Any, dst: Any, mask: Any, method: str = "gp", beta: float | None = None,
              sigma: float | None = None, border: str = "mask", check: bool = True) -> np.ndarray:
        return blend(src, dst, mask, method=method, model=self, beta=beta, sigma=sigma, border=border, check=check)

    @verb("blend", model="optional", model_flag="--model", help={
        "src": "Foreground photo, the object already in place (same size as --dst).",
        "dst": "Background photo.",
        "mask": "Mask image: white where --src is pasted.",
        "output": "Blended image to write.",
        "method": "gp (default with --model), poisson (default without), mixed (mixed-gradient Poisson) or copy.",
        "beta": "GP: weight of the network's estimate in the seam solve (default 0.05 for a colour network, 1e-4 for "
                "a field network).",
        "border": "GP: solve inside the mask with the background's border (mask) or over the whole image as in "
                  "the GP-GAN paper (image)."})
    def blend_files(self, *, src: Path, dst: Path, mask: Path, output: Path, method: str | None = None,
                    beta: float | None = None, border: str = "mask") -> str:
        """Paste an object from one photo into another so that it sits naturally (GP-GAN class blending)."""
        from ..imaging import media

        if self is not None and not isinstance(self, BlendModel):
            raise ConfigError(f"{self.path}: a {self.task!r} model, not a blending model ('ganforge train blend')")
        method = method or ("gp" if self is not None else "poisson")
        out = blend(read_image(src, "RGB"), read_image(dst, "RGB"), read_image(mask, "L"), method=method, model=self,
                    beta=beta, border=border)
        media.save_image(Path(output), out)
        return f"wrote {output} ({method})"


def read_image(path: str | Path, mode: str) -> np.ndarray:
    """An image file as a uint8 array in PIL ``mode`` ("RGB": HxWx3, "L": HxW); one-line errors."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except FileNotFoundError:
        raise DataError(f"{path}: no such image") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None


def blend(src: Any, dst: Any, mask: Any, method: str = "gp", model: BlendModel | None = None,
          beta: float | None = None, sigma: float | None = None, border: str = "mask", check: bool = True) -> np.ndarray:
    """Paste ``src`` into ``dst`` where ``mask`` is set (see :class:`BlendModel`). The GP solve runs inside the
    mask with the destination's border (``border="mask"``, the default: nothing outside the mask changes) or
    over the whole image as in the GP-GAN paper (``border="image"``); ``sigma`` of its Gaussian defaults to half
    the factor between the image and the network's resolution. With a field network, ``check`` runs
    :func:`ring_check` and falls back on plain Poisson blending where that predicts the known ring better."""
    from ..imaging.poisson import gaussian_poisson, poisson_blend

    s, d = _float_image(src, "source"), _float_image(dst, "destination")
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., :3].mean(-1)
    m = (m / 255 if m.dtype == np.uint8 else m.astype(np.float64)) > 0.5
    if s.shape != d.shape:
        raise DataError(f"source {s.shape[1]}x{s.shape[0]} and destination {d.shape[1]}x{d.shape[0]} differ in size")
    if m.shape != d.shape[:2]:
        raise DataError(f"mask {m.shape[1]}x{m.shape[0]} and destination {d.shape[1]}x{d.shape[0]} differ in size")
    if not m.any():
        raise DataError("the mask is empty: nothing to paste")
    comp = np.where(m[..., None], s, d)
    if method == "copy":
        out = comp
    elif method in ("poisson", "mixed"):
        out = poisson_blend(s, d, m, mixed=method == "mixed")
    elif method == "gp":
        if model is None:
            raise ConfigError("method 'gp' needs a trained blending model (--model, from 'ganforge train blend'); "
                              "or use method 'poisson'")
        net = model.nets["G"]
        if isinstance(net, FieldBlendNet):  # the seam solve only mends what the network's estimate left over
            return field_blend(net, s, d, m, model.size, 1e-4 if beta is None else beta, check)
        else:
            low = low_resolution(net, comp, m, model.size)
            beta = 0.05 if beta is None else beta
            if sigma is None:
                sigma = 0.5 * max(m.shape) / model.size
            out = gaussian_poisson(s, d, m, low, beta=beta, sigma=sigma, border=border)
    else:
        raise ConfigError(f"method must be gp, poisson, mixed or copy; got {method!r}")
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


Blending.Predictor = BlendModel
