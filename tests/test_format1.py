"""Model files written by ganforge 0.1.0 (format 1, before the networks registry) still load and give
the outputs they gave then. The files and outputs were made by tests/fixtures/format1/make.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ganforge

FIXTURES = Path(__file__).parent / "fixtures" / "format1"
IMG = np.asarray(np.linspace(0, 255, 24 * 30 * 3).reshape(24, 30, 3), np.uint8)
MASK = (np.arange(24 * 30).reshape(24, 30) % 7 < 3).astype(np.uint8) * 255


def _x16():
    import torch
    return torch.linspace(-1, 1, 3 * 256).reshape(3, 1, 16, 16)


CALLS = {
    "image": lambda m: m.sample(4, seed=0),
    "image-conditional": lambda m: m.sample(4, seed=0, condition="3"),
    "table": lambda m: m.sample(10, seed=0).astype(str).to_numpy().astype("U"),
    "series": lambda m: m.sample_arrays(3, seed=0)[0],
    "translate": lambda m: m.apply(IMG),
    "translate-cycle": lambda m: m.apply(IMG, direction="BtoA"),
    "restore": lambda m: m.apply(IMG),
    "saliency": lambda m: m.apply(IMG),
    "anomaly": lambda m: m.score(np.zeros((3, 16, 16), np.uint8) + np.arange(3)[:, None, None].astype(np.uint8) * 60),
    "purifier": lambda m: m.purify(_x16()).numpy(),
    "blend": lambda m: m.blend(IMG, 255 - IMG, MASK),
    "video": lambda m: m.apply(np.zeros((1, 3, 16, 16, 1), np.uint8) + 80),
    "voxels": lambda m: m.sample(2, seed=0),
    "text2image": lambda m: m.sample(2, seed=0),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_format1_file_loads_and_gives_the_same_output(name):
    model = ganforge.load(FIXTURES / f"{name}.safetensors")
    expected = np.load(FIXTURES / f"{name}.npy")
    got = np.asarray(CALLS[name](model))
    assert got.shape == expected.shape
    if expected.dtype.kind in "US":
        assert (got.astype(expected.dtype) == expected).all()
    elif expected.dtype == np.uint8:
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_every_task_has_a_format1_fixture():
    from ganforge import tasks
    covered = {name.split("-")[0] for name in CALLS}
    assert set(tasks.names()) <= covered
