"""3-D shapes: a 3D-GAN (transposed 3-D convolutions) on voxel grids at 32^3 (64^3 optional), class-conditional
when the data has classes.

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
from ..nets.voxels import VoxelDiscriminator, VoxelGenerator
from ..predict.base import Model
from . import register

MESH_FORMATS = (".obj", ".stl", ".glb", ".ply", ".off")


@dataclass
class VoxelOptions:
    data: str = option("builtin:objects", "Folder of .npy grids, .binvox files or meshes (.obj .stl .off .ply; "
                       "sub-folders = classes), or builtin:objects.")
    resolution: int = option(32, "Grid side.", choices=(32, 64))
    limit: int | None = option(None, "Use at most this many shapes.")
    conditional: bool = option(True, "Use class labels when the data has them.", aliases=(" /--unconditional",))
    z_dim: int = option(64, "Noise size.")
    width: int = option(16, "Base channel count.")
    loss: str = option("ns", "Adversarial loss.", choices=("ns", "hinge", "lsgan"))
    r1_gamma: float = option(1.0, "R1 penalty weight on real shapes (0: none).")
    r1_interval: int = option(16, "Apply the R1 penalty every N steps (lazy regularisation).")
    sample_grid: int = option(16, "Shapes in each evaluation preview.")

    def validate(self) -> None:
        check_choices(self)
        for name in ("z_dim", "width", "r1_interval", "sample_grid"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)}")
        if self.r1_gamma < 0:
            raise ConfigError(f"r1_gamma must not be negative, got {self.r1_gamma}")


@register("voxels")
class VoxelGeneration(AdversarialTask):
    Options = VoxelOptions
    run_defaults = {"batch": 32}   # what the CLI's `train voxels` used

    def __init__(self, options: VoxelOptions, data=None, seed: int = 0, progress=None):
        options.validate()
        self.options = opt = copy.deepcopy(options)
        self.data = data if data is not None else load_voxels(opt.data, opt.resolution, opt.limit)
        self.class_names = self.data.class_names if opt.conditional and self.data.labels is not None else []
        classes = len(self.class_names)
        self.g_kwargs = dict(z_dim=opt.z_dim, width=opt.width, resolution=opt.resolution, classes=classes)
        self.d_kwargs = dict(width=opt.width, resolution=opt.resolution, classes=classes)
        self.modules = {"G": VoxelGenerator(**self.g_kwargs), "D": VoxelDiscriminator(**self.d_kwargs)}
        self.phases = [Phase("G", "G", 1), Phase("D", "D", 1)]
        if opt.r1_gamma > 0:
            self.phases.append(Phase("D_reg", "D", opt.r1_interval))
        self._fake = None

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, Any]:
        self._fake = None
        idx = torch.randint(len(self.data), (batch,), generator=gen)
        x = self.data.grids[idx].to(device).float().mul_(2).sub_(1)
        labels = self.data.labels[idx].to(device) if self.class_names else None
        return {"x": x, "labels": labels}

    def loss(self, phase: str, batch: dict[str, Any], nets: dict[str, nn.Module], gen: torch.Generator):
        G, D, opt = nets["G"], nets["D"], self.options
        x, labels = batch["x"], batch["labels"]
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
            real_logits, fake_logits = D(x, labels), D(fake.to(x.dtype), labels)
            return losses.d_loss(opt.loss, real_logits, fake_logits), {
                "D/real": real_logits.detach().float().mean(), "D/fake": fake_logits.detach().float().mean()}
        if phase == "D_reg":
            real = x.detach().requires_grad_(True)
            logits = D(real, labels)
            penalty = losses.r1_penalty(logits, real)
            # gamma/2 as in StyleGAN2; the engine multiplies a lazy phase's loss by its interval
            return penalty * (opt.r1_gamma / 2) + 0 * logits.sum(), {"r1": penalty.detach()}
        raise ValueError(f"unknown phase {phase!r}")

    def data_description(self) -> dict[str, Any]:
        return self.data.describe()

    def callbacks(self) -> list[Callback]:
        return [VoxelPreviews(self)]

    def standing(self, G: nn.Module) -> nn.Module:
        """A copy of G with batch-norm statistics measured on its own samples (classes in turn)."""
        z_dim, classes = self.options.z_dim, len(self.class_names)

        def inputs(batch: int, gen: torch.Generator, device: torch.device) -> tuple:
            labels = torch.arange(batch, device=device) % classes if classes else None
            return torch.randn(batch, z_dim, generator=gen).to(device), labels

        return standing_stats(G, inputs, batches=4, batch=32)

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        tensors, specs = registry.export({"G": self.standing(ema if ema is not None else raw["G"]), "D": raw["D"]})
        return tensors, {"nets": specs, "options": to_dict(self.options), "class_names": self.class_names}


class VoxelPreviews(Callback):
    """At each evaluation: ``samples/step-NNNNNN.png``, rendered shapes from fixed latents (classes in turn)."""

    def __init__(self, task: VoxelGeneration):
        self.task = task

    def on_eval(self, state, step: int) -> None:
        opt = self.task.options
        model = VoxelModel({"G": self.task.standing(state.sampling_net("G"))},
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
            out.append((self.G(z[i:i + batch].to(self.device), lab).float().cpu().numpy() > 0))
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
        """The discriminator's pooled features of bool grids (N, R, R, R), for linear probes."""
        if self.D is None:
            raise GanforgeError("this model file has no discriminator")
        out = []
        for i in range(0, len(grids), batch):
            x = torch.from_numpy(np.asarray(grids[i:i + batch], np.float32) * 2 - 1).to(self.device)
            out.append(self.D.features(x).float().cpu().numpy())
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
