"""Pictures and latent paths: grids, animations, curves, slerp."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.imaging import media
from ganforge.errors import GanforgeError
from ganforge.predict.latent import looping_walk, slerp


def test_to_uint8_maps_minus_one_to_zero_and_one_to_255():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    assert media.to_uint8(x).ravel().tolist() == [0, 128, 255, 255]


def test_grid_places_images_in_rows_with_padding():
    images = np.stack([np.full((4, 4, 3), i * 40, np.uint8) for i in range(5)])
    g = media.grid(images, nrow=3, pad=1)
    assert g.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    assert g[1, 1, 0] == 0 and g[1, 6, 0] == 40 and g[6, 6, 0] == 160 and g[6, 11, 0] == 255  # last cell empty


def test_animations_gif_and_mp4(tmp_path):
    frames = [np.full((20, 30, 1), i * 20, np.uint8) for i in range(8)]
    gif = media.save_animation(tmp_path / "a.gif", frames, fps=8)
    assert Image.open(gif).n_frames == 8
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        pytest.skip("imageio-ffmpeg not installed")
    mp4 = media.save_animation(tmp_path / "a.mp4", frames, fps=8)
    assert mp4.stat().st_size > 0 and mp4.read_bytes()[4:8] == b"ftyp"
    with pytest.raises(GanforgeError, match="written as .gif or .mp4"):
        media.save_animation(tmp_path / "a.avi", frames)


def test_loss_curves_are_drawn_from_metrics(tmp_path):
    lines = [json.dumps({"step": s, "loss/D": 1.0 / s, "loss/G": s / 10, "D/real": 0.1}) for s in range(1, 20)]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    out = media.plot_curves(tmp_path / "m.jsonl", tmp_path / "c.png")
    assert Image.open(out).size[0] > 600


def test_slerp_stays_on_the_sphere_and_hits_its_ends():
    a, b = torch.randn(5, 64), torch.randn(5, 64)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    torch.testing.assert_close(slerp(a, b, 0.5).norm(dim=1), a.norm(dim=1))
    torch.testing.assert_close(slerp(a, a, 0.3), a)  # identical ends: no division by zero


def test_looping_walk_returns_to_its_start():
    zs = looping_walk(8, walks=3, keys=4, frames_per_key=5, seed=1)
    assert zs.shape == (20, 3, 8)
    step = (zs[1:] - zs[:-1]).norm(dim=-1).max()
    assert (zs[-1] - zs[0]).norm(dim=-1).max() < 2 * step  # last frame is one step from the first
