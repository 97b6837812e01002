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


def test_defaults_are_the_measured_configuration_and_old_runs_keep_theirs():
    from ganforge.config import as_saved
    from ganforge.tasks.video import VideoOptions, VideoPrediction

    opt = VideoOptions()
    assert (opt.recon, opt.teacher, VideoPrediction.run_defaults["lr_g"]) == ("mse", None, 1e-3)
    task = VideoPrediction(VideoOptions(data="builtin:moving_digits?n=12", context=2, predict=2, size=16, width=8))
    assert task.teacher_chance() == 0.5                                  # unet: teacher forcing 0.5 by default
    task = VideoPrediction(VideoOptions(data="builtin:moving_digits?n=12", context=2, predict=2, size=16, width=8,
                                        arch="convgru"))
    assert task.teacher_chance() == 0.0                                  # convgru has none, and that is no error
    old = as_saved(VideoOptions, {"size": 32})                           # saved before teacher and recon existed
    assert (old["teacher"], old["recon"]) == (0.0, "l1")


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
    assert any("eval/psnr" in r for r in records) and any("G/mse" in r for r in records)  # mse by default
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


# ------------------------------------------------------------------ the U-Net predictor, stochastic mode, scores
def test_warp_moves_content_by_the_flow():
    from ganforge.nets.video import warp

    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2, 2] = 1
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0], flow[:, 1] = 2, 1                                     # 2 right, 1 down
    y = warp(x, flow)[0, 0]
    assert y[3, 4] == pytest.approx(1, abs=1e-5) and y.sum() == pytest.approx(1, abs=1e-5)


def test_shift_stack_holds_every_whole_pixel_shift_and_kernels_start_near_the_last_frame():
    from ganforge.nets.video import VideoUNetPredictor, shift_stack

    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 3] = 1
    s = shift_stack(x, 1)                                              # (1, 1, 9, 8, 8): dy, dx in -1..1
    assert s.shape == (1, 1, 9, 8, 8)
    for d, (dy, dx) in enumerate((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
        assert s[0, 0, d, 3 - dy, 3 - dx] == 1 and s[0, 0, d].sum() == 1   # entry d at p is x at p + (dy, dx)
    G = VideoUNetPredictor(channels=1, width=8, z_dim=4, window=2, levels=2, motion="kernels", radius=2).eval()
    smooth = torch.linspace(-1, 1, 16).view(1, 1, 1, 1, 16).expand(1, 2, 1, 16, 16)
    assert (G(smooth, 1)[:, 0] - smooth[:, -1]).abs().mean() < 0.05     # freshly built: about the last frame
    with pytest.raises(ValueError, match="motion"):
        VideoUNetPredictor(motion="affine")


def test_kernel_motion_learns_to_move_a_square_sharply():
    """Two pixels to the right per frame: 150 steps of the kernels predictor move the square and keep its edges."""
    from ganforge.nets.video import VideoUNetPredictor

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)

    def clips(n):
        out = -torch.ones(n, 4, 1, 16, 16)
        for i in range(n):
            y, x = torch.randint(0, 12, (2,), generator=gen).tolist()
            x = min(x, 8)
            for t in range(4):
                out[i, t, 0, y:y + 4, x + 2 * t:x + 2 * t + 4] = 1      # two pixels right per frame
        return out

    G = VideoUNetPredictor(channels=1, width=8, z_dim=2, window=2, levels=2, motion="kernels", radius=2)
    opt = torch.optim.Adam(G.parameters(), 3e-3)
    for _ in range(150):
        c = clips(16)
        loss = (G(c[:, :2], 2) - c[:, 2:]).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = clips(32)
    pred = G.eval()(test[:, :2], 2)
    err = (pred - test[:, 2:]).abs().mean().item()
    copy = (test[:, 1:2].expand(-1, 2, -1, -1, -1) - test[:, 2:]).abs().mean().item()
    assert err < 0.25 * copy
    assert ((pred > -0.8) & (pred < 0.8)).float().mean() < 0.02          # sharp: few in-between pixels


def test_unet_predictor_shapes_window_and_noise():
    from ganforge.nets.video import VideoUNetPredictor

    torch.manual_seed(0)
    G = VideoUNetPredictor(channels=3, width=8, z_dim=4, window=3, levels=2)
    ctx = torch.rand(2, 2, 3, 16, 16) * 2 - 1                          # fewer frames than the window
    pred = G(ctx, 5, torch.randn(2, 4))
    assert pred.shape == (2, 5, 3, 16, 16) and pred.abs().max() <= 1
    with torch.no_grad():                                               # the noise reaches the output
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        a, b = G(ctx, 2, torch.zeros(2, 4)), G(ctx, 2, torch.ones(2, 4))
    assert (a - b).abs().max() > 1e-4
    at_start = VideoUNetPredictor(channels=1, width=8, z_dim=4, window=2, levels=2).eval()
    still = torch.rand(1, 2, 1, 16, 16) * 2 - 1
    assert (at_start(still, 1)[:, 0] - still[:, -1]).abs().mean() < 0.05      # freshly built: the last frame
    # teacher forcing: with every true frame fed back, step 2 is the one-step prediction from the truth
    truth = torch.rand(1, 2, 1, 16, 16) * 2 - 1
    forced = at_start(still, 2, truth=truth, keep=torch.ones(1, 2, dtype=torch.bool))
    assert torch.allclose(forced[:, 1], at_start(torch.cat([still[:, 1:], truth[:, :1]], 1), 1)[:, 0], atol=1e-6)
    assert not torch.allclose(forced[:, 1], at_start(still, 2)[:, 1], atol=1e-6)


def test_unet_is_the_default_and_convgru_still_trains(tmp_path):
    from ganforge.nets.video import VideoUNetPredictor

    small = dict(TINY, steps=2, eval_every=1000)
    unet = ganforge.train("video", data="builtin:moving_digits?n=12", context=2, predict=2, size=16,
                          out=tmp_path / "u", **small)
    assert unet.options.arch == "unet" and isinstance(unet.G, VideoUNetPredictor)
    gru = ganforge.train("video", data="builtin:moving_digits?n=12", context=2, predict=2, size=16, arch="convgru",
                         adv_weight=0, out=tmp_path / "g", **small)
    assert isinstance(gru.G, VideoPredictorNet) and gru.predict(np.zeros((1, 2, 16, 16, 1), np.uint8)).shape == \
        (1, 2, 16, 16, 1)
    with pytest.raises(ConfigError, match="arch"):
        ganforge.train("video", arch="lstm", out="unused", dry_run=True, steps=1)
    with pytest.raises(ConfigError, match="teacher forcing .* needs arch unet"):
        ganforge.train("video", arch="convgru", teacher=0.5, out="unused", dry_run=True, steps=1)
    with pytest.raises(ConfigError, match="motion kernels needs arch unet"):
        ganforge.train("video", arch="convgru", motion="kernels", out="unused", dry_run=True, steps=1)
    with pytest.raises(ConfigError, match="variety must be positive"):
        ganforge.train("video", variety=0, out="unused", dry_run=True, steps=1)


def test_model_file_from_before_arch_loads_as_convgru(tmp_path):
    """Files written before ``arch`` and ``variety`` (a ConvGRU, options without them) load and predict."""
    from ganforge import artifact

    old = ganforge.train("video", data="builtin:moving_digits?n=12", context=2, predict=3, size=16, arch="convgru",
                         out=tmp_path / "r", **dict(TINY, steps=2, eval_every=1000))
    ctx = np.random.default_rng(0).integers(0, 255, (2, 2, 16, 16, 1), dtype=np.uint8)
    expected = old.predict(ctx, seed=3)
    tensors, meta = artifact.load(tmp_path / "r" / "model.safetensors")
    for key in ("arch", "variety"):
        del meta["options"][key]
    artifact.save(tmp_path / "old.safetensors", tensors, meta)
    model = ganforge.load(tmp_path / "old.safetensors")
    assert model.options.arch == "convgru" and isinstance(model.G, VideoPredictorNet)
    assert (model.predict(ctx, seed=3) == expected).all()
    # and the run folder of such a run resumes as the ConvGRU it was (before, it built a U-Net and failed)
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    for key in ("arch", "variety"):
        del config["options"][key]
    (tmp_path / "r" / "config.json").write_text(json.dumps(config))
    resumed = ganforge.resume(tmp_path / "r", steps=3)
    assert resumed.options.arch == "convgru" and isinstance(resumed.G, VideoPredictorNet)
    assert resumed.meta["step"] == 3


def test_variety_trains_best_of_k_and_futures_differ(tmp_path):
    from ganforge.tasks.video import VideoPrediction, VideoOptions

    task = VideoPrediction(VideoOptions(data="builtin:moving_digits?n=12", context=2, predict=2, size=16, width=8,
                                        z_dim=4, variety=3, recon="l1", teacher=0.0))
    gen = torch.Generator().manual_seed(0)
    batch = task.sample_batch(4, gen, torch.device("cpu"))
    G = task.modules["G"]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    recon, pred = task._best_of_k(G, batch, gen)
    assert pred.shape == (12, 2, 1, 16, 16)
    per = (pred - batch[:, 2:].repeat(3, 1, 1, 1, 1)).abs().flatten(1).mean(1).view(3, 4)
    assert recon.item() == pytest.approx(per.min(0).values.mean().item(), rel=1e-5)
    assert recon.item() < per.mean().item()                             # best of 3 beats their average
    loss, logs = task.loss("G", batch, task.modules, gen)
    assert loss.requires_grad and "G/adv" in logs and "G/l1" in logs
    task.options.recon, task.options.teacher, task.options.teacher_steps = "mse", 0.5, 10
    task.load_state_dict({"g_steps": 4})
    assert task.teacher_chance() == pytest.approx(0.3)                  # scheduled sampling: 0.5 -> 0 in 10 steps
    loss, logs = task.loss("G", batch, task.modules, gen)
    assert loss.requires_grad and "G/mse" in logs and task.state_dict() == {"g_steps": 5}
    task.load_state_dict({"g_steps": 12})
    assert task.teacher_chance() == 0


def test_video_scores_frechet_diversity_best_of_k():
    from ganforge.metrics.features import load_features
    from ganforge.metrics.video import best_of_k, clip_frechet, diversity, frame_frechet

    clips, _ = moving_digits(40, 6, 32, 2, seed=1)
    x = clips[..., None]
    copy = np.repeat(x[:, 2:3], 3, axis=1)
    pixels = load_features("pixels")
    same = frame_frechet(pixels, x[:, 3:], x[:, 3:])
    other = frame_frechet(pixels, copy, x[:, 3:])
    assert same["pooled"] < 1e-6 and len(other["per_frame"]) == 3 and other["pooled"] > 1e-3
    assert clip_frechet(pixels, x[:, 3:], x[:, 3:], components=4) < 1e-6
    assert clip_frechet(pixels, copy, x[:, 3:], components=4) > 1e-3
    futures = np.stack([copy, x[:, 3:]])
    assert best_of_k(futures, x[:, 3:])["psnr"] == [100.0] * 3          # the true future is among them
    d = diversity(futures)
    assert d["pixel_std"] > 0 and diversity(np.stack([copy, copy]))["pairwise_l1"] == 0
    with pytest.raises(DataError, match="expected uint8 clips"):
        frame_frechet(pixels, copy.astype(np.float32), x[:, 3:])
    with pytest.raises(DataError, match="K >= 2 futures"):
        diversity(copy[None])
