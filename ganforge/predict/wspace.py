"""W space: the latent tools of generators with a mapping network (``--arch style``, imported StyleGAN2).

z goes through the mapping network to w, one per synthesis layer (``ws``, [N, num_ws, w_dim]); W is far less
entangled than z, so edits, mixing and inversion work there:

- truncation: ``w_avg + psi * (w - w_avg)`` (``sample(psi=...)``, ``walk(psi=...)``);
- walks in W: :func:`w_walk_images` (straight lines between the ws of two seeds or inverted images);
- style mixing: :func:`mix_grid` (coarse layers from one seed, fine layers from another);
- inversion into W (one w for every layer) or W+ (one per layer), pixel + feature loss, optionally the
  noise maps too: :func:`invert_w`, kept in W latent files (:func:`save_w_latent`);
- directions in W: GANSpace (:func:`pca_w`, PCA of sampled ws) and InterFaceGAN (:func:`labelled_w_directions`:
  invert a labelled set of images, fit one linear classifier per class, the direction is its normal);
- re-ageing: :func:`age_direction` from images labelled by age group, applied to an inverted photo.

A direction in W is a unit vector with ``meta["scale"]``: the standard deviation of sampled ws along it, so a
strength is in standard deviations as for z directions. :class:`WSpaceVerbs` makes the commands ``mix`` and
``reage``; ``invert --space w|w+``, ``directions --space w`` / ``--method labelled`` and ``edit`` of a W latent
call into this module through the model's methods.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .base import verb
from .latent import (Directions, _FeatureLoss, _nhwc, _to_float, inversion_report, load_target, model_id,
                     parse_seeds, read_small_file, supervised_directions)

log = logging.getLogger("ganforge")

W_LATENT_KIND = "ganforge-wlatent"
SPACES = ("z", "w", "w+")


def require_w(model) -> torch.nn.Module:
    """The generator, when it has a mapping network; a one-line ConfigError otherwise."""
    G = model.nets["G"]
    if not (hasattr(G, "mapping") and hasattr(G, "synthesize")):
        raise ConfigError("W space needs a generator with a mapping network: train with --arch style, or import a "
                          "StyleGAN2 model ('ganforge import network-snapshot.pkl')")
    return G


def has_w(model) -> bool:
    G = model.nets["G"]
    return hasattr(G, "mapping") and hasattr(G, "synthesize")


@torch.no_grad()
def mapped(model, z: torch.Tensor, y: torch.Tensor | None = None, psi: float = 1.0,
           cutoff: int | None = None) -> torch.Tensor:
    """``ws`` [N, num_ws, w_dim] of latents ``z`` (and labels of a conditional model), truncated by ``psi``."""
    G = require_w(model)
    if model.conditional and y is None:
        y = model.labels(len(z))
    return G.ws(z.to(model.device), None if y is None else y.to(model.device), psi, cutoff).cpu()


def seed_ws(model, seeds: str | Sequence[int], psi: float = 1.0, condition=None) -> torch.Tensor:
    seeds = parse_seeds(seeds)
    z = torch.cat([model.latents(1, seed=s) for s in seeds])
    y = model.labels(len(seeds), condition) if model.conditional else None
    return mapped(model, z, y, psi)


def synthesize(model, ws: torch.Tensor, noise: list | None = None) -> torch.Tensor:
    """Images in [-1, 1] (NCHW, with gradients) from ``ws``; the stored noise unless ``noise`` is given."""
    return require_w(model).synthesize(ws.to(model.device), "const", noise)


@torch.no_grad()
def ws_images(model, ws: torch.Tensor, batch: int = 64) -> np.ndarray:
    """uint8 NHWC images of ``ws``."""
    from ..imaging import media

    out = [media.to_uint8(synthesize(model, ws[i:i + batch])) for i in range(0, len(ws), batch)]
    return np.concatenate(out)


def w_avg(model, n: int = 2000, seed: int = 0) -> torch.Tensor:
    """The generator's tracked mean w [w_dim] (the mean of ``n`` samples when it never tracked one)."""
    G = require_w(model)
    avg = G.mapping.w_avg.detach().cpu()
    if not bool(avg.abs().sum() > 0):
        avg = mapped(model, model.latents(n, seed=seed))[:, 0].mean(0)
    return avg


# ------------------------------------------------------------------------------------------------ walks, mixing

def w_walk_images(model, a: torch.Tensor, b: torch.Tensor, frames: int = 48) -> np.ndarray:
    """uint8 NHWC frames along the straight line from ``ws`` ``a`` to ``b`` ([1, num_ws, w_dim] each)."""
    if frames < 2:
        raise ConfigError(f"frames must be at least 2 (the two ends), got {frames}")
    t = torch.linspace(0, 1, frames).view(-1, 1, 1)
    return ws_images(model, (1 - t) * a + t * b)


@torch.no_grad()
def mix_grid(model, rows: str | Sequence[int], cols: str | Sequence[int], crossover: int | None = None,
             psi: float = 1.0) -> np.ndarray:
    """Style mixing as a uint8 HWC grid: the top row shows the column seeds B, the left column the row seeds
    A; cell (i, j) takes the coarse layers (the first ``crossover`` ws: pose, shape) from A_i and the
    fine ones (colour, texture) from B_j. ``crossover`` defaults to half of the layers."""
    from ..imaging import media

    G = require_w(model)
    crossover = G.num_ws // 2 if crossover is None else crossover
    if not 0 < crossover < G.num_ws:
        raise ConfigError(f"crossover must be between 1 and {G.num_ws - 1} (the generator has {G.num_ws} layers)")
    wa, wb = seed_ws(model, rows, psi), seed_ws(model, cols, psi)
    cells = []
    for i in range(len(wa)):
        w = wb.clone()
        w[:, :crossover] = wa[i, :crossover]
        cells.append(w)
    ims_a, ims_b, mixed = ws_images(model, wa), ws_images(model, wb), ws_images(model, torch.cat(cells))
    blank = np.full_like(ims_a[:1], 255)
    tiles = [blank, ims_b]
    for i in range(len(wa)):
        tiles += [ims_a[i:i + 1], mixed[i * len(wb):(i + 1) * len(wb)]]
    return media.grid(np.concatenate(tiles), nrow=len(wb) + 1)


# ------------------------------------------------------------------------------------------------ inversion

@dataclass
class WLatent:
    """Inverted ``ws`` [N, num_ws, w_dim] (W inversions repeat one w), classes ``y``, scores in ``meta``."""

    ws: torch.Tensor
    y: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    noise: list | None = None


def invert_w(model, images, *, space: str = "w", steps: int = 300, lr: float = 0.05, features=None,
             feature_weight: float = 1.0, noise: bool = False, classes=None, candidates: int = 16,
             resize: bool = True, seed: int = 0, progress=None) -> WLatent:
    """Find ``ws`` whose images match ``images`` (files, arrays or a uint8 NCHW tensor).

    ``space="w"`` optimises one w per image (every layer gets it), ``"w+"`` one per layer (closer fits, less
    editable). Starts from the best of ``w_avg`` and ``candidates`` sampled ws, then Adam on pixel MSE +
    ``feature_weight`` x feature MSE (``features``: a domain feature file); with ``noise`` the per-layer
    noise maps are optimised as well (renormalised after every step, as StyleGAN's projector does). PSNR and
    SSIM of the reconstructions are in ``meta``; the reconstructions are ``.reconstruction`` (uint8 NCHW).
    """
    from ..metrics.quality import psnr, ssim

    G = require_w(model)
    if space not in ("w", "w+"):
        raise ConfigError(f"space must be w or w+ here, got {space!r}")
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        target_u8, notes = images.to(torch.uint8), []
    else:
        items = images if isinstance(images, (list, tuple)) else [images]
        loaded = [load_target(im, model, resize) for im in items]
        target_u8 = torch.cat([t for t, _ in loaded])
        notes = [n for _, ns in loaded for n in ns]
    device = model.device
    target = _to_float(target_u8).to(device)
    n = len(target)
    y = model.labels(n, classes) if model.conditional else None
    if not model.conditional and classes is not None:
        model.labels(n, classes)  # raises: not conditional
    feat = _FeatureLoss(features, model.options.channels, device) if features is not None else None
    with torch.no_grad():
        target_f = feat.embed(target) if feat else None
    G.requires_grad_(False)

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        per = (x.float() - target).pow(2).flatten(1).mean(1)
        if feat is not None:
            per = per + feature_weight * (feat.embed(x) - target_f).pow(2).mean(1)
        return per

    with torch.no_grad():  # start: the best of w_avg and sampled ws, per image
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(candidates, model.z_dim, generator=gen)
        yc = model.labels(candidates, int(y[0])) if y is not None else None
        pool = torch.cat([w_avg(model).view(1, 1, -1).expand(1, G.num_ws, -1), mapped(model, z, yc)])
        x = ws_images_float(model, pool)
        d = torch.cdist(target.flatten(1).float().cpu(), x.flatten(1)).pow(2)
        start = pool[d.argmin(1)]  # [n, num_ws, w_dim]
    w = (start[:, :1] if space == "w" else start).clone().to(device).requires_grad_(True)
    params = [w]
    noises = None
    if noise:
        gen = torch.Generator().manual_seed(seed + 1)
        noises = [torch.randn(n, 1, r, r, generator=gen).to(device).requires_grad_(True)
                  for r in G.synthesis.noise_resolutions()]
        params += noises
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        ws = w.expand(-1, G.num_ws, -1) if space == "w" else w
        loss_of(synthesize(model, ws, noises)).sum().backward()
        opt.step()
        sched.step()
        if noises is not None:
            with torch.no_grad():
                for m in noises:
                    m.sub_(m.mean(dim=[2, 3], keepdim=True)).div_(m.std(dim=[2, 3], keepdim=True) + 1e-8)
        if progress is not None:
            progress(step + 1, steps)
    ws = (w.expand(-1, G.num_ws, -1) if space == "w" else w).detach()
    with torch.no_grad():
        from ..imaging import media
        recon = torch.from_numpy(media.to_uint8(synthesize(model, ws, noises))).permute(0, 3, 1, 2)
    p = psnr(recon, target_u8.cpu()).values
    s = ssim(recon, target_u8.cpu()).values if model.options.size >= 11 else np.full(n, float("nan"))
    meta = {"space": space, "psnr": float(np.mean(p)), "ssim": float(np.nanmean(s)) if np.isfinite(s).any() else None,
            "psnr_each": [float(v) for v in p], "ssim_each": [float(v) for v in s], "steps": steps,
            "noise": bool(noise), "features": None if feat is None else feat.extractor.name, "notes": notes,
            "classes": None if y is None else [model.classes[int(c)] for c in y]}
    out = WLatent(ws.cpu(), y, meta, None if noises is None else [m.detach().cpu() for m in noises])
    out.reconstruction = recon
    return out


@torch.no_grad()
def ws_images_float(model, ws: torch.Tensor, batch: int = 64) -> torch.Tensor:
    return torch.cat([synthesize(model, ws[i:i + batch]).float().cpu() for i in range(0, len(ws), batch)])


def save_w_latent(path: str | Path, lat: WLatent, model) -> Path:
    """A small safetensors file of ``ws`` (and classes, and optimised noise maps) with the model's identity."""
    from .. import artifact

    tensors = {"ws": lat.ws.float().cpu()}
    if lat.y is not None:
        tensors["y"] = lat.y.long().cpu()
    for i, m in enumerate(lat.noise or []):
        tensors[f"noise{i}"] = m.float().cpu()
    meta = {k: v for k, v in lat.meta.items() if k != "notes"}
    return artifact.save(path, tensors, dict(meta, kind=W_LATENT_KIND, model=model_id(model)))


def is_w_latent(path: str | Path) -> bool:
    from .. import artifact

    try:
        return artifact.read_meta(path).get("kind") == W_LATENT_KIND
    except Exception:
        return False


def load_w_latent(path: str | Path, model) -> WLatent:
    path = Path(path)
    tensors, meta = read_small_file(path, W_LATENT_KIND, "W latent", "write one with 'ganforge invert --space w'")
    G = require_w(model)
    ws = tensors.get("ws")
    if ws is None or ws.ndim != 3 or tuple(ws.shape[1:]) != (G.num_ws, G.w_dim) or not torch.isfinite(ws).all():
        raise ConfigError(f"{path}: ws of shape {None if ws is None else list(ws.shape)}; this model takes "
                          f"[N, {G.num_ws}, {G.w_dim}]")
    noise = [tensors[f"noise{i}"] for i in range(len(G.synthesis.noise_resolutions())) if f"noise{i}" in tensors]
    return WLatent(ws, tensors.get("y"), meta, noise or None)


# ------------------------------------------------------------------------------------------------ directions

def _with_scale(d: Directions, ws_flat: torch.Tensor) -> Directions:
    """Record the std of ``ws_flat`` [N, w_dim] along each direction: strengths are in those units."""
    proj = (ws_flat - ws_flat.mean(0)) @ d.vectors.T
    d.meta["scale"] = [float(v) for v in proj.std(0).clamp_min(1e-6)]
    d.meta["space"] = "w"
    return d


def pca_w(model, k: int = 10, n: int = 5000, seed: int = 0) -> Directions:
    """GANSpace in W: principal components of ``n`` sampled ws (unit vectors, by explained variance)."""
    G = require_w(model)
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    w = mapped(model, model.latents(n, seed=seed))[:, 0]
    k = min(k, G.w_dim, n - 1)
    _, s, v = torch.linalg.svd(w - w.mean(0), full_matrices=False)
    var = (s[:k] ** 2 / (s ** 2).sum()).tolist()
    d = Directions([f"pc{i}" for i in range(k)], v[:k].float(),
                   {"method": "pca-w", "n": n, "seed": seed, "explained_variance": var})
    return _with_scale(d, w)


def labelled_ws(model, source: str | Path, *, steps: int = 100, limit: int | None = None, seed: int = 0,
                progress=None) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Invert every image of a labelled set (class subfolders or a file,label CSV) into W: (w [N, w_dim],
    labels [N], class names)."""
    from ..data import load_images

    data = load_images(str(source), model.options.size, channels=model.options.channels, limit=limit)
    if data.labels is None or not data.class_names or len(data.class_names) < 2:
        raise DataError(f"{source}: needs labels of at least 2 classes (class subfolders or a file,label CSV)")
    lat = invert_w(model, data.images, space="w", steps=steps, seed=seed, progress=progress)
    return lat.ws[:, 0], data.labels.numpy(), list(data.class_names)


def labelled_w_directions(model, source: str | Path, *, steps: int = 100, limit: int | None = None,
                          seed: int = 0) -> Directions:
    """InterFaceGAN in W: one linear classifier per class (one vs rest) on the inverted ws of a labelled set;
    each direction is its unit normal, towards the class."""
    w, labels, names = labelled_ws(model, source, steps=steps, limit=limit, seed=seed)
    d = supervised_directions(w, labels, names, seed=seed)
    d.meta.update(method="labelled-w", source=str(source), inversion_steps=steps)
    return _with_scale(d, mapped(model, model.latents(2000, seed=seed))[:, 0])


def age_direction(model, source: str | Path, order: Sequence[str] | None = None, *, steps: int = 100,
                  limit: int | None = None, seed: int = 0) -> Directions:
    """One direction "age" in W, from young to old: the covariance of the inverted ws with the age group's rank
    (groups weighted equally; for two groups, the difference of their mean ws). ``order``: the groups youngest
    first (default: the group names sorted as numbers when they are, else as text)."""
    w, labels, names = labelled_ws(model, source, steps=steps, limit=limit, seed=seed)
    if order is None:
        def key(s: str):
            head = s.split("-")[0].split("_")[0].lstrip("<>+")
            return (0, float(head)) if head.replace(".", "", 1).isdigit() else (1, s)
        order = sorted(names, key=key)
    unknown = set(order) ^ set(names)
    if unknown:
        raise ConfigError(f"age order {list(order)} does not match the groups {names}")
    rank = np.array([list(order).index(names[int(c)]) for c in labels], dtype=np.float64)
    # the covariance of w with the group's rank (for two groups: the difference of their means, each group
    # weighted equally): steadier than a classifier's normal with the few dozen labelled photos one has
    x = w.double()
    weight = torch.from_numpy(1.0 / np.bincount(labels)[labels])
    mean = (x * weight[:, None]).sum(0) / weight.sum()
    r = torch.from_numpy(rank)
    r = r - (r * weight).sum() / weight.sum()
    v = ((x - mean) * (r * weight)[:, None]).sum(0)
    v = (v / v.norm().clamp_min(1e-12)).float()
    d = Directions(["age"], v[None], {"method": "age-w", "groups": list(order), "source": str(source),
                                        "n": len(labels), "inversion_steps": steps})
    return _with_scale(d, mapped(model, model.latents(2000, seed=seed))[:, 0])


def apply_w(ws: torch.Tensor, d: Directions, name: str, strength: float, layers: str | None = None) -> torch.Tensor:
    """``ws`` moved ``strength`` standard deviations along direction ``name``, on every layer or on
    ``layers`` ("0-5": coarse edits only)."""
    v = d.get(name)
    scale = (d.meta.get("scale") or [1.0] * len(d.names))[d.names.index(name)]
    out = ws.clone()
    idx = slice(None)
    if layers:
        try:
            lo, _, hi = layers.partition("-")
            idx = slice(int(lo), int(hi or lo) + 1)
        except ValueError:
            raise ConfigError(f"layers: {layers!r} is not a range like 0-5") from None
    out[:, idx] = out[:, idx] + strength * scale * v.to(ws.dtype)
    return out


def is_w_directions(d: Directions) -> bool:
    return d.meta.get("space") == "w"


# ------------------------------------------------------------------------------------------------ verbs

class WSpaceVerbs:
    """W-space commands of an image generator with a mapping network: ``ganforge mix`` and ``ganforge reage``;
    and the W branches of ``invert``, ``edit`` and ``directions`` (:class:`ganforge.predict.latent.LatentVerbs`)."""

    @verb("mix", help={
        "output": "Grid image to write (png).",
        "rows": "Seeds giving the coarse styles (pose, shape), one row each, e.g. 1,2,3.",
        "cols": "Seeds giving the fine styles (colour, texture), one column each.",
        "crossover": "First layer taken from the column seed (default: half of the layers).",
        "psi": "Truncation: 1 = none, 0.7 = typical, 0 = the average image."})
    def mix(self, *, output: Path, rows: str = "1-4", cols: str = "5-8", crossover: int | None = None,
            psi: float = 1.0) -> str:
        """Style mixing: coarse styles from the row seeds, fine styles from the column seeds (needs W space)."""
        from ..imaging import media

        grid = mix_grid(self, rows, cols, crossover, psi)
        media.save_image(output, media.upscale(grid, max(1, 128 // self.options.size)))
        return f"wrote {output}"

    @verb("reage", help={
        "image": "The photo to re-age.",
        "output": "Image to write: input | reconstruction | one image per strength.",
        "data": "Images labelled by age group: class subfolders (e.g. 20s/, 40s/, 60s/) or a file,label CSV.",
        "strengths": "Strengths (std of W along the age direction), comma-separated; negative = younger.",
        "order": "Age groups youngest first, comma-separated (default: the group names sorted as numbers).",
        "space": "Inversion of the photo: w or w+ (closer, less faithful edits).",
        "steps": "Inversion steps for the photo.",
        "data_steps": "Inversion steps for each labelled image.",
        "limit": "Use at most N labelled images.",
        "direction": "Save the age direction to this file (reuse it with 'ganforge edit --direction age').",
        "seed": "Seed of the inversions."})
    def reage(self, *, image: Path, output: Path, data: str, strengths: str = "-3,-1.5,1.5,3",
              order: str | None = None, space: str = "w", steps: int = 300, data_steps: int = 100,
              limit: int | None = None, direction: Path | None = None, seed: int = 0) -> str:
        """Re-age a photo: fit an age direction in W from images labelled by age group, invert the photo and move
        it along the direction."""
        from ..imaging import media
        from .latent import save_directions

        try:
            values = [float(s) for s in strengths.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"strengths: {strengths!r} is not a comma-separated list of numbers") from None
        d = age_direction(self, data, order.split(",") if order else None, steps=data_steps, limit=limit, seed=seed)
        if direction is not None:
            save_directions(direction, d, self)
        lat = invert_w(self, image, space=space, steps=steps, seed=seed)
        ws = torch.cat([apply_w(lat.ws[:1], d, "age", s) for s in values])
        target, _ = load_target(image, self)
        row = np.concatenate([_nhwc([target, lat.reconstruction[:1]]), ws_images(self, ws)])
        media.save_image(output, media.upscale(media.grid(row, nrow=len(row)), max(1, 128 // self.options.size)))
        lines = [f"inverted into {space}: PSNR {lat.meta['psnr']:.2f} dB"
                 + (f"  SSIM {lat.meta['ssim']:.3f}" if lat.meta.get("ssim") is not None else ""),
                 f"age groups (young -> old): {', '.join(d.meta['groups'])}; strengths {', '.join(map(str, values))}"]
        if direction is not None:
            lines.append(f"wrote {direction}")
        lines.append(f"wrote {output}")
        return "\n".join(lines)

    # ---- the W branches of LatentVerbs' invert / edit / directions
    def _invert_w_verb(self, image: Path, output: Path, space: str, steps: int, features: str | None,
                       noise: bool, resize: bool, preview: Path | None, seed: int, cls: str | None) -> str:
        lat = invert_w(self, image, space=space, steps=steps, features=features, noise=noise, resize=resize,
                       seed=seed, classes=cls)
        for note in lat.meta["notes"]:
            log.warning(note)
        lat.meta["image"] = str(image)
        save_w_latent(output, lat, self)
        return inversion_report(self, lat, image, output, preview, resize, f"  ({space}{', noise' if noise else ''})")

    def _w_directions(self, method: str, k: int, n: int, data: str | None, seed: int) -> Directions:
        if method == "pca":
            return pca_w(self, k=k, n=n, seed=seed)
        if method == "labelled":
            if data is None:
                raise ConfigError("--method labelled needs --data: images in class subfolders or a file,label CSV")
            return labelled_w_directions(self, data, seed=seed)
        raise ConfigError(f"--method must be pca or labelled in W space, got {method!r}")

    def _w_directions_preview(self, d: Directions, path: Path, seed: int) -> None:
        from ..imaging import media

        strengths = [-3, -2, -1, 0, 1, 2, 3]
        ws = mapped(self, self.latents(1, seed=seed))
        rows = torch.cat([apply_w(ws, d, name, s) for name in d.names for s in strengths])
        media.save_image(path, media.upscale(media.grid(ws_images(self, rows), nrow=len(strengths)),
                                             max(1, 64 // self.options.size)))

    def _is_w_latent(self, path: Path) -> bool:
        return is_w_latent(path)

    def _edit_w(self, output: Path, image: Path | None, latent: Path | None, d: Directions | None,
                direction: str | None, strength: float, to_class: str | None, cls: str | None, steps: int,
                features: str | None, resize: bool, side_by_side: bool, layers: str | None) -> str:
        """``edit`` in W: a W latent file, or an image inverted into W, moved along a W direction."""
        from ..imaging import media
        from .latent import load_latent

        if (image is None) == (latent is None):
            raise ConfigError("give one input: --image IN.png or --latent FILE")
        if to_class is not None:
            raise ConfigError("--to-class changes the class of a z latent; W latents keep theirs (use a z latent)")
        if d is not None and d.meta.get("space") != "w":
            raise ConfigError("these directions are in z; a W latent needs W directions ('ganforge directions --space w')")
        noise = None
        if latent is not None and is_w_latent(latent):
            lat = load_w_latent(latent, self)
            ws, noise = lat.ws[:1], (None if lat.noise is None else [m[:1] for m in lat.noise])
            recon = None
        elif latent is not None:
            zl = load_latent(latent, self)
            ws, recon = mapped(self, zl.z[:1], zl.y[:1] if zl.y is not None else None), None
        else:
            lat = invert_w(self, image, space="w", steps=steps, features=features, resize=resize, classes=cls)
            for note in lat.meta["notes"]:
                log.warning(note)
            ws, recon = lat.ws[:1], lat.reconstruction[:1]
        edited = apply_w(ws, d, direction, strength, layers) if d is not None else ws
        with torch.no_grad():
            out = media.to_uint8(synthesize(self, edited, noise))
            recon_np = media.to_uint8(synthesize(self, ws, noise)) if recon is None else _nhwc([recon])
        if side_by_side:
            parts = [] if image is None else [_nhwc([load_target(image, self, resize)[0]])]
            row = np.concatenate(parts + [recon_np, out])
            media.save_image(output, media.upscale(media.grid(row, nrow=len(row)), max(1, 128 // self.options.size)))
        else:
            media.save_image(output, out[0])
        return f"wrote {output}"

    def _walk_w(self, path: Path, *, seed: int, walks: int, start: str | None, end: str | None, frames: int,
                fps: int, psi: float, space: str, condition) -> Path:
        """``walk`` with truncation or in W: a looping walk (z key points, each frame mapped with ``psi``), or a
        straight line in W between two seeds or latent files (z latents are mapped, W latents used as they are)."""
        from ..imaging import media
        from .latent import endpoint, looping_walk, write_animation

        require_w(self)
        if start is None and end is None:
            zs = looping_walk(self.z_dim, walks=walks, frames_per_key=self.options.walk_frames, seed=seed)
            y = self.labels(walks, condition) if self.conditional else None
            pics = [media.grid(ws_images(self, mapped(self, z, y, psi)), nrow=4) for z in zs]
            out, note = write_animation(path, np.stack(pics), fps=fps, upscale=max(1, 128 // self.options.size))
        else:
            if start is None or end is None:
                raise ConfigError("give both ends of the walk: --from SEED --to SEED")

            def ends(spec: str) -> torch.Tensor:
                if not str(spec).lstrip("-").isdigit() and is_w_latent(spec):
                    return load_w_latent(spec, self).ws[:1]
                e = endpoint(self, spec, condition)
                return mapped(self, e.z, None if e.y is None else torch.tensor([e.y]), psi)

            out, note = write_animation(path, w_walk_images(self, ends(start), ends(end), frames), fps=fps)
        if note:
            log.warning(note)
        return out
