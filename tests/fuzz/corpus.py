"""Hostile data inputs, written at test time (no binary files are committed).

Every writer takes an empty folder and returns the path a reader or command is given (a file or a
folder). ``CASES[kind]`` maps a case name to its writer; kinds: images (single files), image_sets
(folders and archives), tables, series, videos, meshes, captions, masks. ``OUTSIDE`` names the files an
archive tries to write outside its folder (checked by the tests).
"""
from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

Writer = Callable[[Path], Path]
CASES: dict[str, dict[str, Writer]] = {}
OUTSIDE = "fuzz-escaped.png"  # an archive member that tries to land next to (not in) its folder


def case(kind: str, name: str | None = None):
    def register(fn: Writer) -> Writer:
        CASES.setdefault(kind, {})[name or fn.__name__] = fn
        return fn
    return register


# ------------------------------------------------------------------------------------------ bytes
def png(size=(8, 8), mode="RGB", seed=0, **save) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode in ("L", "P") else (size[1], size[0], len(mode))
    im = Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode if mode != "P" else "L")
    if mode == "P":
        im = im.convert("P")
    buf = io.BytesIO()
    im.save(buf, "PNG", **save)
    return buf.getvalue()


def jpeg(size=(8, 8), mode="RGB", exif: bytes | None = None) -> bytes:
    im = Image.new(mode, size, (10, 200, 30, 0)[: len(mode)] if mode != "L" else 90)
    buf = io.BytesIO()
    im.save(buf, "JPEG", **({"exif": exif} if exif else {}))
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(side: int = 100_000) -> bytes:
    """A valid PNG header declaring side x side pixels (10^10: a decompression bomb), with a tiny body."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + \
        _chunk(b"IEND", b"")


def _write(folder: Path, name: str | bytes, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(name, bytes):
        p = os.path.join(os.fsencode(folder), name)
        with open(p, "wb") as f:
            f.write(data)
        return Path(os.fsdecode(p))
    p = folder / name
    p.write_bytes(data)
    return p


def _exif(orientation: int) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


# ------------------------------------------------------------------------------------------ one image file
@case("images")
def truncated_png(d): return _write(d, "t.png", png((32, 32))[:60])
@case("images")
def zero_byte_png(d): return _write(d, "z.png", b"")
@case("images")
def random_bytes_png(d): return _write(d, "r.png", np.random.default_rng(1).bytes(500))
@case("images")
def jpeg_named_png(d): return _write(d, "j.png", jpeg())
@case("images")
def png_named_jpg(d): return _write(d, "p.jpg", png())
@case("images")
def bomb_header_png(d): return _write(d, "bomb.png", bomb_png())
@case("images")
def zero_dimension_png(d): return _write(d, "zero.png", bomb_png(0))
@case("images")
def one_pixel_png(d): return _write(d, "one.png", png((1, 1)))
@case("images")
def one_by_thousand_png(d): return _write(d, "strip.png", png((1000, 1)))
@case("images")
def sixteen_bit_png(d):
    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).save(buf, "PNG")
    return _write(d, "deep.png", buf.getvalue())
@case("images")
def palette_transparency_png(d): return _write(d, "pal.png", png((8, 8), "P", transparency=0))
@case("images")
def cmyk_jpeg(d): return _write(d, "cmyk.jpg", jpeg(mode="CMYK"))
@case("images")
def animated_gif(d):
    frames = [Image.new("P", (8, 8), i) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return _write(d, "anim.gif", buf.getvalue())
@case("images")
def exif_rotated_jpeg(d): return _write(d, "rot.jpg", jpeg((8, 4), exif=_exif(6)))
@case("images")
def exif_bad_orientation_jpeg(d): return _write(d, "badrot.jpg", jpeg((8, 4), exif=_exif(77)))
@case("images")
def exif_garbage_jpeg(d):
    data = jpeg()
    app1 = b"Exif\0\0" + b"MM\0*\0\0\0\x08\xff\xff" + os.urandom(0) + b"\x00" * 30
    return _write(d, "exif.jpg", data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])
@case("images")
def text_named_png(d): return _write(d, "notes.png", b"hello, world\n" * 10)


# ------------------------------------------------------------------------------------------ image sets
def _good(d: Path, n: int = 3) -> None:
    for i in range(n):
        _write(d, f"good{i}.png", png((12, 12), seed=i))


@case("image_sets")
def folder_one_image(d):
    _good(d / "set", 1)
    return d / "set"
@case("image_sets")
def folder_all_bad(d):
    for name, w in CASES["images"].items():
        if name not in ("one_pixel_png", "sixteen_bit_png", "palette_transparency_png", "cmyk_jpeg", "animated_gif",
                        "exif_rotated_jpeg", "exif_bad_orientation_jpeg", "png_named_jpg", "jpeg_named_png",
                        "one_by_thousand_png", "exif_garbage_jpeg"):
            w(d / "set")
    return d / "set"
@case("image_sets")
def folder_non_utf8_name(d):
    _good(d / "set", 2)
    _write(d / "set", b"caf\xe9-\xff.png", png(seed=7))
    return d / "set"
@case("image_sets")
def folder_symlink_loop(d):
    _good(d / "set" / "sub", 2)
    os.symlink("..", d / "set" / "sub" / "loop")
    os.symlink("loop2", d / "set" / "loop1")
    os.symlink("loop1", d / "set" / "loop2")
    return d / "set"
@case("image_sets")
def folder_empty(d):
    (d / "set").mkdir(parents=True)
    return d / "set"


def _zip(d: Path, name: str, members: list[tuple[str | zipfile.ZipInfo, bytes]], method=zipfile.ZIP_DEFLATED) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(d / name, "w", method) as zf:
        for m, data in members:
            zf.writestr(m, data)
    return d / name


def _tar(d: Path, name: str, members: list[tuple[tarfile.TarInfo, bytes | None]], mode="w") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    with tarfile.open(d / name, mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return d / name


def _goods(n=3) -> list[tuple[str, bytes]]:
    return [(f"pets/good{i}.png", png((12, 12), seed=i)) for i in range(n)]


@case("image_sets")
def zip_traversal(d): return _zip(d / "in", "slip.zip", _goods() + [(f"../../{OUTSIDE}", png())])
@case("image_sets")
def zip_absolute(d): return _zip(d / "in", "abs.zip", _goods() + [(str(d / OUTSIDE), png())])
@case("image_sets")
def zip_symlink_member(d):
    info = zipfile.ZipInfo("pets/link.png")
    info.external_attr = (0o120777 << 16)
    return _zip(d / "in", "link.zip", _goods() + [(info, b"/etc/passwd")])
@case("image_sets")
def zip_ratio_bomb(d):
    return _zip(d / "in", "bomb.zip", _goods() + [("pets/zeros.png", b"\0" * (30 << 20))])
@case("image_sets")
def zip_member_count_bomb(d):
    return _zip(d / "in", "many.zip", [(f"m/{i}.png", b"") for i in range(20_000)], zipfile.ZIP_STORED)
@case("image_sets")
def zip_nested(d):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        for n, b in _goods():
            zf.writestr(n, b)
    return _zip(d / "in", "nested.zip", [("inner.zip", inner.getvalue()), ("inner.png", inner.getvalue())])
@case("image_sets")
def zip_encrypted(d):
    """Members flagged as encrypted (bit 0 of the flags), as an archiver with a password writes them."""
    p = _zip(d / "in", "enc.zip", _goods(), zipfile.ZIP_STORED)
    raw = bytearray(p.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = raw.find(sig)
        while i >= 0:
            raw[i + off] |= 1
            i = raw.find(sig, i + 4)
    p.write_bytes(bytes(raw))
    return p
@case("image_sets")
def zip_truncated(d):
    p = _zip(d / "in", "cut.zip", _goods())
    p.write_bytes(p.read_bytes()[:200])
    return p
@case("image_sets")
def zip_not_a_zip(d): return _write(d / "in", "fake.zip", b"PK\x03\x04" + os.urandom(300))
@case("image_sets")
def zip_one_image(d): return _zip(d / "in", "one.zip", _goods(1))


def _ti(name: str, kind=tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    t = tarfile.TarInfo(name)
    t.type, t.linkname, t.mode = kind, link, 0o644
    return t


def _tgoods(n=3):
    return [(_ti(n_), b) for n_, b in _goods(n)]


@case("image_sets")
def tar_traversal(d): return _tar(d / "in", "slip.tar", _tgoods() + [(_ti(f"../../{OUTSIDE}"), png())])
@case("image_sets")
def tar_absolute(d): return _tar(d / "in", "abs.tar", _tgoods() + [(_ti(str(d / OUTSIDE)), png())])
@case("image_sets")
def tar_symlink_member(d):
    return _tar(d / "in", "sym.tar", _tgoods() + [(_ti("pets/passwd.png", tarfile.SYMTYPE, "/etc/passwd"), None)])
@case("image_sets")
def tar_hardlink_member(d):
    return _tar(d / "in", "hard.tar", _tgoods() + [(_ti("pets/hard.png", tarfile.LNKTYPE, "/etc/passwd"), None)])
@case("image_sets")
def tar_gz_ratio_bomb(d):
    return _tar(d / "in", "bomb.tar.gz", _tgoods() + [(_ti("pets/zeros.png"), b"\0" * (30 << 20))], "w:gz")
@case("image_sets")
def tar_member_count_bomb(d):
    return _tar(d / "in", "many.tar", [(_ti(f"m/{i}.png"), b"") for i in range(5000)])
@case("image_sets")
def tar_gz_truncated(d):
    p = _tar(d / "in", "cut.tar.gz", _tgoods(), "w:gz")
    p.write_bytes(p.read_bytes()[:100])
    return p
@case("image_sets")
def tar_garbage(d): return _write(d / "in", "junk.tar", os.urandom(2000))
@case("image_sets")
def tar_nested(d):
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tf:
        for n, b in _goods():
            t = _ti(n)
            t.size = len(b)
            tf.addfile(t, io.BytesIO(b))
    return _tar(d / "in", "nested.tar", [(_ti("inner.tar"), inner.getvalue()), (_ti("inner.png"), inner.getvalue())])


# ------------------------------------------------------------------------------------------ tables
def _rows(n: int = 60, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{rng.integers(18, 80)},{rng.choice(['F', 'M'])},{rng.normal(50, 10):.2f}" for _ in range(n)]


def _csv(d: Path, text: str | bytes, name: str = "t.csv") -> Path:
    return _write(d, name, text.encode() if isinstance(text, str) else text)


HEADER = "age,sex,income"


@case("tables")
def csv_empty(d): return _csv(d, "")
@case("tables")
def csv_blank_lines(d): return _csv(d, "\n\n\n")
@case("tables")
def csv_header_only(d): return _csv(d, HEADER + "\n")
@case("tables")
def csv_ragged_rows(d): return _csv(d, "\n".join([HEADER] + _rows(30) + ["1,F", "2,M,3,4,5,6"] + _rows(30, 1)))
@case("tables")
def csv_utf8_bom(d): return _csv(d, b"\xef\xbb\xbf" + "\n".join([HEADER] + _rows()).encode())
@case("tables")
def csv_mixed_delimiters(d):
    rows = [r.replace(",", ";") if i % 2 else r for i, r in enumerate(_rows())]
    return _csv(d, "\n".join(["age;sex;income"] + rows))
@case("tables")
def csv_inf_nan(d):
    rows = _rows()
    rows[3], rows[5], rows[7] = "inf,F,1.0", "30,M,-inf", "31,F,NaN"
    return _csv(d, "\n".join([HEADER] + rows))
@case("tables")
def csv_out_of_range(d):
    rows = _rows()
    rows[4] = "40,M,1e400"
    rows[9] = "40,M,-1e400"
    return _csv(d, "\n".join([HEADER] + rows))
@case("tables")
def csv_all_inf_column(d): return _csv(d, "\n".join([HEADER] + [f"{i},F,inf" for i in range(60)]))
@case("tables")
def csv_huge_cell(d):
    rows = _rows()
    rows[2] = "33,M," + "x" * (5 << 20)
    return _csv(d, "\n".join([HEADER] + rows))
@case("tables")
def csv_huge_category_cell(d):
    rows = _rows()
    rows[2] = "33," + "y" * (5 << 20) + ",1.5"
    return _csv(d, "\n".join([HEADER] + rows))
@case("tables")
def csv_many_categories(d):
    return _csv(d, "\n".join(["code,colour,value"] + [f"c{i},{'rgb'[i % 3]},{i % 7}" for i in range(100_000)]))
@case("tables")
def csv_many_levels_repeated(d):
    return _csv(d, "\n".join(["code,value"] + [f"c{i % 50_000},{i % 7}.5" for i in range(100_000)]))
@case("tables")
def xlsx_named_csv(d):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    return _csv(d, buf.getvalue())
@case("tables")
def parquet_named_csv(d):
    """Parquet's framing (magic, body, footer length, magic); pyarrow may be absent, so hand-made."""
    body = os.urandom(200)
    return _csv(d, b"PAR1" + body + struct.pack("<I", len(body)) + b"PAR1")
@case("tables")
def binary_named_csv(d): return _csv(d, np.random.default_rng(3).bytes(4000))
@case("tables")
def png_named_csv(d): return _csv(d, png())
@case("tables")
def csv_duplicate_columns(d): return _csv(d, "\n".join(["age,age,income"] + _rows()))
@case("tables")
def csv_empty_column_names(d): return _csv(d, "\n".join([",,income"] + _rows()))
@case("tables")
def csv_latin1(d): return _csv(d, "\n".join(["name,city,n"] + [f"Jos\xe9,M\xfcnchen,{i}" for i in range(60)]).encode("latin-1"))
@case("tables")
def csv_one_column(d): return _csv(d, "\n".join(["x"] + [str(i) for i in range(60)]))
@case("tables")
def csv_tiny(d): return _csv(d, "\n".join([HEADER] + _rows(5)))
@case("tables")
def csv_all_missing_column(d): return _csv(d, "\n".join(["a,b,c"] + [f"{i},,{i % 3}" for i in range(60)]))
@case("tables")
def csv_unclosed_quote(d): return _csv(d, "\n".join([HEADER] + _rows(10) + ['3,"F,7'] + _rows(10)))
@case("tables")
def parquet_garbage(d): return _write(d, "t.parquet", b"PAR1" + os.urandom(100))


# ------------------------------------------------------------------------------------------ series
LONG = "series_id,time,a,b"


def _long(n_series=20, t=8) -> list[str]:
    return [f"{s},{i},{np.sin(i + s):.3f},{np.cos(i):.3f}" for s in range(n_series) for i in range(t)]


@case("series")
def long_missing_id(d): return _csv(d, "\n".join(["id,time,a"] + [f"1,{i},0.5" for i in range(10)]))
@case("series")
def long_text_feature(d):
    rows = _long()
    rows[5] = "0,5,hello,0.1"
    return _csv(d, "\n".join([LONG] + rows))
@case("series")
def long_inf_feature(d):
    rows = _long()
    rows[5] = "0,5,inf,0.1"
    return _csv(d, "\n".join([LONG] + rows))
@case("series")
def long_out_of_range(d):
    rows = _long()
    rows[5] = "0,5,1e400,0.1"
    return _csv(d, "\n".join([LONG] + rows))
@case("series")
def long_missing_value(d):
    rows = _long()
    rows[5] = "0,5,,0.1"
    return _csv(d, "\n".join([LONG] + rows))
@case("series")
def long_one_series(d): return _csv(d, "\n".join([LONG] + _long(1)))
@case("series")
def long_huge_id(d):
    rows = _long()
    rows.append("x" * (5 << 20) + ",0,0.1,0.2")
    return _csv(d, "\n".join([LONG] + rows))
@case("series")
def long_header_only(d): return _csv(d, LONG + "\n")
@case("series")
def long_empty(d): return _csv(d, "")


def _npy(d: Path, name: str, arr) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / name, arr, allow_pickle=True)
    return d / name


@case("series")
def npy_random_bytes(d): return _write(d, "s.npy", os.urandom(300))
@case("series")
def npy_truncated(d):
    p = _npy(d, "s.npy", np.zeros((20, 8, 2), np.float32))
    p.write_bytes(p.read_bytes()[:200])
    return p
@case("series")
def npy_object_pickle(d): return _npy(d, "s.npy", np.array([{"a": 1}, None], dtype=object))
@case("series")
def npy_wrong_ndim(d): return _npy(d, "s.npy", np.zeros((2, 3, 4, 5), np.float32))
@case("series")
def npy_empty(d): return _npy(d, "s.npy", np.zeros((0, 8, 2), np.float32))
@case("series")
def npy_inf(d):
    a = np.zeros((20, 8, 2), np.float32)
    a[1, 2, 0] = np.inf
    return _npy(d, "s.npy", a)
@case("series")
def npy_strings(d): return _npy(d, "s.npy", np.array([["a", "b"]] * 20))
@case("series")
def npy_complex(d): return _npy(d, "s.npy", np.zeros((20, 8, 2), np.complex64))


# ------------------------------------------------------------------------------------------ videos
@case("videos")
def mp4_garbage(d): return _write(d, "v.mp4", os.urandom(3000))
@case("videos")
def mp4_zero_bytes(d): return _write(d, "v.mp4", b"")
@case("videos")
def mp4_truncated(d):
    import imageio.v3 as iio
    d.mkdir(parents=True, exist_ok=True)
    iio.imwrite(d / "v.mp4", np.zeros((12, 16, 16, 3), np.uint8), fps=8, plugin="FFMPEG")
    p = d / "v.mp4"
    p.write_bytes(p.read_bytes()[:400])
    return p
@case("videos")
def gif_garbage(d): return _write(d, "v.gif", b"GIF89a" + os.urandom(200))
@case("videos")
def gif_truncated(d):
    frames = [Image.new("L", (16, 16), i * 20) for i in range(10)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    return _write(d, "v.gif", buf.getvalue()[: len(buf.getvalue()) // 2])
@case("videos")
def npy_video_2d(d): return _npy(d, "v.npy", np.zeros((16, 16), np.uint8))
@case("videos")
def npy_video_6d(d): return _npy(d, "v.npy", np.zeros((1, 2, 3, 4, 5, 6), np.uint8))
@case("videos")
def npy_video_bad_channels(d): return _npy(d, "v.npy", np.zeros((2, 8, 16, 16, 7), np.uint8))
@case("videos")
def npy_video_nan(d): return _npy(d, "v.npy", np.full((2, 8, 16, 16), np.nan, np.float32))
@case("videos")
def npy_video_zero_frames(d): return _npy(d, "v.npy", np.zeros((2, 0, 16, 16), np.uint8))
@case("videos")
def npy_video_object(d): return _npy(d, "v.npy", np.array([None, 1], dtype=object))
@case("videos")
def npy_video_zero_side(d): return _npy(d, "v.npy", np.zeros((2, 8, 0, 16), np.uint8))


# ------------------------------------------------------------------------------------------ meshes
@case("meshes")
def obj_garbage(d): return _write(d, "m.obj", os.urandom(500))
@case("meshes")
def obj_text_garbage(d): return _write(d, "m.obj", b"v 1 2\nf 1 2 99\nv nan nan nan\nf a b c\n")
@case("meshes")
def obj_empty(d): return _write(d, "m.obj", b"")
@case("meshes")
def obj_vertices_only(d): return _write(d, "m.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n")
@case("meshes")
def obj_open_triangle(d): return _write(d, "m.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
@case("meshes")
def obj_degenerate(d):
    return _write(d, "m.obj", b"v 0 0 0\nv 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\nf 1 3 4\nf 1 4 2\nf 2 4 3\n")
@case("meshes")
def stl_garbage(d): return _write(d, "m.stl", os.urandom(500))
@case("meshes")
def stl_zero_triangles(d): return _write(d, "m.stl", b"\0" * 80 + struct.pack("<I", 0))
@case("meshes")
def stl_huge_count(d): return _write(d, "m.stl", b"\0" * 80 + struct.pack("<I", 2**31))
@case("meshes")
def binvox_garbage(d): return _write(d, "m.binvox", b"#binvox 1\ndim 9999 9999 9999\ndata\n" + os.urandom(11))
@case("meshes")
def binvox_no_newline(d): return _write(d, "m.binvox", b"#binvox 1 dim 4 4 4")
@case("meshes")
def npy_voxels_wrong_shape(d): return _npy(d, "m.npy", np.zeros((4, 5, 6), np.float32))
@case("meshes")
def npy_voxels_object(d): return _npy(d, "m.npy", np.array([None], dtype=object))


# ------------------------------------------------------------------------------------------ captions
def _cap_images(d: Path, n: int = 3) -> None:
    for i in range(n):
        _write(d, f"img{i}.png", png((12, 12), seed=i))


@case("captions")
def captions_missing_column(d):
    _cap_images(d)
    return _csv(d, "image,text\nimg0.png,a cat\n", "c.csv")
@case("captions")
def captions_missing_image(d):
    _cap_images(d, 1)
    return _csv(d, "image,caption\nimg0.png,a cat\nnothere.png,a dog\n", "c.csv")
@case("captions")
def captions_all_missing_images(d): return _csv(d, "image,caption\nno1.png,a cat\nno2.png,a dog\n", "c.csv")
@case("captions")
def captions_empty_caption(d):
    _cap_images(d)
    return _csv(d, "image,caption\nimg0.png,\nimg1.png,  \nimg2.png,a red square\n", "c.csv")
@case("captions")
def captions_non_utf8(d):
    _cap_images(d)
    return _csv(d, b"image,caption\nimg0.png,caf\xe9 \xff\xfe\n", "c.csv")
@case("captions")
def captions_image_is_garbage(d):
    _write(d, "img0.png", os.urandom(100))
    return _csv(d, "image,caption\nimg0.png,noise\n", "c.csv")
@case("captions")
def captions_huge_caption(d):
    _cap_images(d, 1)
    return _csv(d, "image,caption\nimg0.png," + "word " * (1 << 20) + "\n", "c.csv")
@case("captions")
def captions_empty_file(d): return _csv(d, "", "c.csv")
@case("captions")
def captions_binary_csv(d): return _csv(d, png(), "c.csv")
@case("captions")
def captions_folder_non_utf8_sidecar(d):
    _cap_images(d / "f", 2)
    _write(d / "f", "img0.txt", b"\xff\xfe caf\xe9")
    _write(d / "f", "img1.txt", b"")
    return d / "f"
@case("captions")
def captions_directory_as_image(d):
    (d / "sub").mkdir(parents=True)
    return _csv(d, "image,caption\nsub,a folder\n", "c.csv")


# ------------------------------------------------------------------------------------------ masks
@case("masks")
def mask_wrong_size(d): return _write(d, "m.png", png((5, 7), "L"))
@case("masks")
def mask_random_bytes(d): return _write(d, "m.png", os.urandom(200))
@case("masks")
def mask_zero_bytes(d): return _write(d, "m.png", b"")
@case("masks")
def mask_text_file(d): return _write(d, "m.txt", b"not a mask\n")
@case("masks")
def mask_bomb_header(d): return _write(d, "m.png", bomb_png())
@case("masks")
def mask_sixteen_bit(d):
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16), 65535, np.uint16)).save(buf, "PNG")
    return _write(d, "m.png", buf.getvalue())
