"""Tests for ``ganforge.data.load_images``: real data sets, synthesised files, broken files, bad arguments.

Real data lives in ``../shared/data`` (read-only); the tests that need it are skipped when it is absent.
Everything else is written to ``tmp_path``. Sizes and ``limit`` are small to keep the file fast.
"""
from __future__ import annotations

import gzip
import io
import logging
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import ImageSet, load_images
from ganforge.errors import ConfigError, DataError
from tests.shared import DATA, needs

MNIST = DATA / "mnist"
CIFAR_TEST = DATA / "cifar10" / "test.zip"
ORL = DATA / "orl_faces"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def save(path: Path, im: Image.Image, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kwargs)
    return path


def grey(value: int, side: int = 8) -> Image.Image:
    return Image.new("L", (side, side), value)


def rgb(colour: tuple[int, int, int], side: int = 8) -> Image.Image:
    return Image.new("RGB", (side, side), colour)


def noise_png(path: Path, side: int = 32, seed: int = 0) -> Path:
    """An RGB PNG of random pixels (incompressible, so a truncated copy is really damaged)."""
    a = np.random.default_rng(seed).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    return save(path, Image.fromarray(a, "RGB"))


def assert_valid(s: ImageSet, n: int, channels: int, size: int) -> None:
    assert isinstance(s, ImageSet)
    assert s.images.dtype == torch.uint8
    assert tuple(s.images.shape) == (n, channels, size, size)
    assert s.images.is_contiguous()
    assert (len(s), s.channels, s.size) == (n, channels, size)


def assert_one_line_naming(err: pytest.ExceptionInfo, path: Path | str) -> None:
    text = str(err.value)
    assert "\n" not in text
    assert str(path) in text


def hwc(s: ImageSet, i: int = 0) -> np.ndarray:
    return s.images[i].permute(1, 2, 0).numpy()


# ----------------------------------------------------------------------------------------------
# Real files


def _idx(path: Path) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@needs(MNIST)
def test_mnist_folder_prefers_train_split_with_labels():
    s = load_images(MNIST, 28, limit=200)
    assert_valid(s, 200, 1, 28)
    assert s.class_names == [str(d) for d in range(10)]
    raw_images = _idx(MNIST / "train-images-idx3-ubyte.gz")[:200]
    raw_labels = _idx(MNIST / "train-labels-idx1-ubyte.gz")[:200]
    assert s.labels.dtype == torch.int64
    assert s.labels.tolist() == raw_labels.tolist()
    assert s.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the well-known first train labels
    assert np.array_equal(s.images[:, 0].numpy(), raw_images)
    assert s.source == str(MNIST)
    assert s.skipped == []


@needs(MNIST)
def test_mnist_small_limit_keeps_digit_classes():
    # The first five train digits are 5 0 4 1 9: label index must still be the digit itself.
    s = load_images(MNIST, 14, limit=5)
    assert_valid(s, 5, 1, 14)
    assert s.class_names == [str(d) for d in range(10)]
    assert s.labels.tolist() == [5, 0, 4, 1, 9]


@needs(MNIST)
def test_mnist_images_file_given_directly_uses_its_labels():
    path = MNIST / "t10k-images-idx3-ubyte.gz"
    s = load_images(path, 16, limit=50, channels=3)
    assert_valid(s, 50, 3, 16)
    raw_labels = _idx(MNIST / "t10k-labels-idx1-ubyte.gz")[:50]
    assert s.labels.tolist() == raw_labels.tolist()
    assert s.labels[:5].tolist() == [7, 2, 1, 0, 4]  # first t10k digits, not the train ones
    assert torch.equal(s.images[:, 0], s.images[:, 1]) and torch.equal(s.images[:, 1], s.images[:, 2])


@needs(CIFAR_TEST)
def test_cifar_zip_classes_from_subfolders_and_rgb():
    s = load_images(CIFAR_TEST, 32, limit=20)
    assert_valid(s, 20, 3, 32)
    assert s.class_names == CIFAR_CLASSES  # "test/" (common to every member) is not a class
    assert s.labels.tolist() == [0] * 20  # sorted by path: airplane comes first
    with zipfile.ZipFile(CIFAR_TEST) as zf:
        first = sorted(n for n in zf.namelist() if n.endswith(".jpg"))[0]
        expected = np.asarray(Image.open(io.BytesIO(zf.read(first))).convert("RGB"))
    assert first.startswith("test/airplane/")
    assert np.array_equal(hwc(s), expected)
    x = s.images.int()
    assert (x[:, 0] != x[:, 1]).any() or (x[:, 1] != x[:, 2]).any()  # real colour, not grey copies


@needs(CIFAR_TEST)
def test_cifar_members_repacked_give_one_label_per_class_folder(tmp_path):
    with zipfile.ZipFile(CIFAR_TEST) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))
        picked = [next(n for n in names if n.startswith(f"test/{c}/")) for c in reversed(CIFAR_CLASSES)]
        out = tmp_path / "subset.zip"
        with zipfile.ZipFile(out, "w") as small:
            for n in picked:
                small.writestr(n, zf.read(n))
    s = load_images(out, 8)
    assert_valid(s, 10, 3, 8)
    assert s.class_names == CIFAR_CLASSES
    assert s.labels.tolist() == list(range(10))


@needs(ORL)
def test_orl_pgm_folder_has_forty_grey_classes():
    s = load_images(ORL, 16)
    assert_valid(s, 400, 1, 16)
    assert len(s.class_names) == 40
    assert s.class_names == sorted(f"s{k}" for k in range(1, 41))
    assert torch.bincount(s.labels).tolist() == [10] * 40
    assert s.labels[:10].tolist() == [s.class_names.index("s1")] * 10  # sorted paths: s1/* first
    assert s.skipped == []  # the README files beside the folders are not images


@needs(ORL)
def test_orl_pgm_is_centre_cropped_without_resampling_at_its_width():
    # 92 x 112 pixels: at size 92 the result is exactly the middle 92 rows.
    s = load_images(ORL, 92, limit=3)
    assert_valid(s, 3, 1, 92)
    assert len(s.class_names) == 40  # classes come from every file, not only the kept ones
    raw = np.asarray(Image.open(ORL / "s1" / "1.pgm"))
    assert raw.shape == (112, 92)
    assert np.array_equal(s.images[0, 0].numpy(), raw[10:102])


@needs(ORL)
def test_single_image_file_is_a_set_of_one():
    path = ORL / "s3" / "7.pgm"
    s = load_images(path, 92)
    assert_valid(s, 1, 1, 92)
    assert s.labels is None and s.class_names is None
    assert np.array_equal(s.images[0, 0].numpy(), np.asarray(Image.open(path))[10:102])
    resized = load_images(path, 20, channels=3)
    assert_valid(resized, 1, 3, 20)


def test_single_png_file_resized(tmp_path):
    path = save(tmp_path / "one.png", rgb((10, 200, 30), side=40))
    s = load_images(str(path), 12)
    assert_valid(s, 1, 3, 12)
    assert (hwc(s) == np.array([10, 200, 30], dtype=np.uint8)).all()


# ----------------------------------------------------------------------------------------------
# Synthesised files: colour modes


def test_rgba_png_is_composited_on_white(tmp_path):
    a = np.zeros((4, 4, 4), dtype=np.uint8)
    a[0] = (255, 0, 0, 0)  # fully transparent red -> white
    a[1] = (0, 0, 255, 255)  # opaque blue stays blue
    a[2] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    a[3] = (0, 255, 0, 64)  # mostly transparent green -> pale green
    path = save(tmp_path / "rgba.png", Image.fromarray(a, "RGBA"))
    s = load_images(path, 4)
    assert_valid(s, 1, 3, 4)
    x = hwc(s).astype(int)
    assert (x[0] == 255).all()
    assert (x[1] == (0, 0, 255)).all()
    assert (np.abs(x[2] - 127) <= 1).all()
    assert (np.abs(x[3] - (191, 255, 191)) <= 1).all()


def test_grey_alpha_png_stays_grey_on_white(tmp_path):
    a = np.zeros((4, 4, 2), dtype=np.uint8)
    a[:2] = (0, 0)  # transparent black -> white
    a[2:] = (40, 255)  # opaque
    path = save(tmp_path / "la.png", Image.fromarray(a, "LA"))
    s = load_images(path, 4)
    assert_valid(s, 1, 1, 4)
    assert (s.images[0, 0, :2] == 255).all()
    assert (s.images[0, 0, 2:] == 40).all()


def test_palette_png_is_expanded(tmp_path):
    colour = Image.new("P", (4, 4), 0)
    colour.putpalette([255, 0, 0, 0, 128, 255, 20, 30, 40])
    for x in range(4):
        colour.putpixel((x, 1), 1)
        colour.putpixel((x, 2), 2)
    save(tmp_path / "colour.png", colour)
    s = load_images(tmp_path / "colour.png", 4)
    assert_valid(s, 1, 3, 4)
    x = hwc(s)
    assert (x[0] == (255, 0, 0)).all() and (x[1] == (0, 128, 255)).all() and (x[2] == (20, 30, 40)).all()

    # A palette of greys gives one channel; the transparent index becomes white.
    greys = Image.new("P", (4, 4), 1)
    greys.putpalette([0, 0, 0, 90, 90, 90, 200, 200, 200])
    for x in range(4):
        greys.putpixel((x, 0), 0)
        greys.putpixel((x, 3), 2)
    save(tmp_path / "greys.png", greys, transparency=0)
    g = load_images(tmp_path / "greys.png", 4)
    assert_valid(g, 1, 1, 4)
    assert g.images[0, 0, :, 0].tolist() == [255, 90, 90, 200]


def test_sixteen_bit_grey_png_is_scaled_to_eight_bits(tmp_path):
    values = np.array([0, 257, 25700, 32896, 65535, 300, 65400, 1000], dtype=np.uint16)
    a = np.tile(values, (8, 1))
    path = save(tmp_path / "deep.png", Image.fromarray(a))
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    s = load_images(path, 8)
    assert_valid(s, 1, 1, 8)
    expected = np.rint(values / 257.0).astype(np.uint8)  # 65535 -> 255, 257 * k -> k
    assert expected.tolist() == [0, 1, 100, 128, 255, 1, 254, 4]
    assert (s.images[0, 0].numpy() == expected).all()


def test_grey_and_rgb_mix_gives_three_channels(tmp_path):
    save(tmp_path / "a.png", grey(10))
    save(tmp_path / "b.png", rgb((1, 2, 3)))
    save(tmp_path / "c.png", grey(200))
    s = load_images(tmp_path, 8)
    assert_valid(s, 3, 3, 8)
    assert s.labels is None  # no class folders
    assert (hwc(s, 0) == 10).all()  # grey read before the first colour image is repeated into R, G, B
    assert (hwc(s, 1) == (1, 2, 3)).all()
    assert (hwc(s, 2) == 200).all()

    forced = load_images(tmp_path, 8, channels=1)
    assert_valid(forced, 3, 1, 8)
    assert forced.images[:, 0, 0, 0].tolist() == [10, 2, 200]  # luma of (1, 2, 3) is 2

    only_grey = tmp_path / "grey"
    save(only_grey / "x.png", grey(77))
    assert_valid(load_images(only_grey, 8), 1, 1, 8)
    widened = load_images(only_grey, 8, channels=3)
    assert_valid(widened, 1, 3, 8)
    assert (widened.images == 77).all()


def test_folder_class_rule(tmp_path):
    save(tmp_path / "two" / "dogs" / "1.png", grey(1))
    save(tmp_path / "two" / "cats" / "1.png", grey(2))
    save(tmp_path / "two" / "cats" / "sub" / "2.png", grey(3))
    s = load_images(tmp_path / "two", 4)
    assert s.class_names == ["cats", "dogs"]
    assert s.images[:, 0, 0, 0].tolist() == [2, 3, 1]  # sorted by relative path
    assert s.labels.tolist() == [0, 0, 1]

    save(tmp_path / "one" / "only" / "1.png", grey(1))  # a single folder is not a class split
    assert load_images(tmp_path / "one", 4).labels is None
    save(tmp_path / "two" / "loose.png", grey(4))  # a file outside the class folders: no labels
    assert load_images(tmp_path / "two", 4).labels is None


def test_a_limit_with_a_sample_seed_is_a_random_choice_in_source_order(tmp_path):
    for c, cls in enumerate(("a", "b", "c", "d")):
        for i in range(10):
            save(tmp_path / "f" / cls / f"{i}.png", grey(10 * c + i))
    first = load_images(tmp_path / "f", 4, limit=8)
    assert set(first.labels.tolist()) == {0}                        # sorted by class: one class only
    picked = load_images(tmp_path / "f", 4, limit=8, sample_seed=0)
    values = picked.images[:, 0, 0, 0].tolist()
    assert len(set(picked.labels.tolist())) >= 3 and values == sorted(values)
    assert picked.labels.tolist() == [v // 10 for v in values]       # labels follow their images
    assert torch.equal(load_images(tmp_path / "f", 4, limit=8, sample_seed=0).images, picked.images)
    arr = np.arange(40, dtype=np.uint8).reshape(40, 1, 1).repeat(4, 1).repeat(4, 2)
    np.savez(tmp_path / "a.npz", x=arr, y=np.arange(40) // 10)
    sub = load_images(tmp_path / "a.npz", 4, limit=8, sample_seed=0)
    assert sub.labels.tolist() == [int(v) // 10 for v in sub.images[:, 0, 0, 0].tolist()]
    assert len(set(sub.labels.tolist())) >= 3


def test_hidden_files_and_other_extensions_are_ignored(tmp_path):
    save(tmp_path / "A.PNG", grey(9))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"junk")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "A.png").write_bytes(b"junk")
    s = load_images(tmp_path, 8)
    assert_valid(s, 1, 1, 8)
    assert s.skipped == []


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((4, 8, 3), dtype=np.uint8)
    a[:, :4] = 255  # stored 8 wide, 4 high: left half white
    im = Image.fromarray(a, "RGB")
    exif = im.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the left half becomes the top half
    path = save(tmp_path / "turned.jpg", im, exif=exif, quality=95)
    s = load_images(path, 4)
    assert_valid(s, 1, 3, 4)
    x = s.images[0].int()
    assert (x[:, :2] > 200).all() and (x[:, 2:] < 55).all()


# ----------------------------------------------------------------------------------------------
# Synthesised files: archives


def _class_folder(root: Path) -> Path:
    save(root / "cats" / "a.png", rgb((200, 10, 10)))
    save(root / "cats" / "b.png", grey(50))
    save(root / "dogs" / "c.png", rgb((10, 10, 200)))
    (root / "dogs" / "readme.txt").write_text("ignored")
    return root


@pytest.mark.parametrize(
    "suffix, mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tgz", "w:gz"), (".tar.bz2", "w:bz2"), (".tar.xz", "w:xz")]
)
def test_tar_of_a_folder_reads_like_the_folder(tmp_path, suffix, mode):
    folder = _class_folder(tmp_path / "pets")
    archive = tmp_path / f"pets{suffix}"
    with tarfile.open(archive, mode) as tf:
        tf.add(folder, arcname="pets")  # a common root folder, ignored for the class rule
    s = load_images(archive, 8)
    ref = load_images(folder, 8)
    assert_valid(s, 3, 3, 8)
    assert s.class_names == ["cats", "dogs"]
    assert s.labels.tolist() == [0, 0, 1]
    assert torch.equal(s.images, ref.images)
    assert (hwc(s, 1) == 50).all()
    assert s.source == str(archive)


def test_zip_of_a_folder_reads_like_the_folder(tmp_path):
    folder = _class_folder(tmp_path / "pets")
    archive = Path(shutil.make_archive(str(tmp_path / "pets"), "zip", tmp_path, "pets"))
    s = load_images(archive, 8, limit=2)
    assert_valid(s, 2, 3, 8)
    assert s.class_names == ["cats", "dogs"]
    assert torch.equal(s.images, load_images(folder, 8, limit=2).images)


def test_damaged_tar_gz_keeps_images_read_before_the_damage(tmp_path, caplog):
    for k in range(6):
        noise_png(tmp_path / "set" / f"{k}.png", side=64, seed=k)
    whole = tmp_path / "set.tar.gz"
    with tarfile.open(whole, "w:gz") as tf:
        tf.add(tmp_path / "set", arcname="set")
    cut = tmp_path / "cut.tar.gz"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.7)])
    with caplog.at_level(logging.WARNING, logger="ganforge.data"):
        s = load_images(cut, 8)
    assert 1 <= len(s) < 6
    assert torch.equal(s.images, load_images(whole, 8).images[: len(s)])
    assert [name for name, _ in s.skipped] == ["cut.tar.gz"]
    assert "damaged" in s.skipped[0][1]


# ----------------------------------------------------------------------------------------------
# Synthesised files: arrays


def _base(n: int = 3, side: int = 8) -> np.ndarray:
    """NHWC uint8 RGB test images."""
    return np.random.default_rng(1).integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("kind", ["uint8", "float[-1,1]", "float[0,1]"])
def test_npy_colour_layouts_and_ranges(tmp_path, layout, kind):
    base = _base()
    a = base if layout == "NHWC" else base.transpose(0, 3, 1, 2)
    if kind == "float[-1,1]":
        a = (a.astype(np.float32) / 127.5 - 1.0).astype(np.float32)
        assert a.min() == -1.0 and a.max() == 1.0
    elif kind == "float[0,1]":
        a = a.astype(np.float64) / 255.0
    path = tmp_path / "x.npy"
    np.save(path, a)
    s = load_images(path, 8)
    assert_valid(s, 3, 3, 8)
    assert s.labels is None
    assert np.array_equal(s.images.numpy(), base.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("kind", ["uint8", "float[-1,1]"])
def test_npy_grey_nhw(tmp_path, kind):
    base = _base()[..., 0]
    a = base if kind == "uint8" else base.astype(np.float32) / 127.5 - 1.0
    np.save(tmp_path / "g.npy", a)
    s = load_images(tmp_path / "g.npy", 8)
    assert_valid(s, 3, 1, 8)
    assert np.array_equal(s.images[:, 0].numpy(), base)
    small = load_images(tmp_path / "g.npy", 4, limit=2, channels=3)
    assert_valid(small, 2, 3, 4)


def test_float_minus_one_to_one_maps_ends_and_middle(tmp_path):
    a = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0], dtype=np.float32)
    np.save(tmp_path / "r.npy", np.tile(a, (1, 8, 1)))
    s = load_images(tmp_path / "r.npy", 8)
    assert s.images[0, 0, 0].tolist() == [0, 64, 128, 191, 255, 255, 255, 255]


def test_npz_with_labels(tmp_path):
    base = _base(n=5)
    y = np.array([7, 3, 7, 9, 3])
    np.savez(tmp_path / "d.npz", x=base.transpose(0, 3, 1, 2), y=y)
    s = load_images(tmp_path / "d.npz", 8)
    assert_valid(s, 5, 3, 8)
    assert s.class_names == ["3", "7", "9"]
    assert s.labels.tolist() == [1, 0, 1, 2, 0]
    assert np.array_equal(s.images.numpy(), base.transpose(0, 3, 1, 2))
    # A limit keeps the classes of the whole file, so a label index means the same thing.
    first = load_images(tmp_path / "d.npz", 8, limit=1)
    assert first.class_names == ["3", "7", "9"]
    assert first.labels.tolist() == [1]

    np.savez(tmp_path / "n.npz", images=base[..., 0], labels=np.array(["b", "a", "b", "c", "a"]))
    named = load_images(tmp_path / "n.npz", 4)
    assert_valid(named, 5, 1, 4)
    assert named.class_names == ["a", "b", "c"]
    assert named.labels.tolist() == [1, 0, 1, 2, 0]


def test_npy_rgba_and_sixteen_bit(tmp_path):
    rgba = np.zeros((2, 8, 8, 4), dtype=np.uint8)
    rgba[0] = (10, 20, 30, 255)  # opaque
    rgba[1] = (10, 20, 30, 0)  # transparent -> white
    np.save(tmp_path / "rgba.npy", rgba)
    s = load_images(tmp_path / "rgba.npy", 8)
    assert_valid(s, 2, 3, 8)
    assert (hwc(s, 0) == (10, 20, 30)).all() and (hwc(s, 1) == 255).all()

    np.save(tmp_path / "deep.npy", np.tile(np.array([0, 257, 65535, 32896], dtype=np.uint16), (1, 4, 1)))
    d = load_images(tmp_path / "deep.npy", 4)
    assert_valid(d, 1, 1, 4)
    assert d.images[0, 0, 0].tolist() == [0, 1, 255, 128]


def test_array_errors_name_the_file(tmp_path):
    np.save(tmp_path / "bad_range.npy", np.full((2, 8, 8), 300.0))
    np.save(tmp_path / "bad_shape.npy", np.zeros((2, 8, 8, 8, 8), dtype=np.uint8))
    np.savez(tmp_path / "no_images.npz", foo=np.zeros((2, 8, 8)))
    np.savez(tmp_path / "wrong_labels.npz", x=np.zeros((3, 8, 8), np.uint8), y=np.arange(2))
    (tmp_path / "garbage.npy").write_bytes(b"not numpy")
    for name in ("bad_range.npy", "bad_shape.npy", "no_images.npz", "wrong_labels.npz", "garbage.npy"):
        with pytest.raises(DataError) as err:
            load_images(tmp_path / name, 8)
        assert_one_line_naming(err, tmp_path / name)


# ----------------------------------------------------------------------------------------------
# Built-in sets


def test_builtin_digits():
    from sklearn.datasets import load_digits

    s = load_images("builtin:digits", 32, limit=100)
    assert_valid(s, 100, 1, 32)
    assert s.class_names == [str(d) for d in range(10)]
    target = load_digits().target
    assert s.labels.tolist() == target[:100].tolist()
    assert s.images.min() == 0 and s.images.max() >= 250
    native = load_images("builtin:digits", 8, limit=3)
    expected = np.rint(load_digits().images[:3] * (255.0 / 16.0)).astype(np.uint8)
    assert np.array_equal(native.images[:, 0].numpy(), expected)


@pytest.mark.parametrize("size", [7, 40, 160])
def test_builtin_shapes_any_size(size):
    s = load_images("builtin:shapes?n=10", size)
    assert_valid(s, 10, 3, size)
    assert s.class_names == ["circle", "square", "triangle", "star", "cross"]
    assert s.labels.tolist() == [0, 1, 2, 3, 4] * 2
    spread = s.images.int().amax(dim=(1, 2, 3)) - s.images.int().amin(dim=(1, 2, 3))
    assert (spread > 30).all()  # every image shows something, not a flat colour


def test_builtin_shapes_deterministic_by_seed():
    a = load_images("builtin:shapes?n=6&seed=3", 16)
    b = load_images("builtin:shapes?n=6&seed=3", 16)
    c = load_images("builtin:shapes?n=6&seed=4", 16)
    prefix = load_images("builtin:shapes?n=3&seed=3", 16)
    limited = load_images("builtin:shapes?n=100&seed=3", 16, limit=4)
    assert torch.equal(a.images, b.images) and a.fingerprint == b.fingerprint
    assert not torch.equal(a.images, c.images)
    assert torch.equal(prefix.images, a.images[:3])
    assert torch.equal(limited.images, a.images[:4])
    assert load_images("builtin:shapes?n=2", 16, channels=1).images.shape == (2, 1, 16, 16)


def test_builtin_bad_names_and_options():
    for source in ("builtin:nope", "builtin:shapes?n=0", "builtin:shapes?colour=red", "builtin:digits?n=5"):
        with pytest.raises(DataError) as err:
            load_images(source, 8)
        assert_one_line_naming(err, source.split("?")[0])


# ----------------------------------------------------------------------------------------------
# Broken files


def _broken_files(folder: Path) -> dict[str, bytes]:
    good = noise_png(folder / "tmp_good.png").read_bytes()
    (folder / "tmp_good.png").unlink()
    return {"truncated.png": good[: len(good) // 2], "zero.png": b"", "text.jpg": b"hello, I am not a JPEG\n"}


def test_broken_files_are_skipped_listed_and_logged_once(tmp_path, caplog):
    broken = _broken_files(tmp_path)
    for name, data in broken.items():
        (tmp_path / name).write_bytes(data)
    save(tmp_path / "good.png", rgb((5, 6, 7)))
    save(tmp_path / "zz_good.png", rgb((9, 9, 9)))
    with caplog.at_level(logging.WARNING, logger="ganforge.data"):
        s = load_images(tmp_path, 8)
    assert_valid(s, 2, 3, 8)
    assert (hwc(s, 0) == (5, 6, 7)).all() and (hwc(s, 1) == 9).all()
    assert sorted(name for name, _ in s.skipped) == sorted(broken)
    reasons = dict(s.skipped)
    assert all(reason.strip() and "\n" not in reason for reason in reasons.values())
    assert "empty" in reasons["zero.png"]
    assert "truncated" in reasons["truncated.png"] or "corrupt" in reasons["truncated.png"]
    assert "not a recognised image" in reasons["text.jpg"]
    messages = [r.getMessage() for r in caplog.records if r.name == "ganforge.data"]
    for name in broken:
        assert sum(name in m for m in messages) == 1, (name, messages)
    assert s.describe()["skipped"] == 3


def test_broken_member_of_a_zip_is_skipped(tmp_path, caplog):
    archive = tmp_path / "mixed.zip"
    good = io.BytesIO()
    grey(42).save(good, "PNG")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("root/good.png", good.getvalue())
        zf.writestr("root/bad.jpg", b"plain text")
    with caplog.at_level(logging.WARNING, logger="ganforge.data"):
        s = load_images(archive, 8)
    assert_valid(s, 1, 1, 8)
    assert (s.images == 42).all()
    assert [name for name, _ in s.skipped] == ["root/bad.jpg"]
    assert sum("root/bad.jpg" in r.getMessage() for r in caplog.records) == 1


def test_limit_counts_readable_images_only(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    save(tmp_path / "b.png", grey(1))
    save(tmp_path / "c.png", grey(2))
    save(tmp_path / "d.png", grey(3))
    s = load_images(tmp_path, 8, limit=2)
    assert s.images[:, 0, 0, 0].tolist() == [1, 2]
    assert [name for name, _ in s.skipped] == ["a.png"]


def test_folder_of_only_broken_files_is_a_data_error(tmp_path):
    for name, data in _broken_files(tmp_path).items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(DataError) as err:
        load_images(tmp_path, 8)
    assert_one_line_naming(err, tmp_path)
    assert "text.jpg" in str(err.value)


def test_single_broken_file_is_a_data_error(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_text("not a photo")
    with pytest.raises(DataError) as err:
        load_images(path, 8)
    assert_one_line_naming(err, path)


@pytest.mark.parametrize("what", ["empty folder", "folder without images", "empty zip", "empty tar"])
def test_sources_without_images_are_data_errors(tmp_path, what):
    if what == "empty folder":
        path = tmp_path / "empty"
        path.mkdir()
    elif what == "folder without images":
        path = tmp_path / "docs"
        path.mkdir()
        (path / "readme.txt").write_text("no images here")
    elif what == "empty zip":
        path = tmp_path / "e.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "no images")
    else:
        path = tmp_path / "e.tar"
        tarfile.open(path, "w").close()
    with pytest.raises(DataError) as err:
        load_images(path, 8)
    assert_one_line_naming(err, path)


def test_missing_path_is_a_data_error(tmp_path):
    path = tmp_path / "nowhere" / "images"
    with pytest.raises(DataError) as err:
        load_images(path, 8)
    assert_one_line_naming(err, path)


@pytest.mark.parametrize("name", ["table.csv", "archive.rar", "noextension"])
def test_unsupported_file_is_a_data_error(tmp_path, name):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError) as err:
        load_images(path, 8)
    assert_one_line_naming(err, path)


@pytest.mark.parametrize("name", ["fake.zip", "fake.tar", "fake.tar.gz"])
def test_corrupt_archive_is_a_data_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x1f\x8b" + b"this is not an archive" * 20 if name.endswith(".gz") else b"nonsense" * 200)
    with pytest.raises(DataError) as err:
        load_images(path, 8)
    assert_one_line_naming(err, path)


# ----------------------------------------------------------------------------------------------
# Arguments


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 0},
        {"size": -8},
        {"size": 8.0},
        {"size": True},
        {"size": 8, "channels": 2},
        {"size": 8, "channels": 0},
        {"size": 8, "channels": 4},
        {"size": 8, "channels": True},
        {"size": 8, "limit": 0},
    ],
)
def test_bad_arguments_are_config_errors(tmp_path, kwargs):
    save(tmp_path / "ok.png", grey(1))
    with pytest.raises(ConfigError) as err:
        load_images(tmp_path, **kwargs)
    assert "\n" not in str(err.value)


def test_bad_source_type_is_a_config_error():
    with pytest.raises(ConfigError):
        load_images(123, 8)  # type: ignore[arg-type]


def test_progress_reaches_the_total(tmp_path):
    for k in range(5):
        save(tmp_path / f"{k}.png", grey(k))
    calls: list[tuple[int, int]] = []
    load_images(tmp_path, 4, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (5, 5)
    assert all(total == 5 and 0 <= done <= 5 for done, total in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
