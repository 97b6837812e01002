"""3-D shapes on voxel grids at 32^3 (64^3 optional), class-conditional when the data has classes.

Two methods (``--method``):

- ``lgan`` (default), a latent GAN (Achlioptas et al. 2018, "Learning representations and generative models
  for 3D point clouds"): an autoencoder of the grids (3-D convolutions, binary cross-entropy plus a soft-IoU
  term) and, trained at the same steps, a small GAN on its codes (an MLP generator and critic, R1 on real
  codes). A shape is the decoding of a generated code. The autoencoder learns the shapes' structure from a
  reconstruction loss, which converges in far fewer steps than an adversarial loss on 32^3 grids, and the GAN
  on 64 numbers covers the modes cheaply;
- ``3dgan``: a 3D-GAN (Wu et al. 2016): transposed 3-D convolutions straight to the grid, a 3-D
  convolutional discriminator.

Outputs for people: voxel ``.npy``, meshes by marching cubes (``.obj``/``.stl``/``.glb``, scikit-image +
trimesh), a preview PNG with several views from a small NumPy ray-caster (depth + normal shading), and a
latent-interpolation GIF of rotating shapes (``ganforge walk``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .. import losses
from ..imaging import media
from ..config import check_choices, option, to_dict
from ..data.voxels import load_voxels
from ..engine import AdversarialTask, Callback, Phase
from ..errors import ConfigError, GanforgeError
from ..fileio import atomic_path
from ..predict.latent import looping_walk
from ..nets import registry
from ..nets.standing import standing_stats
from ..nets.voxels import LatentCritic, LatentGenerator, VoxelAutoencoder, VoxelDiscriminator, VoxelGenerator
from ..predict.base import Model
from . import register

MESH_FORMATS = (".obj", ".stl", ".glb", ".ply", ".off")


@dataclass
class VoxelOptions:
    data: str = option("builtin:objects", "Folder of .npy grids, .binvox files or meshes (.obj .stl .off .ply; "
                       "sub-folders = classes), or builtin:objects.")
    resolution: int = option(32, "Grid side.", choices=(32, 64))
    method: str = option("lgan", "lgan: an autoencoder of the shapes and a GAN on its codes; 3dgan: a GAN on the "
                         "grids themselves.", choices=("lgan", "3dgan"), before="3dgan")
    code: int = option(64, "Code size of the lgan autoencoder.")
    latent_batch: int = option(256, "Codes per latent-GAN step (lgan), drawn from the codes of every shape seen "
                               "so far, each as the autoencoder last encoded it.")
    limit: int | None = option(None, "Use at most this many shapes.")
    conditional: bool = option(True, "Use class labels when the data has them.", aliases=(" /--unconditional",))
    z_dim: int = option(64, "Noise size.")
    width: int = option(8, "Base channel count.")
    loss: str = option("ns", "Adversarial loss.", choices=("ns", "hinge", "lsgan"))
    r1_gamma: float = option(1.0, "R1 penalty weight on real shapes (0: none).")
    r1_interval: int = option(16, "Apply the R1 penalty every N steps (lazy regularisation).")
    sample_grid: int = option(16, "Shapes in each evaluation preview.")

    def validate(self) -> None:
        check_choices(self)
        for name in ("z_dim", "width", "r1_interval", "sample_grid", "code", "latent_batch"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)}")
        if self.r1_gamma < 0:
            raise ConfigError(f"r1_gamma must not be negative, got {self.r1_gamma}")


@register("voxels")
class VoxelGeneration(AdversarialTask):
    Options = VoxelOptions
    run_defaults = {"batch": 32, "beta1": 0.9}   # beta1 0.9: the lgan autoencoder learns far faster than at 0

    def __init__(self, options: VoxelOptions, data=None, seed: int = 0, progress=None):
        options.validate()
        self.options = opt = copy.deepcopy(options)
        self.data = data if data is not None else load_voxels(opt.data, opt.resolution, opt.limit)
        self.class_names = self.data.class_names if opt.conditional and self.data.labels is not None else []
        classes = len(self.class_names)
        if opt.method == "lgan":
            self.modules = {"AE": VoxelAutoencoder(opt.width, opt.resolution, opt.code),
                            "G": LatentGenerator(opt.z_dim, opt.code, classes=classes),
                            "D": LatentCritic(opt.code, classes=classes)}
            self.phases = [Phase("AE", "AE", 1), Phase("G", "G", 1), Phase("D", "D", 1)]
        else:
            self.modules = {"G": VoxelGenerator(z_dim=opt.z_dim, width=opt.width, resolution=opt.resolution,
                                                classes=classes),
                            "D": VoxelDiscriminator(width=opt.width, resolution=opt.resolution, classes=classes)}
            self.phases = [Phase("G", "G", 1), Phase("D", "D", 1)]
        if opt.r1_gamma > 0:
            self.phases.append(Phase("D_reg", "D", opt.r1_interval))
        self._fake = None
        # lgan: every training shape's code as the autoencoder last encoded it, and whether it was encoded yet
        self.codes = torch.zeros(len(self.data), opt.code)
        self.encoded = torch.zeros(len(self.data), dtype=torch.bool)

    def learning_rates(self, lr_g: float, lr_d: float) -> dict[str, float]:
        """The autoencoder learns at 15 x lr_g (a reconstruction loss takes larger steps than an adversarial one)."""
        rates = super().learning_rates(lr_g, lr_d)
        if "AE" in rates:
            rates["AE"] = 15 * lr_g
        return rates

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, Any]:
        self._fake = None
        idx = torch.randint(len(self.data), (batch,), generator=gen)
        x = self.data.grids[idx].to(device).float().mul_(2).sub_(1)
        labels = self.data.labels[idx].to(device) if self.class_names else None
        return {"x": x, "labels": labels, "idx": idx}

    def loss(self, phase: str, batch: dict[str, Any], nets: dict[str, nn.Module], gen: torch.Generator):
        G, D, opt = nets["G"], nets["D"], self.options
        x, labels = batch["x"], batch["labels"]
        if opt.method == "lgan":
            return self._latent_loss(phase, batch, nets, gen)
        if phase == "G":
            z = torch.randn(x.shape[0], opt.z_dim, generator=gen).to(x.device)
            fake = G(z, labels)
            self._fake = fake.detach()
            return losses.g_loss(opt.loss, D(fake, labels)), {}
        if phase == "D":
            fake = self._fake
            if fake is None:
                with torch.no_grad():
                    fake = G(torch.randn(x.shape[0], opt.z_dim, generator=gen).to(x.device), labels)
            return self._critic_loss(D, x, fake.to(x.dtype), labels)
        if phase == "D_reg":
            return self._r1_loss(D, x, labels)
        raise ValueError(f"unknown phase {phase!r}")

    def _critic_loss(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, labels):
        real_logits, fake_logits = D(real, labels), D(fake, labels)
        return losses.d_loss(self.options.loss, real_logits, fake_logits), {
            "D/real": real_logits.detach().float().mean(), "D/fake": fake_logits.detach().float().mean()}

    def _r1_loss(self, D: nn.Module, real: torch.Tensor, labels):
        real = real.detach().requires_grad_(True)
        logits = D(real, labels)
        penalty = losses.r1_penalty(logits, real)
        # gamma/2 as in StyleGAN2; the engine multiplies a lazy phase's loss by its interval
        return penalty * (self.options.r1_gamma / 2) + 0 * logits.sum(), {"r1": penalty.detach()}

    def _latent_loss(self, phase: str, batch: dict[str, Any], nets: dict[str, nn.Module], gen: torch.Generator):
        AE, G, D, opt = nets["AE"], nets["G"], nets["D"], self.options
        x = batch["x"]
        if phase == "AE":
            code = AE.encode(x)
            logits = AE.decode(code)
            AE.track(code.detach())
            self.codes[batch["idx"]] = code.detach().float().cpu()
            self.encoded[batch["idx"]] = True
            target = (x > 0).to(logits.dtype)
            bce = nn.functional.binary_cross_entropy_with_logits(logits, target)
            p = torch.sigmoid(logits).flatten(1)
            t = target.flatten(1)
            soft_iou = (p * t).sum(1) / (p + t - p * t).sum(1).clamp_min(1e-6)
            with torch.no_grad():
                hard = (logits > 0).flatten(1).to(t.dtype)
                iou = (hard * t).sum(1) / (hard + t - hard * t).sum(1).clamp_min(1)
            return bce + (1 - soft_iou).mean(), {"AE/bce": bce.detach(), "AE/iou": iou.mean()}
        # the latent GAN's batch: codes of shapes encoded so far (a larger batch than the grids', at no cost)
        seen = torch.nonzero(self.encoded)[:, 0]
        pick = seen[torch.randint(len(seen), (opt.latent_batch,), generator=gen)]
        real = AE.standardise(self.codes[pick].to(x.device, x.dtype))
        labels = self.data.labels[pick].to(x.device) if self.class_names else None
        z = torch.randn(opt.latent_batch, opt.z_dim, generator=gen).to(x.device)
        if phase == "G":
            return losses.g_loss(opt.loss, D(G(z, labels), labels)), {}
        if phase == "D":
            with torch.no_grad():
                fake = G(z, labels)
            return self._critic_loss(D, real, fake, labels)
        if phase == "D_reg":
            return self._r1_loss(D, real, labels)
        raise ValueError(f"unknown phase {phase!r}")

    def state_dict(self) -> dict[str, Any]:
        return {"codes": self.codes.clone(), "encoded": self.encoded.clone()} if self.options.method == "lgan" else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.options.method == "lgan" and "codes" in state:
            self.codes.copy_(state["codes"])
            self.encoded.copy_(state["encoded"])

    def data_description(self) -> dict[str, Any]:
        return self.data.describe()

    def callbacks(self) -> list[Callback]:
        return [VoxelPreviews(self)]

    def standing(self, G: nn.Module) -> nn.Module:
        """A copy of G with batch-norm statistics measured on its own samples (classes in turn); the latent
        generator has no batch norm and is returned as it is."""
        if self.options.method == "lgan":
            return G
        z_dim, classes = self.options.z_dim, len(self.class_names)

        def inputs(batch: int, gen: torch.Generator, device: torch.device) -> tuple:
            labels = torch.arange(batch, device=device) % classes if classes else None
            return torch.randn(batch, z_dim, generator=gen).to(device), labels

        return standing_stats(G, inputs, batches=4, batch=32)

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        nets = {"G": self.standing(ema if ema is not None else raw["G"]), "D": raw["D"]}
        if "AE" in raw:
            nets["AE"] = raw["AE"]
        tensors, specs = registry.export(nets)
        return tensors, {"nets": specs, "options": to_dict(self.options), "class_names": self.class_names}


class VoxelPreviews(Callback):
    """At each evaluation: ``samples/step-NNNNNN.png``, rendered shapes from fixed latents (classes in turn)."""

    def __init__(self, task: VoxelGeneration):
        self.task = task

    def on_eval(self, state, step: int) -> None:
        opt = self.task.options
        nets = {"G": self.task.standing(state.sampling_net("G"))}
        if "AE" in self.task.modules:
            nets["AE"] = state.net("AE")
        model = VoxelModel(nets,
                           {"task": self.task.name, "options": to_dict(opt), "class_names": self.task.class_names},
                           device=str(state.device))
        media.save_image(state.run_dir / "samples" / f"step-{step:06d}.png",
                         preview_grid(model.sample(opt.sample_grid, seed=0)))

    def on_end(self, state, status: str) -> None:
        if status != "failed":
            self.on_eval(state, state.step)


# ------------------------------------------------------------------ rendering (NumPy ray casting)
def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return ry @ rx


def render(grid: np.ndarray, yaw: float = 0.6, pitch: float = -0.45, size: int = 96) -> np.ndarray:
    """A shaded view of an occupancy grid [x, y, z] (y up), uint8 (size, size): rays march through the
    grid (nearest voxel), the first hit's depth gives the normal, shaded with one light plus ambient."""
    g = np.asarray(grid, bool)
    r = g.shape[0]
    rot = _rotation(yaw, pitch)
    steps = int(r * 1.8)
    u = np.linspace(-0.75, 0.75, size)
    d = np.linspace(-0.87, 0.87, steps)
    # camera space: x right, y up, z away from the viewer; rotate into grid space ([-0.5, 0.5]^3)
    px, py, pz = np.meshgrid(u, -u, d, indexing="xy")
    pts = np.stack([px, py, pz], -1) @ rot.T
    idx = np.floor((pts + 0.5) * r).astype(np.int64)
    inside = ((idx >= 0) & (idx < r)).all(-1)
    idx = np.clip(idx, 0, r - 1)
    occ = g[idx[..., 0], idx[..., 1], idx[..., 2]] & inside
    hit = occ.any(-1)
    depth = np.where(hit, occ.argmax(-1), steps).astype(np.float32) / steps
    dy, dx = np.gradient(np.where(hit, depth, 1.0))
    normal = np.stack([-dx * size * 0.5, dy * size * 0.5, -np.ones_like(dx) * 0.9], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = np.array([-0.4, 0.6, -0.7]) / np.linalg.norm([-0.4, 0.6, -0.7])
    shade = 0.12 + 0.75 * np.clip(normal @ light, 0, 1) + 0.2 * (1 - depth)
    img = np.where(hit, np.clip(shade, 0, 1) * 235 + 10, 255)
    return img.astype(np.uint8)


def render_views(grid: np.ndarray, size: int = 96) -> np.ndarray:
    """Four views side by side (front, side, top, three-quarter), uint8 (size, 4 size + pad, 3)."""
    views = [render(grid, 0.0, 0.0, size), render(grid, np.pi / 2, 0.0, size), render(grid, 0.0, -np.pi / 2 + 1e-3, size),
             render(grid, 0.6, -0.45, size)]
    return media.grid(np.stack(views)[..., None].repeat(3, -1), nrow=4)


def preview_grid(grids: np.ndarray, size: int = 96, nrow: int | None = None) -> np.ndarray:
    """A grid of three-quarter views of several shapes, uint8 HWC."""
    views = np.stack([render(g, 0.6, -0.45, size) for g in grids])[..., None].repeat(3, -1)
    return media.grid(views, nrow=nrow)


# ------------------------------------------------------------------ files
#: blur of the occupancy before marching cubes, in voxels: small enough to keep one-voxel rods and single voxels
#: (and a box's faces exactly where they were), large enough that no level-0.5 saddle is tied exactly
MESH_SIGMA = 0.35


def to_mesh(grid: np.ndarray):
    """Marching cubes on the padded occupancy grid -> a watertight, manifold trimesh.Trimesh in voxel units
    (y up). On the raw 0/1 grid, voxels that touch only along an edge put four faces on one edge (a mesh
    that is neither watertight nor manifold); a slight Gaussian blur (:data:`MESH_SIGMA`) first removes the ties."""
    try:
        import trimesh
        from scipy.ndimage import gaussian_filter
        from skimage.measure import marching_cubes
    except ImportError:
        raise GanforgeError("meshes need trimesh and scikit-image: pip install 'ganforge[voxels]'") from None
    g = np.asarray(grid, np.float32)
    if g.max() < 0.5:
        raise GanforgeError("the shape is empty: no surface to write")
    field = gaussian_filter(np.pad(g, 2), MESH_SIGMA, truncate=2.0)
    verts, faces, _, _ = marching_cubes(field, level=0.5)
    return trimesh.Trimesh(verts - 2, faces[:, ::-1], process=True)


def save_shape(path: str | Path, grid: np.ndarray) -> Path:
    """Write one shape by extension: .npy grid, .binvox, .png views, or a mesh (.obj .stl .glb .ply .off)."""
    from ..data.voxels import write_binvox

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with atomic_path(path) as tmp:
            np.save(tmp, np.asarray(grid, bool))
    elif suffix == ".binvox":
        write_binvox(path, grid)
    elif suffix == ".png":
        media.save_image(path, render_views(grid))
    elif suffix in MESH_FORMATS:
        mesh = to_mesh(grid)
        with atomic_path(path) as tmp:
            mesh.export(tmp, file_type=suffix[1:])
    else:
        raise GanforgeError(f"{path}: write shapes as .npy, .binvox, .png or a mesh ({' '.join(MESH_FORMATS)})")
    return path


class VoxelModel(Model):
    """A trained shape generator: ``sample(n, seed=..., condition=class)`` -> bool (n, R, R, R) grids [x, y, z],
    y up."""

    Options = VoxelOptions
    sample_suffixes = (".png", ".npy", *MESH_FORMATS, ".binvox")
    condition_help = "the class of every shape (default: the classes in turn)"

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu"):
        super().__init__(nets, meta, path, device)
        self.z_dim, self.resolution = self.options.z_dim, self.options.resolution
        self.class_names: list[str] = list(meta.get("class_names") or [])
        if "AE" not in nets:
            self.options.method = "3dgan"   # files from before --method: a 3D-GAN

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        return {"G": {"class": registry.name_of(VoxelGenerator), **meta["nets"]["G"]},
                "D": {"class": registry.name_of(VoxelDiscriminator), **meta["nets"]["D"]}}



    def conditions(self) -> list[str] | None:
        return list(self.class_names) or None

    def labels_for(self, n: int, label: str | None) -> torch.Tensor | None:
        if not self.class_names:
            if label is not None:
                raise ConfigError("this model was trained without classes; drop the class")
            return None
        if label is None:
            return torch.arange(n) % len(self.class_names)
        if str(label) not in self.class_names:
            raise ConfigError(f"class {label!r} is not one of {', '.join(self.class_names)}")
        return torch.full((n,), self.class_names.index(str(label)), dtype=torch.long)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, batch: int = 64) -> np.ndarray:
        out = []
        for i in range(0, len(z), batch):
            lab = labels[i:i + batch].to(self.device) if labels is not None else None
            x = self.G(z[i:i + batch].to(self.device), lab)
            if "AE" in self.nets:           # lgan: G makes a code, the autoencoder's decoder the shape
                x = self.nets["AE"].decode_standardised(x)
            out.append(x.float().cpu().numpy() > 0)
        r = self.resolution
        return np.concatenate(out) if out else np.zeros((0, r, r, r), bool)

    def sample(self, n: int, *, seed: int = 0, condition: str | None = None) -> np.ndarray:
        """``n`` shapes of class ``condition`` (default: the classes in turn); same seed, same shapes."""
        z = torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed))
        return self.generate(z, self.labels_for(n, condition))

    def write_samples(self, result: np.ndarray, path: str | Path, *, nrow: int | None = None) -> list[Path]:
        """.png: rendered previews (four views of a single shape); .npy: the stack; a mesh or .binvox: one shape."""
        path = Path(path)
        self.check_sample_path(path)
        return self.save(result, output=path, nrow=nrow)

    def write_each(self, result: np.ndarray, folder: str | Path, *, prefix: str = "") -> list[Path]:
        """Each shape as .npy, .obj (when not empty) and a .png of four views."""
        return self.save(result, out_dir=folder, prefix=prefix)

    def preview(self, result: np.ndarray, path: str | Path) -> list[Path]:
        """A grid of rendered shapes (four views when there is one)."""
        return self.save(result, output=Path(path).with_suffix(".png"))

    @torch.no_grad()
    def features(self, grids: np.ndarray, batch: int = 64) -> np.ndarray:
        """Features of bool grids (N, R, R, R), for linear probes: the autoencoder's codes (lgan) or the
        discriminator's pooled features (3dgan)."""
        encoder = self.nets["AE"].encode if "AE" in self.nets else getattr(self.D, "features", None)
        if encoder is None:
            raise GanforgeError("this model file has no discriminator")
        out = []
        for i in range(0, len(grids), batch):
            x = torch.from_numpy(np.asarray(grids[i:i + batch], np.float32) * 2 - 1).to(self.device)
            out.append(encoder(x).float().cpu().numpy())
        return np.concatenate(out)

    def save(self, grids: np.ndarray, output: str | Path | None = None, out_dir: str | Path | None = None,
             formats: tuple[str, ...] = (".npy", ".obj", ".png"), *, nrow: int | None = None,
             prefix: str = "") -> list[Path]:
        """Write shapes: ``output`` .png (preview grid), .npy (stack) or, for one shape, a mesh/.binvox;
        ``out_dir``: each shape in every one of ``formats`` (``{prefix}shape-NNNN.obj`` ...)."""
        written: list[Path] = []
        if output is not None:
            output = Path(output)
            suffix = output.suffix.lower()
            if suffix == ".png":
                written.append(media.save_image(output, preview_grid(grids, nrow=nrow) if len(grids) > 1
                                                else render_views(grids[0])))
            elif suffix == ".npy":
                with atomic_path(output) as tmp:
                    np.save(tmp, np.asarray(grids, bool))
                written.append(output)
            elif len(grids) == 1:
                written.append(save_shape(output, grids[0]))
            else:
                raise ConfigError(f"{output}: {len(grids)} shapes go into a .png preview or a .npy stack; "
                                  "sample one shape for a mesh, or use --out-dir for one mesh per shape")
        if out_dir is not None:
            for i, g in enumerate(grids):
                for suffix in formats:
                    if suffix != ".npy" and not g.any():
                        continue
                    written.append(save_shape(Path(out_dir) / f"{prefix}shape-{i:04d}{suffix}", g))
        return written

    def walk(self, path: str | Path, *, seed: int = 0, walks: int = 4, frames_per_key: int = 12,
             **options: Any) -> Path:
        """A looping latent walk as GIF/MP4 of rotating shapes: ``walks`` walks side by side."""
        if options:
            raise ConfigError(f"a voxel model's walk is a looping walk; it takes no {', '.join(sorted(options))}")
        zs = looping_walk(self.z_dim, walks=walks, frames_per_key=frames_per_key, seed=seed)
        labels = self.labels_for(walks, None)
        frames = []
        for t, z in enumerate(zs):
            grids = self.generate(z, labels)
            yaw = 2 * np.pi * t / len(zs)
            views = np.stack([render(g, yaw, -0.45, 96) for g in grids])[..., None].repeat(3, -1)
            frames.append(media.grid(views, nrow=min(walks, 4)))
        return media.save_animation(path, frames, fps=12)


VoxelGeneration.Predictor = VoxelModel
