"""Image pairs and photo folders for image-to-image tasks, kept at their own sizes.

Three readers:
- ``read_side_by_side(folder)``: each file holds A|B side by side (the pix2pix format, e.g. facades);
- ``read_matched(a, b)``: two folders whose files match by name (stem, any image extension);
- ``read_photos(folder)``: any folder of photos (restoration tasks synthesise their inputs).

Images stay uint8 HWC numpy arrays of their own size (no square crop); training draws random crops
with :func:`crop_pair`, the same crop and flip for both sides. Problems are one-line ``DataError``s that
name the file: unmatched names, sides of different sizes, images smaller than the crop.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ganforge.data.images import is_image_name, no_images_error, skip, to_grey_or_rgb
from ganforge.data.small import warn_if_small
from ganforge.errors import DataError


def list_images(folder: str | Path) -> list[Path]:
    """Image files below ``folder`` (recursive, sorted by relative path)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        out.extend(Path(root) / f for f in files if is_image_name(f))
    if not out:
        raise DataError(f"{folder}: no image files in this folder")
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def read_image(path: str | Path, channels: int | None = 3) -> np.ndarray:
    """One image file as uint8 HWC (C = 1 or 3; ``channels`` None keeps grey images grey)."""
    path = Path(path)
    try:
        im = Image.open(path)
        im.load()
        im = ImageOps.exif_transpose(im) if im.getexif().get(0x0112, 1) not in (None, 1) else im
        im = to_grey_or_rgb(im)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except Exception as e:
        raise DataError(f"{path}: not a readable image ({str(e).splitlines()[0] if str(e) else type(e).__name__})") \
            from None
    if channels == 3 and im.mode != "RGB":
        im = im.convert("RGB")
    elif channels == 1 and im.mode != "L":
        im = im.convert("L")
    a = np.asarray(im, dtype=np.uint8)
    return a[..., None] if a.ndim == 2 else a


def _resize(a: np.ndarray, short_side: int | None) -> np.ndarray:
    """Resize so that the shorter side is ``short_side`` (bicubic); None keeps the image as it is."""
    if short_side is None:
        return a
    h, w = a.shape[:2]
    if min(h, w) == short_side:
        return a
    f = short_side / min(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    im = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)
    out = np.asarray(im.resize(size, Image.Resampling.BICUBIC), dtype=np.uint8)
    return out[..., None] if out.ndim == 2 else out


@dataclass
class ImageList:
    """Images of one side or one folder: uint8 HWC arrays of any size, with their file names."""

    images: list[np.ndarray]
    names: list[str]
    source: str = ""
    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file, reason) of files left out

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return int(self.images[0].shape[2])

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for name, a in zip(self.names, self.images):
            h.update(f"{name}:{a.shape};".encode())
            h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
        return h.hexdigest()[:16]

    def check_crop(self, crop: int) -> None:
        """One line naming the first image smaller than ``crop``."""
        for f, a in zip(self.files or self.names, self.images):
            if min(a.shape[:2]) < crop:
                raise DataError(f"{f}: image is {a.shape[1]}x{a.shape[0]}, smaller than the crop {crop}x{crop} "
                                "(use a smaller --crop, or remove the file)")


@dataclass
class PairSet:
    """Aligned pairs: ``a[i]`` and ``b[i]`` have the same height and width."""

    a: ImageList
    b: ImageList
    source: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file, reason) of files left out

    def __len__(self) -> int:
        return len(self.a)

    def describe(self) -> dict:
        return {"source": self.source, "n": len(self), "kind": "pairs",
                "fingerprint": hashlib.sha256((self.a.fingerprint() + self.b.fingerprint()).encode()).hexdigest()[:16]}

    def check_crop(self, crop: int) -> None:
        self.a.check_crop(crop)


def read_side_by_side(folder: str | Path, limit: int | None = None, load_size: int | None = None) -> PairSet:
    """A folder of A|B images: the left half of each file is A, the right half is B. Unreadable files and
    odd widths are skipped and logged (listed in ``skipped``)."""
    files = list_images(folder)
    a_list, b_list, names, used, skipped = [], [], [], [], []
    for f in files:
        if limit is not None and len(names) >= limit:
            break
        try:
            im = read_image(f)
        except DataError as e:
            skip(skipped, str(f), str(e).removeprefix(f"{f}: "))
            continue
        h, w = im.shape[:2]
        if w % 2:
            skip(skipped, str(f), f"width {w} is odd, so it cannot be split into side-by-side halves A|B")
            continue
        a_list.append(_resize(im[:, : w // 2], load_size))
        b_list.append(_resize(im[:, w // 2:], load_size))
        names.append(f.name)
        used.append(str(f))
    src = str(folder)
    if not names:
        raise no_images_error(src, skipped)
    warn_if_small(len(names), "image pairs", src)
    return PairSet(ImageList(a_list, names, src, used), ImageList(b_list, names, src, used), src, skipped)


def _by_stem(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in list_images(folder):
        key = f.relative_to(folder).with_suffix("").as_posix()
        if key in out:
            raise DataError(f"{f}: two files named {key!r} in {folder} (e.g. {out[key].name}); names must be unique")
        out[key] = f
    return out


def read_matched(a_dir: str | Path, b_dir: str | Path, limit: int | None = None,
                 load_size: int | None = None) -> PairSet:
    """Two folders whose files match by name (extension may differ); sizes must match pairwise. A file
    without a partner, an unreadable file and a pair of two sizes are skipped and logged (``skipped``)."""
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    a_files, b_files = _by_stem(a_dir), _by_stem(b_dir)
    skipped: list[tuple[str, str]] = []
    for key, f in a_files.items():
        if key not in b_files:
            skip(skipped, str(f), f"no file of the same name in {b_dir} (pairs match by name)")
    for key, f in b_files.items():
        if key not in a_files:
            skip(skipped, str(f), f"no file of the same name in {a_dir} (pairs match by name)")
    keys, a_list, b_list = [], [], []
    for key in sorted(set(a_files) & set(b_files)):
        if limit is not None and len(keys) >= limit:
            break
        try:
            a, b = read_image(a_files[key]), read_image(b_files[key])
        except DataError as e:
            bad = str(e).split(": ", 1)
            skip(skipped, bad[0], bad[-1])
            continue
        if a.shape[:2] != b.shape[:2]:
            skip(skipped, str(b_files[key]), f"size {b.shape[1]}x{b.shape[0]} differs from its pair "
                                             f"{a_files[key]} ({a.shape[1]}x{a.shape[0]})")
            continue
        keys.append(key)
        a_list.append(_resize(a, load_size))
        b_list.append(_resize(b, load_size))
    src = f"{a_dir}|{b_dir}"
    if not keys:
        raise no_images_error(src, skipped)
    warn_if_small(len(keys), "image pairs", src)
    return PairSet(ImageList(a_list, keys, str(a_dir), [str(a_files[k]) for k in keys]),
                   ImageList(b_list, keys, str(b_dir), [str(b_files[k]) for k in keys]), src, skipped)


def read_photos(folder: str | Path, limit: int | None = None, load_size: int | None = None,
                channels: int | None = 3) -> ImageList:
    """Every image below ``folder`` as it is (restoration tasks degrade them on the fly)."""
    images, used, skipped = [], [], []
    for f in list_images(folder):
        if limit is not None and len(used) >= limit:
            break
        try:
            images.append(_resize(read_image(f, channels), load_size))
        except DataError as e:
            skip(skipped, str(f), str(e).removeprefix(f"{f}: "))
            continue
        used.append(f)
    if not images:
        raise no_images_error(str(folder), skipped)
    warn_if_small(len(images), "images", str(folder))
    return ImageList(images, [f.name for f in used], str(folder), [str(f) for f in used], skipped)


def random_crop(images: list[np.ndarray], crop: int, rng: np.random.Generator, flip: bool = True
                ) -> list[np.ndarray]:
    """The same random ``crop`` x ``crop`` window (and horizontal flip) of images of one size."""
    h, w = images[0].shape[:2]
    y = int(rng.integers(0, h - crop + 1))
    x = int(rng.integers(0, w - crop + 1))
    out = [im[y:y + crop, x:x + crop] for im in images]
    if flip and rng.random() < 0.5:
        out = [im[:, ::-1] for im in out]
    return [np.ascontiguousarray(im) for im in out]


def crop_pair(a: np.ndarray, b: np.ndarray, crop: int, rng: np.random.Generator, flip: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """One random crop (and flip) applied identically to both sides of a pair."""
    ca, cb = random_crop([a, b], crop, rng, flip)
    return ca, cb


def to_tensor(batch: list[np.ndarray]):
    """uint8 HWC arrays (or float arrays on the 0..255 scale) -> float NCHW tensor in [-1, 1]."""
    import torch

    x = torch.from_numpy(np.stack(batch).astype(np.float32))
    return x.permute(0, 3, 1, 2).div_(127.5).sub_(1.0).contiguous()


__all__ = ["ImageList", "PairSet", "list_images", "read_image", "read_side_by_side", "read_matched", "read_photos",
           "random_crop", "crop_pair", "to_tensor"]
