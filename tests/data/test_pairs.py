"""Paired and photo-folder readers: side-by-side split, name matching, identical crops, one-line errors."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from ganforge.data.pairs import random_crop, read_matched, read_photos, read_side_by_side
from ganforge.errors import DataError
from tests.shared import DATA, needs


def save(path, a):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


def gradient(h, w, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_side_by_side_splits_halves(tmp_path):
    a, b = gradient(20, 24, 0), gradient(20, 24, 1)
    save(tmp_path / "p" / "x.png", np.concatenate([a, b], 1))
    pairs = read_side_by_side(tmp_path / "p")
    assert len(pairs) == 1 and (pairs.a.images[0] == a).all() and (pairs.b.images[0] == b).all()
    save(tmp_path / "q" / "odd.png", gradient(20, 25, 2))
    with pytest.raises(DataError, match=r"odd\.png: width 25 is odd"):
        read_side_by_side(tmp_path / "q")


def test_matched_folders_by_name_and_errors(tmp_path):
    for i in range(3):
        save(tmp_path / "A" / f"im{i}.png", gradient(16, 20, i))
        save(tmp_path / "B" / f"im{i}.jpg", gradient(16, 20, 10 + i))  # extensions may differ
    pairs = read_matched(tmp_path / "A", tmp_path / "B")
    assert pairs.a.names == ["im0", "im1", "im2"] and pairs.b.images[2].shape == (16, 20, 3)
    save(tmp_path / "B" / "extra.png", gradient(16, 20, 5))
    pairs = read_matched(tmp_path / "A", tmp_path / "B")           # a file without a partner is skipped
    assert len(pairs) == 3 and pairs.skipped[0][0].endswith("extra.png")
    assert pairs.skipped[0][1].startswith("no file of the same name in")
    (tmp_path / "B" / "extra.png").unlink()
    save(tmp_path / "B" / "im1.jpg", gradient(17, 20, 5))
    pairs = read_matched(tmp_path / "A", tmp_path / "B")           # so is a pair of two sizes
    assert pairs.a.names == ["im0", "im2"]
    assert re.match(r"size 20x17 differs from its pair .*im1\.png \(20x16\)", pairs.skipped[0][1])
    for i in (0, 2):
        (tmp_path / "B" / f"im{i}.jpg").unlink()
    with pytest.raises(DataError, match=r"im1\.jpg: size 20x17 differs from its pair"):   # nothing left
        read_matched(tmp_path / "A", tmp_path / "B")


def test_identical_crop_and_flip_on_both_sides():
    a = np.arange(32 * 40 * 3, dtype=np.int64).reshape(32, 40, 3).astype(np.uint8)
    b = a.copy()
    rng = np.random.default_rng(0)
    flips = 0
    for _ in range(20):
        ca, cb = random_crop([a, b], 16, rng)
        assert ca.shape == (16, 16, 3) and (ca == cb).all()
        flips += int(not (ca[0, 1] - ca[0, 0] == 3).all())
    assert 0 < flips < 20   # both flipped and unflipped crops occur


def test_photos_smaller_than_crop_named(tmp_path):
    save(tmp_path / "ph" / "big.png", gradient(40, 40, 0))
    save(tmp_path / "ph" / "small.png", gradient(20, 30, 0))
    photos = read_photos(tmp_path / "ph")
    photos.check_crop(20)
    with pytest.raises(DataError, match=r"small\.png: image is 30x20, smaller than the crop 32x32"):
        photos.check_crop(32)
    with pytest.raises(DataError, match="no such folder"):
        read_photos(tmp_path / "missing")


@needs(DATA / "facades")
def test_facades_pairs_are_256_squares():
    pairs = read_side_by_side(DATA / "facades" / "test", limit=3)
    assert len(pairs) == 3 and pairs.a.images[0].shape == (256, 256, 3) == pairs.b.images[0].shape
