"""Data sets for the studio: safe unpacking of uploads, validation with ganforge's own readers, summaries.

An upload is written under the workspace only: zip members are checked before anything is extracted
(absolute paths, ``..`` components, symlinks, too many members, too large in total or too highly
compressed are refused), and their real sizes are counted while extracting. Non-image files inside
an image zip are skipped and listed with the reason.
"""
from __future__ import annotations

import io
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import DataError, quote, short_reason

KINDS = ("images", "pairs", "table", "series")
BUILTINS = {"builtin:digits": "images", "builtin:shapes": "images", "builtin:sines": "series"}
PREVIEW_SIZE = 64  # side of the images the summary is read at


@dataclass
class Limits:
    upload_bytes: int = 200 * 2**20       # one upload, as sent
    unpacked_bytes: int = 1024 * 2**20    # everything a zip unpacks to
    members: int = 100_000
    ratio: float = 200.0                  # uncompressed / compressed, per member (zip bombs)


class UploadError(DataError):
    """An upload that is refused as a whole (unsafe or unreadable)."""


# ---------------------------------------------------------------------------------------------- zips
def _safe_member(name: str) -> PurePosixPath:
    if "\\" in name:
        name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadError(f"zip member {quote(name)}: absolute paths are not allowed")
    p = PurePosixPath(name)
    if any(part == ".." for part in p.parts):
        raise UploadError(f"zip member {quote(name)}: '..' in a path is not allowed (zip slip)")
    return p


def safe_extract(zip_path: Path, dest: Path, limits: Limits, keep=None) -> tuple[list[str], list[list[str]]]:
    """Extract ``zip_path`` into ``dest``; return (extracted names, [[skipped name, reason], ...]).

    ``keep(name) -> str | None`` returns None to extract a member or a reason to skip it.
    Raises UploadError, before writing anything, for an unsafe or oversized archive.
    """
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise UploadError(f"not a readable zip archive ({short_reason(e)})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.members:
            raise UploadError(f"zip has {len(infos)} members; the limit is {limits.members}")
        total = 0
        for info in infos:
            _safe_member(info.filename)
            if info.flag_bits & 0x1:
                raise UploadError(f"zip member {quote(info.filename)} is encrypted; upload an archive without a "
                                  "password")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UploadError(f"zip member {quote(info.filename)} is a symbolic link; links are not allowed")
            total += info.file_size
            if info.file_size > 2**20 and info.file_size > limits.ratio * max(info.compress_size, 1):
                raise UploadError(f"zip member {quote(info.filename)} expands {info.file_size / max(info.compress_size, 1):.0f}"
                                  f" times (limit {limits.ratio:.0f}): refused as a possible zip bomb")
        if total > limits.unpacked_bytes:
            raise UploadError(f"zip unpacks to {total / 2**20:.0f} MiB; the limit is "
                              f"{limits.unpacked_bytes / 2**20:.0f} MiB")
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        written, names, skipped = 0, [], []
        for info in infos:
            if info.is_dir():
                continue
            rel = _safe_member(info.filename)
            if any(part.startswith(".") for part in rel.parts) or "__MACOSX" in rel.parts:
                continue
            reason = keep(info.filename) if keep else None
            if reason:
                skipped.append([info.filename, reason])
                continue
            target = (root / rel).resolve()
            if root not in target.parents:
                raise UploadError(f"zip member {quote(info.filename)} would be written outside the data set folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        written += len(chunk)  # the real size, whatever the header claimed
                        if written > limits.unpacked_bytes:
                            raise UploadError(f"zip unpacks to more than {limits.unpacked_bytes / 2**20:.0f} MiB")
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
                # a damaged member (CRC, truncated data) or an unsupported compression method
                raise UploadError(f"zip member {quote(info.filename)}: cannot be unpacked ({short_reason(e)})") \
                    from None
            names.append(rel.as_posix())
    return names, skipped


# ---------------------------------------------------------------------------------------------- summaries
def _image_reason(name: str) -> str | None:
    from ..data.images import is_image_name
    return None if is_image_name(PurePosixPath(name).name) else "not an image file (by its extension)"


def _preview_grid(images: np.ndarray, path: Path) -> None:
    from ..imaging import media
    media.save_image(path, media.grid(images))


def summarize_images(source: str, folder: Path, skipped_before: list[list[str]], prefix: str = "") -> dict[str, Any]:
    from ..imaging import media
    from ..data import load_images

    data = load_images(source, PREVIEW_SIZE)
    sizes = _original_sizes(Path(source)) if not source.startswith("builtin:") else {}
    x = data.images
    _preview_grid(media.to_uint8(_spread(x, data.labels, 36).float() / 127.5 - 1), folder / "preview.png")
    skipped = list(skipped_before) + [[prefix + n, r] for n, r in data.skipped]  # named as in the upload
    return {"count": len(data), "channels": data.channels, "sizes": sizes,
            "classes": data.class_names or [], "class_counts": _class_counts(data),
            "skipped": skipped[:200], "skipped_count": len(skipped), "preview": "preview.png"}


def _spread(x, labels, n: int):
    """Up to ``n`` images for the preview, taken across the classes (or across the set)."""
    import torch
    if labels is None or len(x) <= n:
        idx = torch.linspace(0, len(x) - 1, min(n, len(x))).long()
    else:
        per = [torch.nonzero(labels == c).flatten() for c in labels.unique()]
        order = [p[i] for i in range(max(len(p) for p in per)) for p in per if i < len(p)]
        idx = torch.stack(order[:n])
    return x[idx]


def _class_counts(data) -> dict[str, int]:
    if data.class_names is None:
        return {}
    counts = np.bincount(data.labels.numpy(), minlength=len(data.class_names))
    return {name: int(c) for name, c in zip(data.class_names, counts)}


def _original_sizes(folder: Path, most: int = 500) -> dict[str, int]:
    """How many images have each original size (of the first ``most``): "WxH" -> count."""
    from PIL import Image
    from ..data.images import is_image_name

    counts: dict[str, int] = {}
    seen = 0
    for p in sorted(folder.rglob("*")):
        if seen >= most:
            break
        if p.is_file() and is_image_name(p.name):
            try:
                with Image.open(p) as im:
                    key = f"{im.width}x{im.height}"
            except Exception:
                continue
            counts[key] = counts.get(key, 0) + 1
            seen += 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:10])


def summarize_pairs(folder: Path, skipped_before: list[list[str]], preview: Path) -> dict[str, Any]:
    """A|B pairs: either side-by-side images (A left, B right) or two folders with matching file names."""
    from PIL import Image
    from ..imaging import media
    from ..data.images import decode_image, is_image_name

    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p.name))
    by_dir: dict[str, dict[str, Path]] = {}
    for p in files:
        by_dir.setdefault(p.parent.name.lower(), {})[p.stem] = p
    skipped = list(skipped_before)
    pairs: list[tuple[Image.Image, Image.Image]] = []
    layout = "side-by-side"
    a_dir = next((d for d in ("a", "input", "inputs", "source", "trainA") if d.lower() in by_dir), None)
    b_dir = next((d for d in ("b", "target", "targets", "output", "trainB") if d.lower() in by_dir), None)
    count = 0
    dirs: dict[str, str] = {}
    if a_dir and b_dir:
        layout = "two folders"
        a, b = by_dir[a_dir.lower()], by_dir[b_dir.lower()]
        dirs = {"a_dir": str(next(iter(a.values())).parent), "b_dir": str(next(iter(b.values())).parent)}
        for stem in sorted(set(a) | set(b)):
            if stem not in a or stem not in b:
                skipped.append([str((a.get(stem) or b.get(stem)).relative_to(folder)), "no partner with the same name"])
                continue
            count += 1
            if len(pairs) < 8:
                try:
                    pairs.append((decode_image(a[stem].read_bytes(), PREVIEW_SIZE),
                                  decode_image(b[stem].read_bytes(), PREVIEW_SIZE)))
                except Exception as e:
                    skipped.append([str(a[stem].relative_to(folder)), f"unreadable: {e}"])
                    count -= 1
    else:
        for p in files:
            try:
                with Image.open(p) as im:
                    im.load()
                    w, h = im.size
                    if w < 2 * h * 0.9 or w > 2 * h * 1.1:
                        skipped.append([str(p.relative_to(folder)), f"{w}x{h} is not two square halves side by side"])
                        continue
                    count += 1
                    if len(pairs) < 8:
                        buf = io.BytesIO()
                        im.crop((0, 0, w // 2, h)).save(buf, "PNG")
                        left = decode_image(buf.getvalue(), PREVIEW_SIZE)
                        buf = io.BytesIO()
                        im.crop((w // 2, 0, w, h)).save(buf, "PNG")
                        pairs.append((left, decode_image(buf.getvalue(), PREVIEW_SIZE)))
            except Exception as e:
                skipped.append([str(p.relative_to(folder)), f"unreadable: {str(e).splitlines()[0]}"])
    if count == 0:
        raise DataError("no image pairs found: expected A|B side-by-side images, or folders A/ and B/ "
                        "with files of the same names")
    tiles = []
    for a, b in pairs:
        for im in (a, b):
            arr = np.asarray(im.convert("RGB"))
            tiles.append(arr)
    media.save_image(preview, media.grid(np.stack(tiles), nrow=4))
    return {"count": count, "layout": layout, **dirs, "skipped": skipped[:200], "skipped_count": len(skipped),
            "preview": "preview.png", "classes": []}


def summarize_table(path: Path) -> dict[str, Any]:
    from ..data.tables import infer_schema, read_table

    df = read_table(path)
    schema, _ = infer_schema(df)
    head = df.head(8)
    return {"count": int(len(df)), "columns": [{"name": c.name, "kind": c.kind} for c in schema.columns],
            "head": {"columns": [str(c) for c in head.columns],
                     "rows": [[_cell(v) for v in row] for row in head.itertuples(index=False)]},
            "skipped": [], "skipped_count": 0}


def summarize_series(source: str, folder: Path | None) -> dict[str, Any]:
    from ..data.series import load_series

    d = load_series(source)
    info = d.describe()
    if folder is not None:
        from ..imaging.media import series_plot
        series_plot(d.unscale(d.x[:6].numpy()), d.lengths[:6].numpy(), folder / "preview.png")
    return {"count": info["n"], "length": info["length"], "features": info["features"], "classes": info["labels"],
            "variable_length": info["variable_length"], "skipped": [], "skipped_count": 0,
            "preview": "preview.png" if folder is not None else None}


def _cell(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    return str(v) if not isinstance(v, (int, bool)) or v is None else v


# ---------------------------------------------------------------------------------------------- entry points
def from_builtin(source: str, folder: Path) -> tuple[str, dict[str, Any]]:
    """(kind, summary) for a built-in set; ``folder`` receives the preview."""
    base = source.split("?")[0]
    if base not in BUILTINS:
        raise DataError(f"unknown built-in data set {source!r}; known: {', '.join(BUILTINS)}")
    kind = BUILTINS[base]
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "series":
        return kind, summarize_series(source if "?" in source else source + "?n=1000", folder)
    summary = summarize_images(source, folder, [])
    return kind, summary


def from_upload(upload: Path, filename: str, kind: str, folder: Path, limits: Limits) -> tuple[str, dict[str, Any]]:
    """Unpack and validate an uploaded file into ``folder``; return (data source for tasks, summary)."""
    if kind not in KINDS:
        raise DataError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    name = PurePosixPath(filename.replace("\\", "/")).name.lower()
    folder.mkdir(parents=True, exist_ok=True)
    if kind in ("images", "pairs"):
        if not name.endswith(".zip"):
            raise UploadError(f"{filename}: upload {kind} as a .zip archive")
        _, skipped = safe_extract(upload, folder / "files", limits, keep=_image_reason)
        files = _content_root(folder / "files")
        if kind == "images":
            rel = files.relative_to(folder / "files").as_posix()
            summary = summarize_images(str(files), folder, skipped, "" if rel == "." else rel + "/")
            return str(files), summary
        return str(files), summarize_pairs(files, skipped, folder / "preview.png")
    # table / series: one CSV (or TSV) file
    if not name.endswith((".csv", ".tsv")):
        raise UploadError(f"{filename}: upload a .csv file for a {kind} data set")
    _check_text(upload, filename)
    target = folder / ("data.tsv" if name.endswith(".tsv") else "data.csv")
    shutil.copyfile(upload, target)
    if kind == "table":
        return str(target), summarize_table(target)
    return str(target), summarize_series(str(target), folder)


def _content_root(folder: Path) -> Path:
    """Descend through folders that hold nothing but one folder (``pets/`` in ``pets/cats/1.png``), so that
    the class rule (first-level folders) sees the classes, as it does when reading the zip itself."""
    while True:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir():
            folder = entries[0]
        else:
            return folder


def _check_text(path: Path, filename: str) -> None:
    """A CSV is text: refuse binary files (images, zips, executables) with a clear message."""
    with open(path, "rb") as f:
        head = f.read(8192)
    if not head.strip():
        raise UploadError(f"{filename}: the file is empty")
    if b"\0" in head or head[:4] in (b"PK\x03\x04", b"\x89PNG", b"\x7fELF") or head[:3] == b"\xff\xd8\xff":
        raise UploadError(f"{filename}: not a CSV file (binary content)")
    text = head.decode("utf-8", errors="replace")
    first = text.splitlines()[0] if text.splitlines() else ""
    if not any(sep in first for sep in (",", ";", "\t", "|")):
        raise UploadError(f"{filename}: not a CSV file (no delimiter in the header line {first[:60]!r})")


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


__all__ = ["Limits", "UploadError", "KINDS", "BUILTINS", "safe_extract", "from_upload", "from_builtin", "remove"]
