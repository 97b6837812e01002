"""3-D shapes as voxel grids: .npy grids, .binvox files, meshes voxelised on load, a built-in procedural set.

Every source becomes a :class:`VoxelSet`: occupancy ``uint8 (N, R, R, R)`` indexed ``[x, y, z]`` with y up,
and optional class labels. Sources:

- a folder (searched recursively) or one file of ``.npy`` (one grid (R, R, R) or a stack (N, R, R, R); values
  > 0.5 are occupied), ``.binvox``, or meshes ``.obj .stl .off .ply`` (trimesh; centred, scaled to fit and
  filled). When the files sit in sub-folders, the sub-folder names are the class labels.
  A grid of another resolution is resampled (nearest); one that is not a cube, or holds NaN, is refused
  with one line and skipped; a mesh that is not watertight is skipped with one line.
- ``builtin:objects?n=2000&seed=0``: procedural tables, stools, cups and lamps composed of boxes,
  cylinders and spheres with random proportions, labelled by class. Same options, same shapes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .small import warn_if_small

log = logging.getLogger("ganforge.data")
MESH_SUFFIXES = (".obj", ".stl", ".off", ".ply")
VOXEL_SUFFIXES = (".npy", ".binvox", *MESH_SUFFIXES)
OBJECT_CLASSES = ("table", "stool", "cup", "lamp")


@dataclass
class VoxelSet:
    grids: torch.Tensor                    # uint8 (N, R, R, R), 1 = occupied
    source: str
    labels: torch.Tensor | None = None     # int64 (N,)
    class_names: list[str] | None = None

    def __len__(self) -> int:
        return self.grids.shape[0]

    @property
    def resolution(self) -> int:
        return self.grids.shape[1]

    def describe(self) -> dict[str, Any]:
        import hashlib

        digest = hashlib.sha256(np.packbits(self.grids[:512].numpy()).tobytes()).hexdigest()[:16]
        return {"source": self.source, "n": len(self), "resolution": self.resolution,
                "classes": self.class_names or [], "fingerprint": digest,
                "fill": round(float(self.grids.float().mean()), 4)}


# ------------------------------------------------------------------ readers
def read_binvox(path: Path) -> np.ndarray:
    """A .binvox file (run-length encoded) -> bool (d, d, d) indexed [x, y, z]."""
    raw = Path(path).read_bytes()
    try:
        lines, pos = [], 0
        while True:
            end = raw.index(b"\n", pos)
            line = raw[pos:end].decode("ascii").strip()
            pos = end + 1
            lines.append(line)
            if line == "data":
                break
        if not lines[0].startswith("#binvox"):
            raise ValueError("no '#binvox' header")
        dims = next([int(v) for v in ln.split()[1:]] for ln in lines if ln.startswith("dim"))
    except (ValueError, StopIteration, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a binvox file ({e})") from None
    data = np.frombuffer(raw[pos:], dtype=np.uint8)
    if len(data) % 2:
        raise DataError(f"{path}: binvox data truncated")
    values, counts = data[0::2], data[1::2].astype(np.int64)
    if counts.sum() != int(np.prod(dims)):
        raise DataError(f"{path}: binvox data has {counts.sum()} voxels, header says {dims}")
    # binvox order is x, z, y (y fastest): transpose to [x, y, z]
    return np.repeat(values, counts).astype(bool).reshape(dims).transpose(0, 2, 1)


def write_binvox(path: Path, grid: np.ndarray) -> None:
    """Write a cubic bool grid [x, y, z] as .binvox (used by tests and for export)."""
    from ..fileio import write_bytes

    d = grid.shape[0]
    flat = np.asarray(grid, bool).transpose(0, 2, 1).ravel().astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [len(flat)]]))
    out = bytearray(f"#binvox 1\ndim {d} {d} {d}\ntranslate 0 0 0\nscale 1\ndata\n".encode())
    for s, n in zip(starts, lengths):
        while n > 0:
            k = min(n, 255)
            out += bytes([flat[s], k])
            n -= k
    write_bytes(path, bytes(out))


def voxelise_mesh(path: Path, resolution: int) -> np.ndarray:
    """A watertight mesh -> filled bool grid [x, y, z]: centred, longest side scaled to the grid less a margin."""
    try:
        import trimesh
    except ImportError:
        raise DataError(f"{path}: reading meshes needs trimesh (pip install 'ganforge[voxels]')") from None
    try:
        mesh = trimesh.load(path, force="mesh")
    except Exception as e:
        raise DataError(f"{path}: cannot read this mesh ({str(e).splitlines()[0] if str(e) else type(e).__name__})") \
            from None
    if len(getattr(mesh, "faces", [])) == 0:
        raise DataError(f"{path}: the mesh has no faces")
    if not mesh.is_watertight:
        raise DataError(f"{path}: the mesh is not watertight (holes or open edges), so it has no inside")
    inner = resolution - 2
    lo, hi = mesh.bounds
    pitch = float((hi - lo).max()) / (inner - 1)
    grid = mesh.voxelized(pitch).fill().matrix.astype(bool)
    return place(grid, resolution)


def place(grid: np.ndarray, resolution: int) -> np.ndarray:
    """Centre a bool grid (any shape up to ``resolution``) in a cube of ``resolution``."""
    out = np.zeros((resolution,) * 3, bool)
    g = grid[tuple(slice(0, min(s, resolution)) for s in grid.shape)]
    off = [(resolution - s) // 2 for s in g.shape]
    out[off[0]:off[0] + g.shape[0], off[1]:off[1] + g.shape[1], off[2]:off[2] + g.shape[2]] = g
    return out


def resample(grid: np.ndarray, resolution: int) -> np.ndarray:
    if grid.shape[0] == resolution:
        return grid
    idx = (np.arange(resolution) * grid.shape[0] / resolution).astype(int)
    return grid[np.ix_(idx, idx, idx)]


def read_npy_grids(path: Path, resolution: int) -> list[np.ndarray]:
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or not (a.shape[1] == a.shape[2] == a.shape[3]):
        raise DataError(f"{path}: expected a cubic voxel grid (R, R, R) or a stack (N, R, R, R), got shape {a.shape}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DataError(f"{path}: the voxel grid holds NaN or infinite values")
    return [resample(g > 0.5, resolution) for g in a]


def read_shapes(path: Path, resolution: int) -> list[np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return read_npy_grids(path, resolution)
    if suffix == ".binvox":
        return [resample(read_binvox(path), resolution)]
    if suffix in MESH_SUFFIXES:
        return [voxelise_mesh(path, resolution)]
    raise DataError(f"{path}: not a voxel grid or mesh ({' '.join(VOXEL_SUFFIXES)})")


def load_voxels(source: str, resolution: int = 32, limit: int | None = None) -> VoxelSet:
    """Occupancy grids at ``resolution`` from ``source`` (see the module docstring)."""
    if source.startswith("builtin:"):
        return _builtin(source, resolution, limit)
    root = Path(source).expanduser()
    if not root.exists():
        raise DataError(f"{source}: no such file or folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VOXEL_SUFFIXES) \
        if root.is_dir() else [root]
    if not files:
        raise DataError(f"{root}: no voxel grids or meshes ({' '.join(VOXEL_SUFFIXES)}) in this folder")
    grids, classes = [], []
    for f in files:
        try:
            found = read_shapes(f, resolution)
        except DataError as e:
            if len(files) == 1:
                raise
            log.warning("%s; skipped", e)
            continue
        rel = f.relative_to(root).parts if root.is_dir() else ()
        grids += found
        classes += [rel[0] if len(rel) > 1 else None] * len(found)
        if limit is not None and len(grids) >= limit:
            break
    if not grids:
        raise DataError(f"{source}: no readable shapes")
    grids, classes = grids[:limit] if limit else grids, classes[:limit] if limit else classes
    warn_if_small(len(grids), "shapes", source)
    x = torch.from_numpy(np.stack(grids).astype(np.uint8))
    if any(c is None for c in classes) or len(set(classes)) < 2:
        return VoxelSet(x, source)
    names = sorted(set(classes))
    return VoxelSet(x, source, torch.tensor([names.index(c) for c in classes]), names)


# ------------------------------------------------------------------ built-in procedural objects
class _Canvas:
    """Add primitives to a grid in continuous coordinates [0, 1]^3 (voxel centres), y up."""

    def __init__(self, r: int):
        c = (np.arange(r) + 0.5) / r
        self.x, self.y, self.z = np.meshgrid(c, c, c, indexing="ij")
        self.grid = np.zeros((r, r, r), bool)

    def box(self, cx, cy, cz, hx, hy, hz):
        self.grid |= (abs(self.x - cx) <= hx) & (abs(self.y - cy) <= hy) & (abs(self.z - cz) <= hz)

    def cylinder(self, cx, cz, y0, y1, radius, inner: float = 0.0):
        d = (self.x - cx) ** 2 + (self.z - cz) ** 2
        self.grid |= (d <= radius ** 2) & (d >= inner ** 2) & (self.y >= y0) & (self.y <= y1)

    def sphere(self, cx, cy, cz, radius):
        self.grid |= (self.x - cx) ** 2 + (self.y - cy) ** 2 + (self.z - cz) ** 2 <= radius ** 2

    def cone(self, cx, cz, y0, y1, r0, r1):
        t = np.clip((self.y - y0) / max(y1 - y0, 1e-6), 0, 1)
        d = (self.x - cx) ** 2 + (self.z - cz) ** 2
        self.grid |= (d <= (r0 + (r1 - r0) * t) ** 2) & (self.y >= y0) & (self.y <= y1)


def make_object(kind: str, rng: np.random.Generator, r: int = 32) -> np.ndarray:
    """One procedural shape of class ``kind`` (table, stool, cup, lamp) with random proportions."""
    u = rng.uniform
    c = _Canvas(r)
    m = 1.5 / r  # keep one voxel free at the borders
    if kind == "table":
        hx, hz, h = u(0.3, 0.45), u(0.2, 0.45), u(0.35, 0.7)
        top = u(0.03, 0.06)
        c.box(0.5, m + h, 0.5, hx, top, hz)
        leg = u(0.025, 0.05)
        for sx in (-1, 1):
            for sz in (-1, 1):
                c.box(0.5 + sx * (hx - leg), m + h / 2, 0.5 + sz * (hz - leg), leg, h / 2, leg)
    elif kind == "stool":
        rad, h = u(0.15, 0.3), u(0.35, 0.65)
        seat = u(0.03, 0.06)
        c.cylinder(0.5, 0.5, m + h - seat, m + h + seat, rad)
        legs = int(rng.integers(3, 5))
        leg = u(0.025, 0.045)
        for i in range(legs):
            a = 2 * np.pi * i / legs + u(0, np.pi)
            c.box(0.5 + 0.75 * rad * np.cos(a), m + h / 2, 0.5 + 0.75 * rad * np.sin(a), leg, h / 2, leg)
        if rng.random() < 0.5:   # a back rest: chair-like
            c.box(0.5, m + h + u(0.15, 0.25), 0.5 - 0.8 * rad, rad * 0.8, u(0.1, 0.2), 0.03)
    elif kind == "cup":
        rad, h = u(0.2, 0.35), u(0.3, 0.7)
        wall = u(0.05, 0.08)
        c.cylinder(0.5, 0.5, m, m + h, rad, rad - wall)
        c.cylinder(0.5, 0.5, m, m + wall, rad)
        if rng.random() < 0.7:   # a handle
            hr = u(0.08, 0.14)
            handle = _Canvas(r)
            handle.cylinder(0.5 + rad + hr * 0.6, 0.5, m + h * 0.3, m + h * 0.75, 0.05)
            c.grid |= handle.grid
            c.box(0.5 + rad + hr * 0.3, m + h * 0.75, 0.5, hr * 0.4, 0.03, 0.04)
            c.box(0.5 + rad + hr * 0.3, m + h * 0.3, 0.5, hr * 0.4, 0.03, 0.04)
    elif kind == "lamp":
        base, h = u(0.12, 0.25), u(0.5, 0.75)
        c.cylinder(0.5, 0.5, m, m + u(0.03, 0.06), base)
        c.cylinder(0.5, 0.5, m, m + h, u(0.025, 0.045))
        if rng.random() < 0.5:
            c.cone(0.5, 0.5, m + h - 0.05, m + h + u(0.12, 0.22), u(0.15, 0.28), u(0.06, 0.12))
        else:
            c.sphere(0.5, m + h + 0.08, 0.5, u(0.1, 0.17))
    else:
        raise ValueError(kind)
    return c.grid


def objects(n: int, seed: int = 0, r: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``n`` procedural shapes (classes in turn) and their class indices into OBJECT_CLASSES."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(OBJECT_CLASSES)
    grids = np.stack([make_object(OBJECT_CLASSES[k], rng, r) for k in labels]) if n else np.zeros((0, r, r, r), bool)
    return grids, labels


def _builtin(source: str, resolution: int, limit: int | None) -> VoxelSet:
    from .builtin import _int_option, _no_other_options, parse

    name, options = parse(source)
    if name != "objects":
        raise DataError(f"unknown built-in voxel set {source!r} (available: builtin:objects)")
    n = _int_option(source, options, "n", 2000, 1)
    seed = _int_option(source, options, "seed", 0, 0)
    _no_other_options(source, options)
    grids, labels = objects(min(n, limit or n), seed, resolution)
    return VoxelSet(torch.from_numpy(grids.astype(np.uint8)), source, torch.from_numpy(labels).long(),
                    list(OBJECT_CLASSES))
