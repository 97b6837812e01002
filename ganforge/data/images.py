"""Image files: decode and normalise one image; read folders, zip and tar archives of them.

Every image becomes grey ("L") or colour ("RGB") 8-bit, centre-cropped to a square and resized to
``size`` x ``size``. Unreadable files are skipped, logged once and listed in ``ImageSet.skipped``.
"""
from __future__ import annotations

import io
import logging
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps

from ganforge.data.imageset import ImageSet
from ganforge.errors import DataError

log = logging.getLogger("ganforge.data")

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff", ".gif"}
)
_EXIF_ORIENTATION = 0x0112
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})

Progress = Callable[[int, int], None]


class Unreadable(Exception):
    """One item cannot be used; the message is the short reason recorded in ``skipped``."""


def is_image_name(name: str) -> bool:
    """True for a file name with an image extension (any case) that is not hidden or OS clutter."""
    parts = PurePosixPath(name).parts
    if not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return PurePosixPath(parts[-1]).suffix.lower() in IMAGE_EXTENSIONS


# ----------------------------------------------------------------------------------------------
# One image


def _on_white(im: Image.Image, mode: str) -> Image.Image:
    """Composite an image with alpha on a white background, returning ``mode`` ("L" or "RGB")."""
    rgba_like = "LA" if mode == "L" else "RGBA"
    im = im.convert(rgba_like)
    out = Image.new(mode, im.size, 255 if mode == "L" else (255, 255, 255))
    out.paste(im.convert(mode), mask=im.getchannel("A"))
    return out


def _grey_palette(im: Image.Image) -> bool:
    pal = im.getpalette()
    if not pal:
        return True
    rgb = np.asarray(pal, dtype=np.uint8).reshape(-1, 3)
    return bool((rgb[:, 0] == rgb[:, 1]).all() and (rgb[:, 1] == rgb[:, 2]).all())


def to_grey_or_rgb(im: Image.Image) -> Image.Image:
    """Return ``im`` as 8-bit "L" (grey sources) or "RGB" (everything else).

    Alpha is composited on white; 16-bit and 32-bit integer grey is scaled by 1/257 (65535 -> 255);
    float grey is read as [0, 1] when its maximum is <= 1, else as [0, 255].
    """
    mode = im.mode
    if mode in ("L", "RGB"):
        return im
    if mode == "1":
        return im.convert("L")
    if mode in _SIXTEEN_BIT:
        a = np.clip(np.asarray(im), 0, 65535).astype(np.uint32)
        return Image.fromarray(((a + 128) // 257).astype(np.uint8), "L")
    if mode == "F":
        a = np.asarray(im, dtype=np.float32)
        if not np.isfinite(a).all():
            raise Unreadable("float image with NaN or infinite values")
        if a.size and a.max() <= 1.0:
            a = a * 255.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    if mode in ("P", "PA"):
        grey = _grey_palette(im)
        target = "L" if grey else "RGB"
        if mode == "PA" or "transparency" in im.info:
            return _on_white(im.convert("RGBA"), target)
        return im.convert(target)
    if mode in ("LA", "La"):
        return _on_white(im, "L")
    if mode in ("RGBA", "RGBa"):
        return _on_white(im, "RGB")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...


def fit_square(im: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square and resize to ``size`` x ``size``.

    Shrinking uses Lanczos (after a box reduction for large factors), enlarging uses bicubic;
    an image already of the right size is returned untouched.
    """
    w, h = im.size
    if w == h == size:
        return im
    m = min(w, h)
    left, top = (w - m) // 2, (h - m) // 2
    box = (left, top, left + m, top + m)
    if m == size:
        return im.crop(box)
    if m > size:
        return im.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return im.resize((size, size), Image.Resampling.BICUBIC, box=box)


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def decode_image(data: bytes, size: int, channels: int | None = None) -> Image.Image:
    """Decode encoded image bytes into a ``size`` x ``size`` "L" or "RGB" image.

    With ``channels`` None the image keeps its own kind (grey or colour); 1 or 3 forces one.
    Raises ``Unreadable`` with a short reason for anything that cannot be used.
    """
    if not data:
        raise Unreadable("empty file")
    try:
        im = Image.open(io.BytesIO(data))
        if im.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the target is that much smaller.
            im.draft("L" if channels == 1 else im.mode, (size, size))
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
        im.load()
        if orientation not in (None, 1):
            im = ImageOps.exif_transpose(im)
        im = to_grey_or_rgb(im)
        if channels == 1 and im.mode != "L":
            im = im.convert("L")
        im = fit_square(im, size)
        if channels == 3 and im.mode != "RGB":
            im = im.convert("RGB")
        return im
    except Unreadable:
        raise
    except Image.UnidentifiedImageError:
        raise Unreadable("not a recognised image file") from None
    except Image.DecompressionBombError as e:
        raise Unreadable(f"image too large: {_short(e)}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise Unreadable(f"corrupt or truncated image: {_short(e)}") from None
    except Exception as e:  # a decoder can fail in many ways; one bad file must not stop the run
        raise Unreadable(f"cannot decode: {type(e).__name__}: {_short(e)}") from None


# ----------------------------------------------------------------------------------------------
# Many images


def skip(skipped: list[tuple[str, str]], name: str, reason: str) -> None:
    """Record one unreadable item and log it (once, here)."""
    skipped.append((name, reason))
    log.warning("skipped %s: %s", name, reason)


def no_images_error(source: str, skipped: Sequence[tuple[str, str]]) -> DataError:
    """The one-line error for a source where nothing could be read."""
    shown = "; ".join(f"{n}: {r}" for n, r in skipped[:3])
    more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    plural = "file" if len(skipped) == 1 else "files"
    return DataError(f"no readable images in {source} ({len(skipped)} {plural} skipped: {shown}{more})")


def class_labels(names: Sequence[str], strip_common_root: bool) -> tuple[list[int] | None, list[str] | None]:
    """Labels from folder names: when every image lies below a first-level folder and there are at
    least two such folders, the sorted folder names are the classes.

    With ``strip_common_root`` (archives), leading folders shared by every name are ignored first.
    """
    parts = [PurePosixPath(n).parts for n in names]
    if strip_common_root:
        while parts and all(len(p) >= 2 for p in parts) and len({p[0] for p in parts}) == 1:
            parts = [p[1:] for p in parts]
    if not parts or any(len(p) < 2 for p in parts):
        return None, None
    classes = sorted({p[0] for p in parts})
    if len(classes) < 2:
        return None, None
    index = {c: i for i, c in enumerate(classes)}
    return [index[p[0]] for p in parts], classes


def decode_many(
    names: Sequence[str],
    read: Callable[[int], bytes],
    size: int,
    channels: int | None,
    limit: int | None,
    progress: Progress | None,
    skipped: list[tuple[str, str]],
    sample_seed: int | None = None,
) -> tuple[torch.Tensor, list[int]]:
    """Decode items ``read(0..len(names)-1)`` into one uint8 NCHW tensor.

    Returns the tensor and the indices of the items kept (at most ``limit``: the first ones, or with
    ``sample_seed`` a seeded random choice, kept in their original order); failures go to ``skipped``.
    With ``channels`` None the output is grey until the first colour image appears.
    """
    n = len(names)
    order = range(n) if sample_seed is None or limit is None else np.random.default_rng(sample_seed).permutation(n)
    want = n if limit is None else min(limit, n)
    total = want
    step = max(1, total // 100)
    buf = np.empty((want, size, size, channels or 1), dtype=np.uint8)
    kept: list[int] = []
    for count, i in enumerate(order):
        i = int(i)
        if len(kept) >= want:
            break
        try:
            try:
                data = read(i)
            except Exception as e:  # unreadable member or file: permissions, CRC error, ...
                raise Unreadable(f"cannot read: {_short(e)}") from None
            im = decode_image(data, size, channels)
        except Unreadable as e:
            skip(skipped, names[i], str(e))
        else:
            if im.mode == "RGB" and buf.shape[3] == 1:
                wider = np.empty((want, size, size, 3), dtype=np.uint8)
                wider[: len(kept)] = buf[: len(kept)]  # grey so far: repeat into R, G and B
                buf = wider
            elif im.mode == "L" and buf.shape[3] == 3:
                im = im.convert("RGB")
            buf[len(kept)] = np.frombuffer(im.tobytes(), dtype=np.uint8).reshape(size, size, -1)
            kept.append(i)
        if progress is not None and (count + 1) % step == 0:
            progress(min(count + 1, total), total)
    if progress is not None:
        progress(total, total)
    if len(kept) < want:
        buf = buf[: len(kept)].copy()  # do not keep the unused tail alive
    if order is not range(n) and kept:
        by_index = np.argsort(kept)
        buf, kept = buf[by_index], [kept[j] for j in by_index]
    return torch.from_numpy(buf).permute(0, 3, 1, 2).contiguous(), kept


def _image_set(
    source: str,
    names: Sequence[str],
    read: Callable[[int], bytes],
    size: int,
    channels: int | None,
    limit: int | None,
    progress: Progress | None,
    strip_common_root: bool,
    skipped: list[tuple[str, str]] | None = None,
    sample_seed: int | None = None,
) -> ImageSet:
    labels, classes = class_labels(names, strip_common_root)
    skipped = [] if skipped is None else skipped
    images, kept = decode_many(names, read, size, channels, limit, progress, skipped, sample_seed)
    if not kept:
        raise no_images_error(source, skipped)
    y = None if labels is None else torch.tensor([labels[i] for i in kept], dtype=torch.int64)
    return ImageSet(images, y, classes, source, skipped)


def _no_files_error(source: str, what: str) -> DataError:
    exts = ", ".join(sorted(IMAGE_EXTENSIONS))
    return DataError(f"no image files in {what} {source} (looked for {exts})")


def read_folder(
    source: str, path: Path, size: int, channels: int | None, limit: int | None, progress: Progress | None,
    sample_seed: int | None = None,
) -> ImageSet:
    """Every image file below ``path`` (recursive, sorted by relative path)."""
    names: list[str] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__MACOSX"]
        rel = Path(root).relative_to(path)
        names.extend((rel / f).as_posix() for f in files if is_image_name(f))
    names = sorted(n[2:] if n.startswith("./") else n for n in names)
    if not names:
        raise _no_files_error(source, "folder")
    return _image_set(
        source, names, lambda i: (path / names[i]).read_bytes(), size, channels, limit, progress, False,
        sample_seed=sample_seed,
    )


def read_image_file(
    source: str, path: Path, size: int, channels: int | None, progress: Progress | None
) -> ImageSet:
    """A single image file as a set of one."""
    return _image_set(source, [path.name], lambda i: path.read_bytes(), size, channels, None, progress, False)


def read_zip(
    source: str, path: Path, size: int, channels: int | None, limit: int | None, progress: Progress | None,
    sample_seed: int | None = None,
) -> ImageSet:
    """Image members of a zip archive, read in memory; a common root folder is ignored for labels."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"cannot open zip archive {source}: {_short(e)}") from None
    with zf:
        infos = sorted((i for i in zf.infolist() if not i.is_dir() and is_image_name(i.filename)),
                       key=lambda i: i.filename)
        if not infos:
            raise _no_files_error(source, "zip archive")
        names = [i.filename for i in infos]
        return _image_set(source, names, lambda i: zf.read(infos[i]), size, channels, limit, progress, True,
                          sample_seed=sample_seed)


_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def _member_name(name: str) -> str:
    parts = [p for p in PurePosixPath(name).parts if p not in ("/", ".")]
    return "/".join(parts)


def read_tar(
    source: str, path: Path, size: int, channels: int | None, limit: int | None, progress: Progress | None,
    sample_seed: int | None = None,
) -> ImageSet:
    """Image members of a tar archive (plain, gz, bz2 or xz), read in memory.

    A plain tar is read member by member; a compressed one is streamed once (it cannot seek cheaply)
    and its image members are held as encoded bytes until decoded.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(6)
        if head.startswith(_COMPRESSED_MAGIC):
            blobs: dict[str, bytes] = {}
            skipped: list[tuple[str, str]] = []
            with tarfile.open(path, "r|*") as tf:
                try:
                    for m in tf:
                        name = _member_name(m.name)
                        if m.isfile() and is_image_name(name):
                            fo = tf.extractfile(m)
                            blobs[name] = fo.read() if fo is not None else b""
                except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
                    if not blobs:
                        raise
                    # A truncated archive: keep the members read before the damage.
                    skip(skipped, path.name, f"archive damaged after {len(blobs)} images: {_short(e)}")
            names = sorted(blobs)
            if not names:
                raise _no_files_error(source, "tar archive")
            return _image_set(
                source, names, lambda i: blobs[names[i]], size, channels, limit, progress, True, skipped,
                sample_seed=sample_seed,
            )
        with tarfile.open(path, "r:") as tf:
            members = {}
            for m in tf.getmembers():
                name = _member_name(m.name)
                if m.isfile() and is_image_name(name):
                    members[name] = m
            names = sorted(members)
            if not names:
                raise _no_files_error(source, "tar archive")

            def read(i: int) -> bytes:
                fo = tf.extractfile(members[names[i]])
                return fo.read() if fo is not None else b""

            return _image_set(source, names, read, size, channels, limit, progress, True, sample_seed=sample_seed)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"cannot read tar archive {source}: {_short(e)}") from None
