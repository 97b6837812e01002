"""The latent space of an image generator: paths, arithmetic, inversion and edit directions.

One module for the CLI, the Python API and the studio. Every function takes a loaded image model
(:class:`ganforge.tasks.generate.ImageGenerator`: ``latents``, ``forward``, ``generate``, ``classes``)
and plain tensors, so the same call works from each front door. :class:`LatentVerbs` makes the
commands of the image model (``ganforge invert|edit|directions|encoder|arithmetic``) from them.

- paths: :func:`lerp`, :func:`slerp`, :func:`interpolate`, :func:`looping_walk`, :func:`write_walk`
  (GIF or MP4, falling back to GIF when no MP4 encoder is found);
- arithmetic: :func:`mean_latent` of seed lists or of samples a classifier picks, :func:`arithmetic`
  (``a - b + c``);
- inversion: :func:`invert` (optimises z, and the class of a conditional model, for pixel + feature
  losses; optional learned encoder to start from, see :func:`train_encoder`), results kept in small
  latent files (:func:`save_latent`, :func:`load_latent`);
- edit directions: :func:`pca_directions` (GANSpace-style: PCA of G's first activations, mapped back to
  z) and :func:`supervised_directions` (InterFaceGAN-style: a linear classifier in z on labelled
  samples), kept in direction files, applied with :func:`apply_direction` at a strength.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError, GanforgeError
from .base import verb

log = logging.getLogger("ganforge")

LATENT_KIND = "ganforge-latent"
DIRECTIONS_KIND = "ganforge-directions"
ENCODER_KIND = "ganforge-encoder"


# ------------------------------------------------------------------------------------------------ paths

def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Straight-line interpolation between latent batches ``a`` and ``b``, ``t`` in [0, 1]."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent batches ``a`` and ``b`` (rows), ``t`` in [0, 1].

    Gaussian latents concentrate on a shell; slerp stays on it where a straight line would cut
    through low-density space near the origin.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    a_n = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b_n = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    near = (omega < 1e-4).expand_as(out)
    return torch.where(near, (1 - t) * a + t * b, out)


def looping_walk(z_dim: int, walks: int = 16, keys: int = 4, frames_per_key: int = 12, seed: int = 0
                 ) -> torch.Tensor:
    """Latents of shape [frames, walks, z_dim]: each walk visits ``keys`` points and returns to the first."""
    gen = torch.Generator().manual_seed(seed)
    points = torch.randn(keys, walks, z_dim, generator=gen)
    frames = []
    for k in range(keys):
        a, b = points[k], points[(k + 1) % keys]
        for i in range(frames_per_key):
            frames.append(slerp(a, b, i / frames_per_key))
    return torch.stack(frames)


def interpolate(a: torch.Tensor, b: torch.Tensor, frames: int, mode: str = "slerp") -> torch.Tensor:
    """``frames`` latents from ``a`` to ``b`` (both included exactly): [frames, *a.shape]."""
    if frames < 2:
        raise ConfigError(f"frames must be at least 2 (the two ends), got {frames}")
    if mode not in ("slerp", "lerp"):
        raise ConfigError(f"interpolation must be slerp or lerp, got {mode!r}")
    fn = slerp if mode == "slerp" else lerp
    out = torch.stack([fn(a, b, i / (frames - 1)) for i in range(frames)])
    out[0], out[-1] = a, b  # exact ends: the first and last frames are the endpoints' own images
    return out


def seed_latent(model, seed: int) -> torch.Tensor:
    """The latent [1, z_dim] that ``model.sample(1, seed=seed)`` uses."""
    return model.latents(1, seed=seed)


@dataclass
class Endpoint:
    """One end of a walk or an input of arithmetic: a latent [1, z_dim] and, for conditional models, a class."""

    z: torch.Tensor
    y: int | None = None
    label: str = ""


def endpoint(model, spec: int | str | Path, cls: int | str | None = None) -> Endpoint:
    """A seed (int or digits) or a latent file written by :func:`save_latent`; ``cls`` overrides the class."""
    text = str(spec)
    if text.lstrip("-").isdigit():
        z, y, label = seed_latent(model, int(text)), None, f"seed {text}"
    else:
        lat = load_latent(text, model)
        z, y, label = lat.z[:1], (int(lat.y[0]) if lat.y is not None else None), Path(text).name
    if model.conditional:
        y = model.class_index(cls) if cls is not None else (0 if y is None else y)
    elif cls is not None:
        model.class_index(cls)  # raises: not conditional
    return Endpoint(z, y, label)


def walk_images(model, a: Endpoint, b: Endpoint, frames: int = 48, mode: str = "slerp") -> np.ndarray:
    """uint8 NHWC frames from ``a`` to ``b``. A conditional model keeps ``a``'s class for the first half
    of the frames and ``b``'s for the second (classes are not continuous)."""
    zs = interpolate(a.z[0], b.z[0], frames, mode)
    y = None
    if model.conditional:
        y = torch.tensor([a.y if i < (frames + 1) // 2 else b.y for i in range(frames)], dtype=torch.int64)
    return model.generate(zs, y=y)


def write_animation(path: str | Path, images: np.ndarray, fps: int = 12, upscale: int | None = None
                    ) -> tuple[Path, str | None]:
    """Write uint8 NHWC frames as GIF or MP4; when MP4 cannot be encoded, write a GIF beside it.

    Returns the path written and a note for the user (None when the request was met as asked).
    """
    from ..imaging import media

    path = Path(path)
    if fps <= 0:
        raise ConfigError(f"fps must be positive, got {fps}")
    side = images.shape[1]
    scale = upscale if upscale is not None else max(1, 128 // side)
    frames = [media.upscale(im, scale) for im in images]
    if path.suffix.lower() == ".mp4":
        try:
            return media.save_animation(path, frames, fps=fps), None
        except GanforgeError as e:
            gif = path.with_suffix(".gif")
            return media.save_animation(gif, frames, fps=fps), f"no MP4 encoder ({e}); wrote a GIF instead: {gif}"
    return media.save_animation(path, frames, fps=fps), None


def write_walk(model, path: str | Path, a: Endpoint, b: Endpoint, frames: int = 48, fps: int = 12,
               mode: str = "slerp") -> tuple[Path, str | None]:
    """Animate the path from ``a`` to ``b``: ``(path written, note)`` as :func:`write_animation`."""
    return write_animation(path, walk_images(model, a, b, frames, mode), fps)


# ------------------------------------------------------------------------------------------------ arithmetic

def parse_seeds(text: str | Sequence[int]) -> list[int]:
    """``"1,2,5-7"`` -> [1, 2, 5, 6, 7] (a list of ints passes through)."""
    if not isinstance(text, str):
        return [int(s) for s in text]
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, part)
                seeds.extend(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ConfigError(f"seed list {text!r}: {part!r} is not a seed or a range like 5-9") from None
    if not seeds:
        raise ConfigError(f"seed list {text!r} is empty")
    return seeds


def mean_latent(model, seeds: str | Sequence[int] | None = None, *, classifier=None, target: int | str | None = None,
                n: int = 512, seed: int = 0) -> torch.Tensor:
    """The average latent [1, z_dim] of the samples of ``seeds``, or of those among ``n`` samples that
    ``classifier`` (images uint8 NHWC -> [N, C] scores, e.g. ``FeatureExtractor.logits``) assigns to ``target``."""
    if seeds is not None:
        return torch.cat([seed_latent(model, s) for s in parse_seeds(seeds)]).mean(0, keepdim=True)
    if classifier is None or target is None:
        raise ConfigError("mean_latent: give seeds, or a classifier and a target class")
    z = model.latents(n, seed=seed)
    pred = np.asarray(torch.as_tensor(classifier(model.generate(z))).argmax(1))
    names = _classifier_names(classifier)
    t = names.index(str(target)) if names and str(target) in names else int(target)
    chosen = z[torch.from_numpy(pred == t)]
    if len(chosen) == 0:
        raise DataError(f"mean_latent: none of {n} samples was classified as {target!r}; sample more (n)")
    return chosen.mean(0, keepdim=True)


def _classifier_names(classifier) -> list[str] | None:
    owner = getattr(classifier, "__self__", classifier)
    meta = getattr(owner, "meta", None) or {}
    return meta.get("classes")


def arithmetic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``a - b + c`` on (mean) latents, e.g. smiling woman - neutral woman + neutral man."""
    return a - b + c


# ------------------------------------------------------------------------------------------------ latent files

@dataclass
class Latent:
    """Latents found for images: ``z`` [N, z_dim], ``y`` [N] classes (conditional models) and their scores."""

    z: torch.Tensor
    y: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def model_id(model) -> dict[str, Any]:
    """What identifies a generator for a latent or direction file (a latent means nothing for another G)."""
    data = model.meta.get("data", {})
    return {"fingerprint": data.get("fingerprint"), "step": model.meta.get("step"), "z_dim": model.z_dim,
            "classes": model.classes}


def save_latent(path: str | Path, latent: Latent, model) -> Path:
    """A small safetensors file holding z (and classes) with JSON metadata: the model's identity, scores."""
    from .. import artifact

    tensors = {"z": latent.z.detach().float().cpu()}
    if latent.y is not None:
        tensors["y"] = latent.y.detach().long().cpu()
    return artifact.save(path, tensors, dict(latent.meta, kind=LATENT_KIND, model=model_id(model)))


def load_latent(path: str | Path, model=None) -> Latent:
    """Read a latent file; with ``model``, check that it was made for a generator of the same shape."""
    tensors, meta = _read_kind(path, LATENT_KIND, "latent", "write one with 'ganforge invert'", "z", "latents",
                               model)
    y = tensors.get("y")
    if y is not None:
        classes = len(model.classes or []) if model is not None else None
        if y.ndim != 1 or len(y) != len(tensors["z"]) or y.is_floating_point() or \
                (len(y) and (int(y.min()) < 0 or (classes is not None and int(y.max()) >= max(classes, 1)))):
            raise ConfigError(f"{path}: its classes {y.tolist()[:8]} do not fit "
                              f"{'this model' if model is not None else 'its latents'}")
    return Latent(tensors["z"], y, meta)


def read_small_file(path: str | Path, kind: str, what: str, how: str) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, meta) of a small ganforge file of ``kind`` (latents, directions); one-line errors for a
    missing file or another kind of file."""
    from .. import artifact

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} file ({how})")
    meta = artifact.read_meta(path)
    if meta.get("kind") != kind:
        raise ConfigError(f"{path}: not a {what} file (kind {meta.get('kind') or meta.get('task')!r})")
    tensors, _ = artifact.load(path)
    return tensors, meta


def _read_kind(path: str | Path, kind: str, what: str, how: str, key: str, plural: str, model=None):
    """(tensors, meta) of a small ganforge file of ``kind`` whose vectors ``tensors[key]`` are checked:
    [N, size] finite floats, the size of ``model``'s z (or W, for files in W space)."""
    path = Path(path)
    tensors, meta = read_small_file(path, kind, what, how)
    v = tensors.get(key)
    if v is None:
        raise ConfigError(f"{path}: a {what} file without its {key!r} tensor; the file is damaged")
    if v.ndim != 2 or v.shape[0] == 0 or not v.is_floating_point():
        raise ConfigError(f"{path}: {plural} of shape {list(v.shape)} ({v.dtype}); expected [N, z_dim] floats")
    if not torch.isfinite(v).all():
        raise ConfigError(f"{path}: {plural} hold NaN or infinite values; the file is damaged")
    if model is not None:
        G = model.nets["G"]
        space, dim = ("w", G.w_dim) if meta.get("space") == "w" and hasattr(G, "w_dim") else ("z", model.z_dim)
        if meta.get("space") == "w" and not hasattr(G, "w_dim"):
            raise ConfigError(f"{path}: {plural} in W space, but this model has no mapping network")
        if v.shape[1] != dim:
            raise ConfigError(f"{path}: {plural} of size {v.shape[1]}, but this model's {space} has {dim}")
    return tensors, meta


# ------------------------------------------------------------------------------------------------ inversion

def load_target(image, model, resize: bool = True) -> tuple[torch.Tensor, list[str]]:
    """An image (file path, PIL image or uint8 HW/HWC array) as [1, C, S, S] uint8 for ``model``.

    Another size is centre-cropped and resized when ``resize`` (else refused); another channel count is
    converted (colour -> grey luma, grey -> RGB). Returns the tensor and notes saying what was changed.
    """
    from PIL import Image

    from ..data.images import fit_square, to_grey_or_rgb

    size, channels = model.options.size, model.options.channels
    name = str(image) if isinstance(image, (str, Path)) else "image"
    try:
        if isinstance(image, (str, Path)):
            im = Image.open(image)
            im.load()
        elif isinstance(image, Image.Image):
            im = image
        else:
            arr = np.asarray(image)
            if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
                raise ConfigError(f"{name}: expected a uint8 HW or HWC array, got {arr.dtype} {arr.shape}")
            im = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr)
    except (OSError, ValueError) as e:
        raise DataError(f"{name}: cannot read this image ({str(e).splitlines()[0][:120]})") from None
    notes = []
    im = to_grey_or_rgb(im)
    if im.size != (size, size):
        if not resize:
            raise ConfigError(f"{name} is {im.size[0]}x{im.size[1]}, the model makes {size}x{size} images "
                              "(allow resizing to centre-crop and resize it)")
        how = "resized" if im.size[0] == im.size[1] else "centre-cropped and resized"
        notes.append(f"{name}: {im.size[0]}x{im.size[1]} {how} to {size}x{size}")
        im = fit_square(im, size)
    have = 1 if im.mode == "L" else 3
    if have != channels:
        notes.append(f"{name}: {'colour converted to grey' if channels == 1 else 'grey repeated into RGB'} "
                     f"for a {channels}-channel model")
        im = im.convert("L" if channels == 1 else "RGB")
    x = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy())
    x = x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None]
    return x, notes


def _to_float(x_uint8: torch.Tensor) -> torch.Tensor:
    return x_uint8.float().div(127.5).sub(1.0)


class _FeatureLoss:
    """Squared distance of domain-network features (penultimate layer), differentiable in the image."""

    def __init__(self, features, channels: int, device):
        from ..metrics.features import load_features

        self.extractor = features if hasattr(features, "network") else load_features(features, device=str(device))
        self.net = self.extractor.network
        self.channels = channels

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        from ..metrics.features.extractor import adapt_channels

        x01 = adapt_channels((x.float() + 1) / 2, self.extractor.channels)
        f, _ = self.net(x01)
        return f.float()


def invert(model, images, *, classes=None, steps: int = 300, lr: float = 0.05, features=None,
           feature_weight: float = 1.0, encoder=None, candidates: int = 32, resize: bool = True,
           seed: int = 0, progress=None) -> Latent:
    """Find latents whose images match ``images`` (a file, an array/list of them, or a uint8 NCHW tensor).

    Starts from the best of ``candidates`` random latents (or from ``encoder``'s guess), then minimises
    pixel MSE + ``feature_weight`` x feature MSE (with ``features``, a domain feature file or extractor)
    with Adam for ``steps`` steps; a small prior keeps z near the Gaussian shell. A conditional model's
    class is ``classes`` when given, else the class whose candidates fit best. Returns a :class:`Latent`
    with ``meta["psnr"]``, ``meta["ssim"]`` (means) and per-image values, and the reconstructions as
    ``meta`` entries are plain JSON.
    """
    from ..metrics.quality import psnr, ssim

    if isinstance(images, torch.Tensor) and images.dim() == 4:
        target_u8, notes = images.to(torch.uint8), []
    else:
        items = images if isinstance(images, (list, tuple)) else [images]
        loaded = [load_target(im, model, resize) for im in items]
        target_u8 = torch.cat([t for t, _ in loaded])
        notes = [n for _, ns in loaded for n in ns]
    if target_u8.shape[1:] != (model.options.channels, model.options.size, model.options.size):
        raise ConfigError(f"images of shape {tuple(target_u8.shape[1:])}; this model makes "
                          f"{(model.options.channels, model.options.size, model.options.size)}")
    for note in notes:
        log.debug(note)
    device = model.device
    target = _to_float(target_u8).to(device)
    n = len(target)
    gen = torch.Generator().manual_seed(seed)
    feat = _FeatureLoss(features, model.options.channels, device) if features is not None else None
    with torch.no_grad():
        target_f = feat.embed(target) if feat else None

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        per = (x.float() - target).pow(2).flatten(1).mean(1)
        if feat is not None:
            per = per + feature_weight * (feat.embed(x) - target_f).pow(2).mean(1)
        return per

    y = None
    if model.conditional:
        y = model.labels(n, classes) if classes is not None else None
    elif classes is not None:
        model.labels(n, classes)  # raises: not conditional
    model.nets["G"].requires_grad_(False)
    with torch.no_grad():
        if encoder is not None:
            z0, y_guess = encode(encoder, model, target)
            if model.conditional and y is None:
                y = y_guess
        else:
            z0, y = _best_candidates(model, target, target_f, feat, feature_weight, candidates, y, gen)
    z = z0.clone().to(device).requires_grad_(True)
    y_dev = y.to(device) if y is not None else None
    opt = torch.optim.Adam([z], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        x = model.forward(z, y_dev)
        prior = (z.pow(2).mean(1) - 1).pow(2) * 1e-3
        loss = (loss_of(x) + prior).sum()
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(step + 1, steps)
    z = z.detach().cpu()
    recon = torch.from_numpy(model.generate(z, y=y)).permute(0, 3, 1, 2)
    p = psnr(recon, target_u8.cpu()).values
    s = ssim(recon, target_u8.cpu()).values if model.options.size >= 11 else np.full(n, float("nan"))
    meta = {"psnr": float(np.mean(p)), "ssim": float(np.nanmean(s)) if np.isfinite(s).any() else None,
            "psnr_each": [float(v) for v in p], "ssim_each": [float(v) for v in s], "steps": steps,
            "features": None if feat is None else feat.extractor.name, "notes": notes,
            "classes": None if y is None else [model.classes[int(c)] for c in y]}
    out = Latent(z, y, meta)
    out.reconstruction = recon  # uint8 NCHW; not written to latent files
    return out


@torch.no_grad()
def _best_candidates(model, target: torch.Tensor, target_f: torch.Tensor | None, feat, feature_weight: float,
                     candidates: int, y: torch.Tensor | None, gen: torch.Generator):
    """For each target, the best of ``candidates`` random latents (over every class when ``y`` is None)."""
    n = len(target)
    z_c = torch.randn(candidates, model.z_dim, generator=gen)
    classes = [None] if not model.conditional else (range(len(model.classes)) if y is None else
                                                     sorted({int(c) for c in y}))
    flat_t = target.float().flatten(1)
    best = torch.full((n,), float("inf"))
    best_z = torch.zeros(n, model.z_dim)
    best_y = torch.zeros(n, dtype=torch.int64) if model.conditional else None
    for c in classes:
        yc = None if c is None else torch.full((candidates,), c, dtype=torch.int64)
        x = model.forward(z_c, yc).float()
        loss = torch.cdist(flat_t, x.flatten(1)).pow(2) / flat_t.shape[1]  # [n, candidates] pixel MSE
        if feat is not None:
            loss = loss + feature_weight * torch.cdist(target_f, feat.embed(x)).pow(2) / target_f.shape[1]
        loss = loss.cpu()
        if y is not None and c is not None:
            loss[y.cpu() != c] = float("inf")
        value, j = loss.min(1)
        better = value < best
        best[better], best_z[better] = value[better], z_c[j[better]]
        if c is not None:
            best_y[better] = c
    return best_z, (y.clone() if y is not None else best_y)


# ------------------------------------------------------------------------------------------------ encoder

def train_encoder(model, out: str | Path | None = None, *, steps: int = 1000, batch: int = 64, lr: float = 1e-3,
                  width: int = 32, seed: int = 0, progress=None):
    """Train an encoder image -> z (and class logits) on the model's own samples; it gives :func:`invert`
    a starting point. Saved to ``out`` (safetensors + JSON metadata) when given; returns the network."""
    from .. import artifact
    from ..nets.encoder import Encoder

    opt_ = model.options
    k = len(model.classes) if model.conditional else 0
    kwargs = dict(size=opt_.size, channels=opt_.channels, z_dim=model.z_dim, num_classes=k, width=width)
    torch.manual_seed(seed)
    enc = Encoder(**kwargs).to(model.device)
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.nets["G"].requires_grad_(False)
    for step in range(steps):
        z = torch.randn(batch, model.z_dim, generator=gen)
        y = torch.randint(k, (batch,), generator=gen) if k else None
        with torch.no_grad():
            x = model.forward(z, y)
        z_hat, logits = enc(x)
        loss = F.mse_loss(z_hat, z.to(model.device))
        if k:
            loss = loss + F.cross_entropy(logits, y.to(model.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step + 1, steps)
    enc.eval()
    if out is not None:
        artifact.save(out, enc.state_dict(), {"kind": ENCODER_KIND, "nets": {"E": kwargs}, "model": model_id(model),
                                              "steps": steps, "final_loss": float(loss.detach())})
    return enc


def load_encoder(path: str | Path, model=None):
    from .. import artifact
    from ..nets.encoder import Encoder

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such encoder file (write one with 'ganforge encoder')")
    meta = artifact.read_meta(path)
    if meta.get("kind") != ENCODER_KIND:
        raise ConfigError(f"{path}: not an encoder file (write one with 'ganforge encoder')")
    tensors, _ = artifact.load(path)
    kwargs = (meta.get("nets") or {}).get("E") if isinstance(meta.get("nets"), dict) else None
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{path}: an encoder file without its network spec; the file is damaged")
    if model is not None and kwargs.get("z_dim") != model.z_dim:
        raise ConfigError(f"{path}: an encoder for z of size {kwargs.get('z_dim')!r}, not {model.z_dim}")
    try:
        enc = Encoder(**kwargs)
        enc.load_state_dict(tensors)
    except (TypeError, ValueError, RuntimeError) as e:
        text = (str(e).strip().splitlines() or [""])[0][:160]
        raise ConfigError(f"{path}: the encoder cannot be rebuilt ({type(e).__name__}: {text})") from None
    return enc.eval()


@torch.no_grad()
def encode(encoder, model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The encoder's latents (and classes) for images in [-1, 1]."""
    if isinstance(encoder, (str, Path)):
        encoder = load_encoder(encoder, model)
    encoder = encoder.to(model.device)
    z, logits = encoder(x.to(model.device))
    y = logits.argmax(1).cpu() if logits is not None else None
    return z.cpu(), y


# ------------------------------------------------------------------------------------------------ directions

@dataclass
class Directions:
    """Unit-length edit directions in z: ``vectors`` [K, z_dim] named ``names``; ``meta`` says how."""

    names: list[str]
    vectors: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> torch.Tensor:
        if name not in self.names:
            shown = ", ".join(self.names[:20]) + (", ..." if len(self.names) > 20 else "")
            raise ConfigError(f"unknown direction {name!r}; this file has {shown}")
        return self.vectors[self.names.index(name)]


def _first_activations(model, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """G's activations after its first layer (DCGAN: the 4x4 feature map; ResNet: the first linear map)."""
    G = model.nets["G"]
    first = G.net[2] if hasattr(G, "net") else G.fc
    out = {}
    handle = first.register_forward_hook(lambda m, i, o: out.__setitem__("h", o))
    try:
        with torch.no_grad():
            model.forward(z, y)
    finally:
        handle.remove()
    return out["h"].float().flatten(1).cpu()


def pca_directions(model, k: int = 10, n: int = 2000, seed: int = 0, space: str = "activations") -> Directions:
    """GANSpace-style unsupervised directions ``pc0..pc{k-1}``.

    ``space="activations"``: PCA of G's first-layer activations over ``n`` samples; each component is
    mapped back to z by least squares (z ~ coefficients x directions), as GANSpace does for BigGAN.
    ``space="z"``: PCA of the latents themselves (only informative when z is not isotropic, e.g. inverted
    latents). Directions are unit vectors ordered by explained variance.
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    z = model.latents(n, seed=seed)
    y = model.labels(n) if model.conditional else None
    if space == "z":
        h = z
    elif space == "activations":
        h = _first_activations(model, z, y)
    else:
        raise ConfigError(f"space must be 'activations' or 'z', got {space!r}")
    k = min(k, h.shape[1], n - 1)
    h_c = h - h.mean(0, keepdim=True)
    _, s, v = torch.linalg.svd(h_c, full_matrices=False)
    coeff = h_c @ v[:k].T  # [n, k]
    if space == "z":
        dirs = v[:k]
    else:
        coeff = coeff / coeff.std(0, keepdim=True).clamp_min(1e-8)
        dirs = torch.linalg.lstsq(coeff, z - z.mean(0, keepdim=True)).solution  # [k, z_dim]
    dirs = dirs / dirs.norm(dim=1, keepdim=True).clamp_min(1e-8)
    var = (s[:k] ** 2 / (s ** 2).sum()).tolist()
    return Directions([f"pc{i}" for i in range(k)], dirs.float(),
                      {"method": f"pca-{space}", "n": n, "seed": seed, "explained_variance": var})


def supervised_directions(z: torch.Tensor, labels, names: Sequence[str] | None = None, C: float = 1.0,
                          seed: int = 0) -> Directions:
    """InterFaceGAN-style directions: one linear classifier per class (one vs rest) on latents ``z`` [N, z_dim]
    with ``labels`` [N]; each direction is its unit normal, pointing towards the class.

    ``names`` maps label values 0..K-1 to names (default: the label values as text)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels).astype(np.int64)
    if len(y) != len(z):
        raise DataError(f"supervised_directions: {len(y)} labels for {len(z)} latents")
    present = np.unique(y)
    if len(present) < 2:
        raise DataError(f"supervised_directions: samples of at least 2 classes are needed, got {len(present)}")
    names = list(names) if names is not None else [str(c) for c in range(int(present.max()) + 1)]
    x = z.detach().float().cpu().numpy()
    out_names, vectors, accs = [], [], {}
    for c in present:
        target = (y == c).astype(np.int64)
        if target.sum() < 2 or (1 - target).sum() < 2:
            continue
        clf = LogisticRegression(C=C, max_iter=1000, class_weight="balanced", random_state=seed).fit(x, target)
        w = torch.from_numpy(clf.coef_[0]).float()
        out_names.append(names[int(c)])
        vectors.append(w / w.norm().clamp_min(1e-8))
        accs[names[int(c)]] = float(clf.score(x, target))
    if not vectors:
        raise DataError("supervised_directions: no class has enough samples (2 or more) on both sides")
    return Directions(out_names, torch.stack(vectors), {"method": "linear-classifier", "n": len(y),
                                                        "train_accuracy": accs})


def classifier_directions(model, classifier, n: int = 2000, seed: int = 0) -> Directions:
    """:func:`supervised_directions` on ``n`` samples labelled by ``classifier`` (uint8 NHWC images ->
    [N, C] scores, e.g. a domain feature network's ``logits``); names are the classifier's class names."""
    z = model.latents(n, seed=seed)
    y = model.labels(n) if model.conditional else None
    scores = torch.as_tensor(classifier(model.generate(z, y=y)))
    labels = scores.argmax(1).numpy()
    d = supervised_directions(z, labels, _classifier_names(classifier) or None, seed=seed)
    d.meta["labelled_by"] = getattr(getattr(classifier, "__self__", None), "name", "classifier")
    return d


def apply_direction(z: torch.Tensor, direction: torch.Tensor, strength: float) -> torch.Tensor:
    """``z + strength * direction`` (a unit vector: strength is in standard deviations of z)."""
    return z + strength * direction.to(z.dtype).view(1, -1)


def save_directions(path: str | Path, directions: Directions, model) -> Path:
    from .. import artifact

    return artifact.save(path, {"vectors": directions.vectors.float()},
                         dict(directions.meta, kind=DIRECTIONS_KIND, names=directions.names, model=model_id(model)))


def load_directions(path: str | Path, model=None) -> Directions:
    tensors, meta = _read_kind(path, DIRECTIONS_KIND, "directions", "compute one with 'ganforge directions'",
                               "vectors", "directions", model)
    names = meta.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) \
            or len(names) != len(tensors["vectors"]):
        raise ConfigError(f"{path}: its direction names do not match its {len(tensors['vectors'])} vectors; "
                          "the file is damaged")
    return Directions(names, tensors["vectors"], meta)


# ------------------------------------------------------------------------------------------------ verbs

def _nhwc(batches) -> np.ndarray:
    """uint8 NCHW tensors -> one uint8 NHWC array."""
    return np.concatenate([b.permute(0, 2, 3, 1).numpy() for b in batches])


def inversion_report(model, lat: "Latent", image: Path, output: Path, preview: Path | None, resize: bool,
                     tag: str = "") -> str:
    """The lines an inversion verb prints (PSNR, SSIM, ``tag``; files written), writing the input |
    reconstruction ``preview`` when asked."""
    from ..imaging import media

    ssim = f"  SSIM {lat.meta['ssim']:.3f}" if lat.meta.get("ssim") is not None else ""
    lines = [f"PSNR {lat.meta['psnr']:.2f} dB{ssim}{tag}"]
    if preview is not None:
        target, _ = load_target(image, model, resize)
        pair = _nhwc([target, lat.reconstruction])
        media.save_image(preview, media.upscale(media.grid(pair, nrow=2), max(1, 128 // model.options.size)))
        lines.append(f"wrote {preview}")
    lines.append(f"wrote {output}")
    return "\n".join(lines)


class LatentVerbs:
    """The latent-space commands of an image generator (``ganforge invert|edit|directions|encoder|arithmetic``).

    A mixin of :class:`ganforge.tasks.generate.ImageGenerator`: each verb reads its inputs, computes with the
    functions above, writes its files and returns the lines to print. Notes (an image resized) are logged.
    """

    def _beside_model(self, name: str, flag: str) -> Path:
        """``name`` in the model's folder (a run folder, or the folder of the model file)."""
        if self.path is None:
            raise ConfigError(f"this model was not loaded from a file: give {flag} FILE")
        return self.path.parent / name

    def _latent_of(self, image: Path | None, latent: Path | None, cls: str | None, steps: int,
                   features: str | None, resize: bool) -> tuple[Latent, torch.Tensor | None]:
        """(latent, the reconstruction or None): read a latent file or invert an image."""
        if (image is None) == (latent is None):
            raise ConfigError("give one input: --image IN.png or --latent FILE")
        if latent is not None:
            return load_latent(latent, self), None
        lat = invert(self, image, classes=cls, steps=steps, features=features, resize=resize)
        for note in lat.meta["notes"]:
            log.warning(note)
        return lat, lat.reconstruction

    # inside the methods below, invert(...) and arithmetic(...) are this module's functions (a method's own
    # name is not in scope in its body)

    @verb("invert", help={
        "image": "The image to project into the latent space.",
        "output": "Latent file to write (.safetensors).",
        "cls": "Conditional models: the image's class (default: the best fitting one).",
        "steps": "Optimisation steps.",
        "features": "Domain feature file for a feature loss beside pixels.",
        "encoder": "Encoder file to start from ('ganforge encoder').",
        "resize": "Centre-crop and resize another size (else refuse it).",
        "preview": "Also write input | reconstruction side by side.",
        "seed": "Seed of the starting candidates.",
        "space": "z, or for generators with a mapping network w (one w for all layers) or w+ (one per layer).",
        "noise": "w/w+: also optimise the noise maps (closer fits; the noise is kept in the latent file)."})
    def invert(self, *, image: Path, output: Path, cls: str | None = None,
               steps: int = 300, features: str | None = None, encoder: Path | None = None, resize: bool = True,
               preview: Path | None = None, seed: int = 0, space: str = "z", noise: bool = False) -> str:
        """Find the latent (and class) whose image matches IN.png; keep it in a small file for editing."""
        if space not in ("z", "w", "w+"):
            raise ConfigError(f"--space must be z, w or w+, got {space!r}")
        if space != "z":
            if encoder is not None:
                raise ConfigError("--encoder starts a z inversion; leave it out with --space w/w+")
            return self._invert_w_verb(image, output, space, steps, features, noise, resize, preview, seed, cls)

        lat = invert(self, image, classes=cls, steps=steps, features=features, encoder=encoder,
                           resize=resize, seed=seed)
        for note in lat.meta["notes"]:
            log.warning(note)
        lat.meta["image"] = str(image)
        save_latent(output, lat, self)
        what = f"  class {lat.meta['classes'][0]}" if lat.meta.get("classes") else ""
        return inversion_report(self, lat, image, output, preview, resize, what)

    @verb("edit", help={
        "output": "Edited image (png).",
        "image": "Image to invert then edit ...",
        "latent": "... or a latent file from 'invert'.",
        "direction": "Direction name (pc0.., a class name) in --directions.",
        "directions": "Directions file (default: directions.safetensors beside the model).",
        "strength": "How far to move along the direction (in std of z).",
        "to_class": "Conditional models: regenerate with this class, keeping z (the style).",
        "cls": "With --image: the input's class (default: best fit).",
        "steps": "With --image: inversion steps.",
        "features": "With --image: domain feature file for the inversion.",
        "resize": "With --image: centre-crop and resize another size (else refuse it).",
        "side_by_side": "Write input | reconstruction | edit.",
        "layers": "W directions: move only these layers, e.g. 0-5 (coarse); default all."})
    def edit(self, *, output: Path, image: Path | None = None, latent: Path | None = None,
             direction: str | None = None, directions: Path | None = None, strength: float = 2.0,
             to_class: str | None = None, cls: str | None = None, steps: int = 300, features: str | None = None,
             resize: bool = True, side_by_side: bool = False, layers: str | None = None) -> str:
        """Edit an image in latent space: move along a direction, or change its class keeping its style."""
        from ..imaging import media

        if direction is None and to_class is None:
            raise ConfigError("say what to change: --direction NAME (with --strength) or --to-class CLASS")
        w_file = latent is not None and self._is_w_latent(latent)
        d = None
        if direction is not None:
            d = load_directions(directions or self._beside_model("directions.safetensors", "--directions"), self)
        if w_file or (d is not None and d.meta.get("space") == "w"):
            return self._edit_w(output, image, latent, d, direction, strength, to_class, cls, steps, features,
                                resize, side_by_side, layers)
        lat, recon = self._latent_of(image, latent, cls, steps, features, resize)
        z, y = lat.z[:1], (lat.y[:1] if lat.y is not None else None)
        if d is not None:
            z = apply_direction(z, d.get(direction), strength)
        if to_class is not None:
            y = self.labels(1, to_class)
        out = self.generate(z, y=y)
        if side_by_side:
            parts = [] if image is None else [_nhwc([load_target(image, self, resize)[0]])]
            if recon is None:
                recon_np = self.generate(lat.z[:1], y=lat.y[:1] if lat.y is not None else None)
            else:
                recon_np = _nhwc([recon[:1]])
            out = np.concatenate(parts + [recon_np, out])
            media.save_image(output, media.upscale(media.grid(out, nrow=len(out)), max(1, 128 // self.options.size)))
        else:
            media.save_image(output, out[0])
        return f"wrote {output}"

    @verb("directions", help={
        "output": "Directions file (default: directions.safetensors beside the model).",
        "method": "pca (unsupervised, GANSpace-style), classifier (supervised, InterFaceGAN-style: needs --features) "
                  "or labelled (W space: invert the labelled images of --data, a linear classifier per class).",
        "k": "pca: number of components (pc0..).",
        "space": "pca: of G's first activations (GANSpace), of z, or of w (generators with a mapping network; "
                 "their default).",
        "data": "labelled: images in class subfolders or a file,label CSV.",
        "n": "Samples to compute them from.",
        "features": "classifier: a domain feature file trained on labelled data; its classes name the directions.",
        "preview": "Also write a grid: one row per direction, strengths -3..3.",
        "seed": "Seed of the samples."})
    def directions(self, *, output: Path | None = None, method: str = "pca", k: int = 10, space: str | None = None,
                   n: int = 2000, features: str | None = None, preview: Path | None = None, seed: int = 0,
                   data: str | None = None) -> str:
        """Compute edit directions in the latent space and save them for 'ganforge edit --direction'."""
        w_model = hasattr(self.nets["G"], "mapping")
        space = space or ("w" if w_model else "activations")
        if space == "w" or method == "labelled":
            if method == "labelled" and space != "w" and space is not None and not w_model:
                raise ConfigError("--method labelled works in W space: it needs a generator with a mapping network")
            d, where, draw = self._w_directions(method, k, n, data, seed), " in W", self._w_directions_preview
        elif method == "pca":
            d, where, draw = pca_directions(self, k=k, n=n, seed=seed, space=space), "", self._directions_preview
        elif method == "classifier":
            if features is None:
                raise ConfigError("--method classifier needs --features FILE (a domain classifier)")
            from ..metrics.features import load_features
            d = classifier_directions(self, load_features(features).logits, n=n, seed=seed)
            where, draw = "", self._directions_preview
        else:
            raise ConfigError(f"--method must be pca or classifier, got {method!r}")
        output = output or self._beside_model("directions.safetensors", "-o")
        save_directions(output, d, self)
        lines = [f"{len(d.names)} directions{where}: {', '.join(d.names)}"]
        if preview is not None:
            draw(d, preview, seed)
            lines.append(f"wrote {preview}")
        lines.append(f"wrote {output}")
        return "\n".join(lines)

    def _directions_preview(self, d: Directions, path: Path, seed: int) -> None:
        from ..imaging import media

        strengths = [-3, -2, -1, 0, 1, 2, 3]
        z = self.latents(1, seed=seed)
        zs = torch.cat([apply_direction(z, v, s) for v in d.vectors for s in strengths])
        y = self.labels(len(zs), 0) if self.conditional else None
        media.save_image(path, media.upscale(media.grid(self.generate(zs, y=y), nrow=len(strengths)),
                                             max(1, 64 // self.options.size)))

    @verb("encoder", help={
        "output": "Encoder file to write (.safetensors).",
        "steps": "Training steps on the model's own samples.",
        "batch": "Batch size.",
        "seed": "Seed of the encoder's weights and samples."})
    def encoder(self, *, output: Path, steps: int = 1000, batch: int = 64, seed: int = 0) -> str:
        """Train an encoder image -> z (and class) on the model's samples, to start 'invert --encoder' from."""
        train_encoder(self, output, steps=steps, batch=batch, seed=seed)
        return f"wrote {output}"

    @verb("arithmetic", help={
        "a": "Seeds whose mean latent is A, e.g. 1,2,5-7.",
        "b": "Seeds for B.",
        "c": "Seeds for C.",
        "output": "Grid: mean A, mean B, mean C, A - B + C.",
        "cls": "Conditional models: the class."})
    def arithmetic(self, *, a: str, b: str, c: str, output: Path, cls: str | None = None) -> str:
        """Vector arithmetic on mean latents: A - B + C (e.g. smiling woman - neutral woman + neutral man)."""
        from ..imaging import media

        za, zb, zc = (mean_latent(self, s) for s in (a, b, c))
        zs = torch.cat([za, zb, zc, arithmetic(za, zb, zc)])
        y = self.labels(4, cls)
        media.save_image(output, media.upscale(media.grid(self.generate(zs, y=y), nrow=4),
                                               max(1, 128 // self.options.size)))
        return f"wrote {output}  (A, B, C, A - B + C)"

