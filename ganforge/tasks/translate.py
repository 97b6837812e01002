"""Image-to-image translation: paired (pix2pix) and unpaired (CycleGAN).

Paired: a U-Net G maps A to B; a PatchGAN D judges (A, B) pairs; G minimises adversarial + lambda_l1 * L1.
Unpaired (``unpaired=True``): two generators (A->B, B->A) and two discriminators; G minimises
adversarial + lambda_cycle * cycle L1 + lambda_identity * lambda_cycle * identity L1, and each D sees
a pool of the last ``pool_size`` generated images (Shrivastava et al.) as well as the new ones.

Data: ``pairs`` (a folder of A|B side-by-side images) or ``a`` and ``b`` (two folders matched by name;
unrelated images with ``unpaired``). Training draws random crops, the same crop and flip for both sides.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .. import losses
from ..imaging import media
from ..config import check_choices, option, to_dict
from ..data.pairs import PairSet, random_crop, read_matched, read_photos, read_side_by_side, to_tensor
from ..engine import AdversarialTask, Callback, Phase
from ..errors import ConfigError
from ..predict.image import ImageToImage, to_tensor as image_tensor
from ..nets import registry, unet
from ..nets.registry import register as register_net
from . import register


@dataclass
class Pix2PixOptions:
    """What paired image-to-image models share (translation, and saliency's image -> map)."""

    crop: int = option(128, "Training crop side.")
    load_size: int | None = option(None, "Resize each image's shorter side to this before cropping.")
    flip: bool = option(True, "Random horizontal flips (the same for both sides of a pair).")
    limit: int | None = option(None, "Use only the first N images.")
    width: int = option(64, "Base channel count of G and D.")
    depth: int | None = option(None, "U-Net levels (default: from the crop, a 4x4 bottleneck).")
    norm: str = option("batch", "Generator normalisation: batch, instance or none.", choices=("batch", "instance", "none"))
    dropout: float = option(0.0, "Dropout in the U-Net's inner decoder levels.")
    d_layers: int | None = option(None, "PatchGAN depth (3: 70x70 patches; default 3, or less for small crops).")
    loss: str | None = option(None, "ns, lsgan or hinge (default ns; lsgan for unpaired).", choices=("ns", "lsgan", "hinge"))
    lambda_l1: float = option(100.0, "L1 weight (paired).")
    sample_grid: int = option(4, "Rows in each sample grid.")

    def check_network(self) -> None:
        """The checks of the shared fields."""
        check_choices(self)
        if self.crop < 16:
            raise ConfigError(f"crop must be at least 16; got {self.crop}")
        if self.depth is not None and not 1 <= self.depth <= 8:
            raise ConfigError(f"depth must be 1..8; got {self.depth}")
        if self.depth is not None and self.crop % 2 ** self.depth:
            raise ConfigError(f"crop {self.crop} is not a multiple of 2^depth = {2 ** self.depth}")
        if self.load_size is not None and self.load_size < self.crop:
            raise ConfigError(f"load_size {self.load_size} is smaller than the crop {self.crop}")
        if self.d_layers is not None and self.crop < 3 * 2 ** self.d_layers:
            raise ConfigError(f"crop {self.crop} is too small for a PatchGAN of d_layers={self.d_layers} (its last "
                              f"maps would be under 2x2): use crop >= {3 * 2 ** self.d_layers} or fewer d_layers "
                              f"(d_layers={patch_layers(self.crop)} fits)")
        for name in ("width", "sample_grid", "d_layers"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1); got {self.dropout}")


@dataclass
class TranslateOptions(Pix2PixOptions):
    pairs: str | None = option(None, "Folder of side-by-side A|B images (pix2pix format).")
    a: str | None = option(None, "Folder of A images (with b; matched by file name unless unpaired).")
    b: str | None = option(None, "Folder of B images.")
    unpaired: bool = option(False, "A and B are unrelated images: CycleGAN.")
    direction: str = option("AtoB", "AtoB or BtoA.", choices=("AtoB", "BtoA"))
    lambda_cycle: float = option(10.0, "Cycle-consistency weight (unpaired).")
    lambda_identity: float = option(0.5, "Identity weight, relative to the cycle weight (unpaired).")
    pool_size: int = option(50, "Generated images each discriminator keeps in its pool (unpaired).")

    def validate(self) -> None:
        if self.pairs is None and (self.a is None or self.b is None):
            raise ConfigError("give the data: pairs (a folder of A|B images) or both a and b (two folders)")
        if self.pairs is not None and (self.a is not None or self.b is not None):
            raise ConfigError("give either pairs or a and b, not both")
        if self.unpaired and self.pairs is not None:
            raise ConfigError("unpaired training needs two folders (a and b), not pairs")
        self.check_network()


def np_rng(gen: torch.Generator) -> np.random.Generator:
    """A numpy generator drawn from the step's torch generator (crops and degradations stay seeded)."""
    return np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,), generator=gen)))


@register_net
class CycleGenerators(nn.Module):
    """CycleGAN's two U-Nets: ``ab`` maps A to B, ``ba`` B to A."""

    def __init__(self, g_kwargs: dict):
        super().__init__()
        self.ab, self.ba = unet.UNet(**g_kwargs), unet.UNet(**g_kwargs)

    def forward(self, a: torch.Tensor, b: torch.Tensor, cycle: bool = True, identity: bool = False
                ) -> dict[str, torch.Tensor]:
        """Every image of one CycleGAN step, in one forward: through a DDP wrapper only a forward call
        synchronises the gradients of the processes, so the loss must not call ``ab``/``ba`` directly."""
        out = {"fake_b": self.ab(a), "fake_a": self.ba(b)}
        if cycle:
            out["rec_a"], out["rec_b"] = self.ba(out["fake_b"]), self.ab(out["fake_a"])
        if identity:
            out["idt_b"], out["idt_a"] = self.ab(b), self.ba(a)
        return out


@register_net
class CycleDiscriminators(nn.Module):
    """CycleGAN's two PatchGANs: ``a`` judges A images, ``b`` B images."""

    def __init__(self, d_kwargs: dict):
        super().__init__()
        self.a, self.b = unet.PatchDiscriminator(**d_kwargs), unet.PatchDiscriminator(**d_kwargs)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of ``a`` (A images) and ``b`` (B images), in one forward (see CycleGenerators.forward)."""
        return self.a(a), self.b(b)


class ImagePool:
    """The last ``size`` generated images; a query returns each new image or, half the time, an old one."""

    def __init__(self, size: int):
        self.size, self.items = size, []

    def query(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.size <= 0:
            return images
        out = []
        for im in images.detach():
            if len(self.items) < self.size:
                self.items.append(im.clone())
                out.append(im)
            elif float(torch.rand(1, generator=gen)) < 0.5:
                k = int(torch.randint(len(self.items), (1,), generator=gen))
                out.append(self.items[k].clone())
                self.items[k] = im.clone()
            else:
                out.append(im)
        return torch.stack(out)


def patch_layers(crop: int) -> int:
    """The deepest PatchGAN (at most 3 layers) whose last maps stay at least 2x2 for this crop."""
    return max(1, min(3, (crop // 3).bit_length() - 1))


@register("translate")
class Translation(AdversarialTask):
    Options = TranslateOptions
    data_kind = "pairs"
    primary = True  # the application a data set of this kind is most often for
    ema_module = None  # pix2pix and CycleGAN use the trained generator itself
    # what the old CLI's `train translate` used: pix2pix's Adam (0.5, 0.999), 4 pairs a step, grids every 200
    run_defaults: dict[str, Any] = {"batch": 4, "beta1": 0.5, "beta2": 0.999, "eval_every": 200}

    def __init__(self, options: TranslateOptions, data=None, seed: int = 0, progress=None):
        options.validate()
        self.options = opt = copy.deepcopy(options)
        if data is not None:
            self.data = data
        elif opt.pairs is not None:
            self.data = read_side_by_side(opt.pairs, opt.limit, opt.load_size)
        elif not opt.unpaired:
            self.data = read_matched(opt.a, opt.b, opt.limit, opt.load_size)
        else:
            self.data = (read_photos(opt.a, opt.limit, opt.load_size), read_photos(opt.b, opt.limit, opt.load_size))
        if opt.unpaired:
            for side in self.data:
                side.check_crop(opt.crop)
        else:
            self.data.check_crop(opt.crop)
        if opt.depth is None:
            opt.depth = unet.default_depth(opt.crop)
        if opt.crop % 2 ** opt.depth:
            raise ConfigError(f"crop {opt.crop} is not a multiple of 2^depth = {2 ** opt.depth}")
        if opt.loss is None:
            opt.loss = "lsgan" if opt.unpaired else "ns"
        self.g_kwargs = dict(in_channels=3, out_channels=3, width=opt.width, depth=opt.depth, norm=opt.norm,
                             dropout=opt.dropout)
        if opt.unpaired:
            self.d_kwargs = dict(in_channels=3, width=opt.width, layers=opt.d_layers or patch_layers(opt.crop))
            self.modules = {"G": CycleGenerators(self.g_kwargs), "D": CycleDiscriminators(self.d_kwargs)}
            self.pools = (ImagePool(opt.pool_size), ImagePool(opt.pool_size))
        else:
            self.d_kwargs = dict(in_channels=6, width=opt.width, layers=opt.d_layers or patch_layers(opt.crop))
            self.modules = {"G": unet.UNet(**self.g_kwargs), "D": unet.PatchDiscriminator(**self.d_kwargs)}
        # G first: D then judges G's samples of the same step (detached) without running G again
        self.phases = [Phase("G", "G"), Phase("D", "D")]
        self._fake: Any = None

    # --------------------------------------------------------------- data
    def _sides(self, pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return pair if self.options.direction == "AtoB" else (pair[1], pair[0])

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device):
        self._fake = None
        rng, opt = np_rng(gen), self.options
        if opt.unpaired:
            a_set, b_set = self.data if opt.direction == "AtoB" else self.data[::-1]
            xs = [random_crop([a_set.images[i]], opt.crop, rng, opt.flip)[0] for i in rng.integers(len(a_set), size=batch)]
            ys = [random_crop([b_set.images[i]], opt.crop, rng, opt.flip)[0] for i in rng.integers(len(b_set), size=batch)]
        else:
            xs, ys = [], []
            for i in rng.integers(len(self.data), size=batch):
                a, b = self._sides((self.data.a.images[i], self.data.b.images[i]))
                ca, cb = random_crop([a, b], opt.crop, rng, opt.flip)
                xs.append(ca)
                ys.append(cb)
        return to_tensor(xs).to(device), to_tensor(ys).to(device)

    # --------------------------------------------------------------- losses
    def loss(self, phase: str, batch, nets: dict[str, nn.Module], gen: torch.Generator):
        return (self._cycle_loss if self.options.unpaired else self._pix2pix_loss)(phase, batch, nets, gen)

    def _pix2pix_loss(self, phase, batch, nets, gen):
        G, D, opt = nets["G"], nets["D"], self.options
        x, y = batch
        if phase == "G":
            fake = G(x)
            self._fake = fake.detach()
            adv = losses.g_loss(opt.loss, D(torch.cat([x, fake], 1)))
            l1 = (fake.float() - y).abs().mean()
            return adv + opt.lambda_l1 * l1, {"G/adv": adv.detach(), "G/l1": l1.detach()}
        if phase == "D":
            fake = self._fake if self._fake is not None else G(x).detach()
            real_logits, fake_logits = D(torch.cat([x, y], 1)), D(torch.cat([x, fake.to(x.dtype)], 1))
            return losses.d_loss(opt.loss, real_logits, fake_logits), {
                "D/real": real_logits.detach().float().mean(), "D/fake": fake_logits.detach().float().mean()}
        raise ValueError(f"unknown phase {phase!r}")

    def _cycle_loss(self, phase, batch, nets, gen):
        G, D, opt = nets["G"], nets["D"], self.options
        a, b = batch
        if phase == "G":
            out = G(a, b, cycle=True, identity=opt.lambda_identity > 0)
            logits_a, logits_b = D(out["fake_a"], out["fake_b"])
            adv = losses.g_loss(opt.loss, logits_b) + losses.g_loss(opt.loss, logits_a)
            cycle = (out["rec_a"].float() - a).abs().mean() + (out["rec_b"].float() - b).abs().mean()
            total = adv + opt.lambda_cycle * cycle
            scalars = {"G/adv": adv.detach(), "G/cycle": cycle.detach()}
            if opt.lambda_identity > 0:
                ident = (out["idt_b"].float() - b).abs().mean() + (out["idt_a"].float() - a).abs().mean()
                total = total + opt.lambda_identity * opt.lambda_cycle * ident
                scalars["G/identity"] = ident.detach()
            self._fake = (out["fake_a"].detach(), out["fake_b"].detach())
            return total, scalars
        if phase == "D":
            if self._fake is None:
                with torch.no_grad():
                    out = G(a, b, cycle=False)
                self._fake = (out["fake_a"], out["fake_b"])
            fake_a = self.pools[0].query(self._fake[0].float(), gen).to(a.dtype)
            fake_b = self.pools[1].query(self._fake[1].float(), gen).to(a.dtype)
            real_a, real_b = D(a, b)
            pooled_a, pooled_b = D(fake_a, fake_b)
            loss = 0.5 * (losses.d_loss(opt.loss, real_a, pooled_a) + losses.d_loss(opt.loss, real_b, pooled_b))
            return loss, {}
        raise ValueError(f"unknown phase {phase!r}")

    # --------------------------------------------------------------- outputs
    def data_description(self) -> dict[str, Any]:
        if isinstance(self.data, PairSet):
            return self.data.describe()
        a, b = self.data
        return {"source": f"{a.source}|{b.source}", "n": [len(a), len(b)], "kind": "unpaired",
                "fingerprint": a.fingerprint()[:8] + b.fingerprint()[:8]}

    def callbacks(self) -> list[Callback]:
        return [TranslationGrids(self)]

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        tensors, specs = registry.export({"G": raw["G"]})  # no EMA here: G itself
        return tensors, {"nets": specs, "options": to_dict(self.options)}

    def grid_examples(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed centre crops for the sample grids: inputs and targets (for CycleGAN, B images)."""
        opt, k = self.options, self.options.sample_grid

        def centre(im):
            h, w = im.shape[:2]
            y, x = (h - opt.crop) // 2, (w - opt.crop) // 2
            return im[y:y + opt.crop, x:x + opt.crop]
        if opt.unpaired:
            a_set, b_set = self.data if opt.direction == "AtoB" else self.data[::-1]
            xs = [centre(a_set.images[i % len(a_set)]) for i in range(k)]
            ys = [centre(b_set.images[i % len(b_set)]) for i in range(k)]
        else:
            pairs = [self._sides((self.data.a.images[i % len(self.data)], self.data.b.images[i % len(self.data)]))
                     for i in range(k)]
            xs, ys = [centre(p[0]) for p in pairs], [centre(p[1]) for p in pairs]
        return to_tensor(xs), to_tensor(ys)


def _inner(net: nn.Module) -> nn.Module:
    """The module under DDP / torch.compile wrappers (CycleGAN calls its sub-networks by name)."""
    net = getattr(net, "_orig_mod", net)
    return getattr(net, "module", net)


class TranslationGrids(Callback):
    """``samples/step-NNNNNN.png``: rows of input | output | target (CycleGAN: A | A->B | A->B->A, B | B->A | B->A->B)."""

    def __init__(self, task: Translation):
        self.task = task
        self.x, self.y = task.grid_examples()

    def on_eval(self, state, step: int) -> None:
        G = state.net("G")
        was_training = G.training
        G.eval()
        with torch.no_grad():
            x, y = self.x.to(state.device), self.y.to(state.device)
            if self.task.options.unpaired:
                fb, fa = G.ab(x), G.ba(y)
                images = _interleave([x, fb, G.ba(fb), y, fa, G.ab(fa)], len(x))
            else:
                images = _interleave([x, G(x).float(), y], len(x))
        G.train(was_training)
        media.save_image(state.run_dir / "samples" / f"step-{step:06d}.png",
                         media.grid(media.to_uint8(images), nrow=3))


def _interleave(rows: list[torch.Tensor], n: int) -> torch.Tensor:
    """[x0, f0, y0, x1, f1, y1, ...] from column tensors, so a 3-wide grid reads input | output | target;
    grey columns (a saliency map beside its photo) are shown in as many channels as the widest."""
    if len(rows) == 6:  # CycleGAN: A triplets then B triplets
        return torch.cat([_interleave(rows[:3], n), _interleave(rows[3:], n)])
    c = max(r.shape[1] for r in rows)
    rows = [r.float().cpu().expand(-1, c, -1, -1) for r in rows]
    return torch.stack(rows, 1).reshape(-1, *rows[0].shape[1:])


class Translator(ImageToImage):
    """A trained translation model: ``apply(image)`` maps an A image (any size) to B.

    CycleGAN models also go the other way with ``direction="BtoA"`` (relative to training's direction).
    """

    Options = TranslateOptions

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu"):
        super().__init__(nets, meta, path, device)
        G = self.nets["G"]
        if self.options.unpaired:
            self.generators = {"AtoB": G.ab, "BtoA": G.ba}
            self.apply_options = ("tile", "compare", "direction")
        else:
            self.generators = {"AtoB": G}

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        kwargs = {k: v for k, v in meta["nets"]["G"].items() if k != "kind"}
        if meta.get("unpaired"):
            return {"G": {"class": registry.name_of(CycleGenerators), "g_kwargs": kwargs}}
        return {"G": {"class": registry.name_of(unet.UNet), **kwargs}}

    def _export_net(self) -> tuple[nn.Module, dict[str, int], int, str]:
        G = self.generators["AtoB"]  # the training direction (CycleGAN's BtoA is not exported)
        return G, {"image": 3}, G.multiple, ""

    def _apply_array(self, a: np.ndarray, tile: int | None = None, direction: str = "AtoB") -> np.ndarray:
        if direction not in self.generators:
            raise ConfigError(f"direction must be {' or '.join(self.generators)}; got {direction!r}")
        G = self.generators[direction]
        y = self._tiled(G, image_tensor(a, self.device), tile, multiple=G.multiple)
        return media.to_uint8(y)[0]


Translation.Predictor = Translator
