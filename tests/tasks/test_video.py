"""Video prediction: clip readers and bad input, network shapes, a tiny training, apply_path, the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
import ganforge.data.video as video_data
from ganforge.cli.app import app
from ganforge.data.video import load_videos, moving_digits
from ganforge.errors import ConfigError, DataError
from ganforge.nets.video import VideoCritic, VideoPredictorNet
from ganforge.tasks.video import score_predictions
from tests.shared import DATA, needs

torch.set_num_threads(1)
TINY = dict(steps=6, batch=8, width=8, z_dim=4, precision="fp32", threads=1, progress=False, eval_every=3,
            checkpoint_every=1000, log_every=3)


def test_moving_digits_are_seeded_and_bounce_inside_the_frame():
    a, kind = moving_digits(3, 20, 32, 2, seed=4)
    b, _ = moving_digits(3, 20, 32, 2, seed=4)
    c, _ = moving_digits(3, 20, 32, 2, seed=5)
    assert a.shape == (3, 20, 32, 32) and a.dtype == np.uint8
    assert (a == b).all() and not (a == c).all()
    assert (a.reshape(3, 20, -1).max(-1) > 100).all()          # a digit is visible in every frame
    assert not (a[:, 0] == a[:, 5]).all()                        # and moves
    assert kind in ("mnist", "glyphs")


@needs(DATA / "mnist")
def test_moving_digits_use_mnist_when_present():
    assert moving_digits(1, 2, 32, 1, 0)[1] == "mnist"


def test_moving_digits_fall_back_to_font_glyphs(monkeypatch):
    monkeypatch.setattr(video_data, "_mnist_dir", lambda: None)
    clips, kind = moving_digits(2, 4, 32, 1, 0)
    assert kind == "glyphs" and clips.max() > 100


def test_builtin_clips_and_options():
    v = load_videos("builtin:moving_digits?n=12&digits=1&seed=2", 6, 32)
    assert tuple(v.clips.shape) == (12, 6, 1, 32, 32) and v.describe()["frames"] == 6
    with pytest.raises(DataError, match="unknown option"):
        load_videos("builtin:moving_digits?speed=3", 6, 32)
    with pytest.raises(DataError, match="unknown built-in video set"):
        load_videos("builtin:rain", 6, 32)


def test_npy_and_video_files_are_cut_into_clips(tmp_path):
    np.save(tmp_path / "a.npy", np.random.default_rng(0).integers(0, 255, (3, 13, 40, 48), dtype=np.uint8))
    v = load_videos(str(tmp_path / "a.npy"), 6, 32)
    assert tuple(v.clips.shape) == (6, 6, 1, 32, 32)             # 2 windows of 6 from each 13-frame video
    folder = tmp_path / "vids"
    folder.mkdir()
    frames = np.zeros((10, 32, 32, 3), np.uint8)
    for t in range(10):
        frames[t, 8:24, t:t + 16, 0] = 200                      # moving: GIF writers merge equal frames
    import imageio.v3 as iio
    iio.imwrite(folder / "red.gif", frames, extension=".gif", duration=100, loop=0)
    iio.imwrite(folder / "short.gif", frames[:3], extension=".gif", duration=100, loop=0)
    v = load_videos(str(folder), 8, 16)
    assert tuple(v.clips.shape) == (1, 8, 3, 16, 16) and v.videos == 1   # the 3-frame video is skipped


def test_bad_video_input(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((1, 32, 32), np.uint8))
    with pytest.raises(DataError, match="no video with at least 12 frames"):
        load_videos(str(tmp_path / "one.npy"), 12, 32)
    np.save(tmp_path / "flat.npy", np.zeros((5, 5), np.uint8))
    with pytest.raises(DataError, match="expected an array"):
        load_videos(str(tmp_path / "flat.npy"), 4, 32)
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(DataError, match="cannot read this video"):
        load_videos(str(tmp_path / "broken.mp4"), 4, 32)
    with pytest.raises(DataError, match="no such file"):
        load_videos(str(tmp_path / "missing"), 4, 32)


def test_network_shapes():
    G, D = VideoPredictorNet(channels=3, width=8, z_dim=4), VideoCritic(channels=3, width=8)
    ctx = torch.rand(2, 4, 3, 32, 32) * 2 - 1
    pred = G(ctx, 5, torch.randn(2, 4))
    assert pred.shape == (2, 5, 3, 32, 32) and pred.abs().max() <= 1
    assert D(torch.cat([ctx, pred], 1)).shape == (2,)


def test_options_are_validated():
    with pytest.raises(ConfigError, match="predict must be at least 1"):
        ganforge.train("video", predict=0, out="unused", dry_run=True, steps=1)
    with pytest.raises(ConfigError, match="size must be a multiple of 4"):
        ganforge.train("video", size=30, out="unused", dry_run=True, steps=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("video") / "run"
    model = ganforge.train("video", data="builtin:moving_digits?n=40", context=3, predict=4, out=out, **TINY)
    return out, model


def test_training_writes_model_samples_and_scores(run):
    out, model = run
    assert (out / "model.safetensors").exists() and (out / "samples" / "step-000003.gif").exists()
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/psnr" in r for r in records) and any("G/l1" in r for r in records)
    assert model.meta["data"]["held_out"] == 4
    ctx = np.zeros((2, 3, 32, 32, 1), np.uint8)
    pred = model.predict(ctx, 6, seed=1)
    assert pred.shape == (2, 6, 32, 32, 1) and pred.dtype == np.uint8
    assert (model.predict(ctx, 6, seed=1) == pred).all()
    with pytest.raises(DataError, match="needs 3 context frames"):
        model.predict(ctx[:, :2])
    assert (model.apply(ctx, frames=6, seed=1) == pred).all()             # apply is predict with options
    assert model.apply(ctx[0], frames="2").shape == (2, 32, 32, 1)
    assert not model.can("sample") and model.can("apply")
    with pytest.raises(ConfigError, match="does not make samples"):
        model.sample(2)


def test_apply_path_writes_context_prediction_and_truth(run, tmp_path):
    _, model = run
    clip, _ = moving_digits(1, 12, 32, 2, seed=9)
    np.save(tmp_path / "clip.npy", clip[0])
    [gif] = model.apply_path(tmp_path / "clip.npy", tmp_path / "pred.gif")
    im = Image.open(gif)
    assert im.n_frames == 3 + 4 and im.size[0] > 2 * im.size[1] - 20     # prediction beside truth
    [npy] = ganforge.load(run[0]).apply_path(tmp_path / "clip.npy", tmp_path / "pred.npy", frames=6, start=2)
    assert np.load(npy).shape == (6, 32, 32, 1)
    np.save(tmp_path / "short.npy", clip[0, :2])
    with pytest.raises(DataError, match="needs 3 context frames"):
        model.apply_path(tmp_path / "short.npy", tmp_path / "x.gif")
    with pytest.raises(ConfigError, match="unknown option 'speed'"):
        model.apply_path(tmp_path / "clip.npy", tmp_path / "x.gif", speed=2)
    with pytest.raises(ConfigError, match="option frames: expected a whole number"):
        model.apply_path(tmp_path / "clip.npy", tmp_path / "x.gif", frames="many")
    [gif] = model.apply_path(tmp_path / "clip.npy", tmp_path / "s.gif", frames="2", seed="3")   # CLI strings
    assert Image.open(gif).n_frames == 5
    pred = model.apply(tmp_path / "clip.npy", frames=6, start=2)          # a file in, the predicted frames out
    assert np.array_equal(pred, np.load(npy))
    calls = []
    model.apply_path(tmp_path / "clip.npy", tmp_path / "p.npy", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 1), (1, 1)]


def test_video_run_defaults_are_the_old_cli_ones():
    from ganforge.api import resolve

    run, options = resolve("video", {})
    assert (run.steps, run.batch, run.eval_every) == (2000, 32, 500) and options.data == "builtin:moving_digits"


def test_scores_against_copy_last_frame():
    clips, _ = moving_digits(4, 6, 32, 1, seed=0)
    x = clips[..., None]
    copy = np.repeat(x[:, 2:3], 3, axis=1)
    s = score_predictions(x[:, 3:6], x[:, 3:6])
    c = score_predictions(copy, x[:, 3:6])
    assert s["psnr"] == [100.0] * 3 and all(v > 0.99 for v in s["ssim"])
    assert c["psnr"][0] > c["psnr"][2] and c["psnr"][0] < 100          # copying gets worse with time


def test_cli_train_video(tmp_path):
    r = CliRunner().invoke(app, ["train", "video", "--data", "builtin:moving_digits?n=20", "--context", "2",
                                 "--predict", "2", "--steps", "2", "--batch", "4", "--width", "8",
                                 "--out", str(tmp_path / "r"), "--quiet", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    assert ganforge.load(tmp_path / "r").horizon == 2
    r = CliRunner().invoke(app, ["train", "video", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "q")])
    assert r.exit_code == 1 and "no such file or folder" in r.output


def test_mp4_in_and_out(run, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    from ganforge.imaging import media

    clip, _ = moving_digits(1, 10, 32, 1, seed=3)
    media.save_animation(tmp_path / "clip.mp4", list(np.repeat(clip[0][..., None], 3, -1)), fps=8)
    v = load_videos(str(tmp_path / "clip.mp4"), 7, 32)
    assert tuple(v.clips.shape) == (1, 7, 1, 32, 32)                # H.264 RGB of grey frames read back as grey
    _, model = run
    [mp4] = model.apply_path(tmp_path / "clip.mp4", tmp_path / "pred.mp4")
    assert mp4.stat().st_size > 1000
