"""Latent tools: walks (ends exact, GIF fallback), arithmetic, inversion, directions, latent files, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.predict import latent
from ganforge import nets
from ganforge.cli.app import app
from ganforge.errors import ConfigError, DataError
from ganforge.nets.standing import standing_stats
from ganforge.tasks.generate import ImageGenerator, ImageOptions, generator_inputs

torch.set_num_threads(1)


def tiny_generator(z_dim=8, size=16, channels=1, seed=0) -> ImageGenerator:
    """An untrained DCGAN generator with measured batch-norm statistics: a fixed, smooth map z -> image."""
    torch.manual_seed(seed)
    G = standing_stats(nets.build("G", arch="dcgan", z_dim=z_dim, size=size, channels=channels, width=16),
                       generator_inputs(z_dim))
    opts = ImageOptions(size=size, channels=channels, z_dim=z_dim, arch="dcgan", width=16)
    from ganforge.config import to_dict
    return ImageGenerator({"G": G}, {"task": "image", "options": to_dict(opts), "step": 0,
                                     "data": {"fingerprint": "x"}})


@pytest.fixture(scope="module")
def cond_model(tmp_path_factory):
    return ganforge.train("image", data="builtin:digits", out=tmp_path_factory.mktemp("lat") / "run", size=16,
                          steps=3, batch=8, width=8, z_dim=8, precision="fp32", threads=1, progress=False,
                          eval_every=1000, checkpoint_every=1000, conditional=True)


def test_lerp_and_slerp_ends_and_norms():
    a, b = torch.randn(3, 64), torch.randn(3, 64)
    path = latent.interpolate(a, b, 7, "slerp")
    assert path.shape == (7, 3, 64) and torch.equal(path[0], a) and torch.equal(path[-1], b)
    assert torch.allclose(latent.lerp(a, b, 0.5), (a + b) / 2)
    mid_norm = latent.slerp(a, b, 0.5).norm(dim=1)
    assert (mid_norm > 0.8 * a.norm(dim=1).minimum(b.norm(dim=1))).all()  # stays on the shell, lerp would not
    with pytest.raises(ConfigError, match="frames"):
        latent.interpolate(a, b, 1)
    with pytest.raises(ConfigError, match="slerp or lerp"):
        latent.interpolate(a, b, 4, "cubic")


def test_walk_endpoints_are_the_seeds_images(cond_model, tmp_path):
    m = tiny_generator()
    frames = latent.walk_images(m, latent.endpoint(m, 3), latent.endpoint(m, 11), frames=6, mode="lerp")
    assert np.array_equal(frames[0], m.sample(1, seed=3)[0]) and np.array_equal(frames[-1], m.sample(1, seed=11)[0])
    c = cond_model
    frames = latent.walk_images(c, latent.endpoint(c, 3, "7"), latent.endpoint(c, 11, "7"), frames=5)
    assert np.array_equal(frames[0], c.sample(1, seed=3, condition="7")[0])
    assert np.array_equal(frames[-1], c.sample(1, seed=11, condition="7")[0])
    path, note = latent.write_walk(m, tmp_path / "w.gif", latent.endpoint(m, 1), latent.endpoint(m, 2), frames=5, fps=5)
    assert note is None and Image.open(path).n_frames == 5


def test_mp4_without_encoder_falls_back_to_gif(monkeypatch, tmp_path):
    import imageio.v3 as iio

    real = iio.imwrite

    def no_ffmpeg(uri, image, **kw):
        if kw.get("extension") == ".mp4":
            raise RuntimeError("ffmpeg not found")
        return real(uri, image, **kw)

    monkeypatch.setattr(iio, "imwrite", no_ffmpeg)
    m = tiny_generator()
    path, note = latent.write_walk(m, tmp_path / "w.mp4", latent.endpoint(m, 1), latent.endpoint(m, 2), frames=4)
    assert path == tmp_path / "w.gif" and path.is_file() and not (tmp_path / "w.mp4").exists()
    assert "no MP4 encoder" in note and "GIF" in note


def test_arithmetic_and_mean_latents():
    m = tiny_generator()
    mean = latent.mean_latent(m, "1,2,4-5")
    expected = torch.cat([m.latents(1, seed=s) for s in (1, 2, 4, 5)]).mean(0, keepdim=True)
    assert torch.allclose(mean, expected)
    a, b, c = (latent.mean_latent(m, s) for s in ("1", "2", "3"))
    assert torch.allclose(latent.arithmetic(a, b, c), a - b + c)
    # a "classifier" that calls an image class 1 when it is brighter than the batch's average
    def bright_or_dark(images):
        v = torch.as_tensor(images.reshape(len(images), -1).mean(1), dtype=torch.float32)
        return torch.stack([v.mean() - v, v - v.mean()], 1)

    bright = latent.mean_latent(m, classifier=bright_or_dark, target=1, n=200)
    dark = latent.mean_latent(m, classifier=bright_or_dark, target=0, n=200)
    assert m.generate(bright).mean() > m.generate(dark).mean()
    with pytest.raises(ConfigError, match="not a seed"):
        latent.parse_seeds("1,x")


def test_inversion_recovers_a_known_latent(tmp_path):
    m = tiny_generator()
    z_true = m.latents(3, seed=42)
    target = torch.from_numpy(m.generate(z_true)).permute(0, 3, 1, 2)
    found = latent.invert(m, target, steps=200, lr=0.05, candidates=64)
    assert found.meta["psnr"] > 30 and found.meta["ssim"] > 0.9
    assert found.reconstruction.shape == target.shape
    latent.save_latent(tmp_path / "l.safetensors", found, m)
    back = latent.load_latent(tmp_path / "l.safetensors", m)
    assert torch.equal(back.z, found.z) and back.meta["psnr"] == pytest.approx(found.meta["psnr"])
    with pytest.raises(ConfigError, match="z has 16"):
        latent.load_latent(tmp_path / "l.safetensors", tiny_generator(z_dim=16))


def test_conditional_inversion_finds_the_class_and_encoder_start(cond_model, tmp_path):
    z = cond_model.latents(2, seed=7)
    y = torch.tensor([2, 5])
    target = torch.from_numpy(cond_model.generate(z, y=y)).permute(0, 3, 1, 2)
    fixed = latent.invert(cond_model, target, classes=["2", "5"], steps=30)
    assert fixed.y.tolist() == [2, 5] and fixed.meta["classes"] == ["2", "5"]
    free = latent.invert(cond_model, target, steps=30)
    assert free.y is not None and free.meta["psnr"] >= fixed.meta["psnr"] - 3
    enc = latent.train_encoder(cond_model, tmp_path / "e.safetensors", steps=5, batch=8)
    assert enc is not None
    started = latent.invert(cond_model, target, steps=5, encoder=tmp_path / "e.safetensors")
    assert started.z.shape == (2, 8)


def test_inverting_images_of_another_size_or_channel_count(tmp_path):
    m = tiny_generator()
    rgb = np.zeros((40, 30, 3), np.uint8)
    rgb[10:30, 5:25] = (200, 100, 50)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    x, notes = latent.load_target(tmp_path / "rgb.png", m)
    assert x.shape == (1, 1, 16, 16) and any("resized to 16x16" in n for n in notes) \
        and any("colour converted to grey" in n for n in notes)
    with pytest.raises(ConfigError, match=r"rgb.png is 30x40, the model makes 16x16"):
        latent.invert(m, tmp_path / "rgb.png", resize=False, steps=1)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png: cannot read this image"):
        latent.invert(m, tmp_path / "bad.png", steps=1)


def test_pca_and_supervised_directions(tmp_path):
    m = tiny_generator()
    d = latent.pca_directions(m, k=4, n=300)
    assert d.names == ["pc0", "pc1", "pc2", "pc3"] and torch.allclose(d.vectors.norm(dim=1), torch.ones(4), atol=1e-5)
    ev = d.meta["explained_variance"]
    assert ev == sorted(ev, reverse=True)
    z = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    labels = (z[:, 2] - z[:, 5] > 0).long()
    s = latent.supervised_directions(z, labels, ["low", "high"])
    expected = torch.zeros(8)
    expected[2], expected[5] = 1, -1
    assert s.names == ["low", "high"] and float(s.get("high") @ expected / expected.norm()) > 0.9
    moved = latent.apply_direction(z[:5], s.get("high"), 3.0)
    assert torch.allclose((moved - z[:5]).norm(dim=1), torch.full((5,), 3.0), atol=1e-4)
    latent.save_directions(tmp_path / "d.safetensors", s, m)
    back = latent.load_directions(tmp_path / "d.safetensors", m)
    assert back.names == s.names and torch.equal(back.vectors, s.vectors)
    with pytest.raises(ConfigError, match="unknown direction 'smile'"):
        back.get("smile")
    with pytest.raises(DataError, match="at least 2 classes"):
        latent.supervised_directions(z, torch.zeros(400), None)


def test_cli_walk_invert_directions_edit(cond_model, tmp_path):
    model = str(cond_model.path)
    run = lambda *a: CliRunner().invoke(app, [str(x) for x in a])  # noqa: E731
    r = run("walk", model, "--from", "1", "--to", "2", "--frames", "4", "--class", "3", "-o", tmp_path / "w.gif")
    assert r.exit_code == 0 and Image.open(tmp_path / "w.gif").n_frames == 4, r.output
    r = run("walk", model, "--from", "1", "-o", tmp_path / "w.gif")
    assert r.exit_code == 1 and "give both ends" in r.output
    cond_model.sample(1, seed=5, condition="3", as_pil=True)[0].save(tmp_path / "three.png")
    r = run("invert", model, "--image", tmp_path / "three.png", "--class", "3", "--steps", "10", "-o",
            tmp_path / "three.safetensors")
    assert r.exit_code == 0 and "PSNR" in r.output and "class 3" in r.output, r.output
    r = run("edit", model, "--latent", tmp_path / "three.safetensors", "--to-class", "8", "-o", tmp_path / "e.png")
    assert r.exit_code == 0, r.output
    lat = latent.load_latent(tmp_path / "three.safetensors")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "e.png")),
                          cond_model.generate(lat.z, y=torch.tensor([8]))[0, ..., 0])
    r = run("directions", model, "--k", "3", "--n", "100", "-o", tmp_path / "d.safetensors")
    assert r.exit_code == 0 and "pc0, pc1, pc2" in r.output, r.output
    r = run("edit", model, "--image", tmp_path / "three.png", "--steps", "5", "--directions", tmp_path / "d.safetensors",
            "--direction", "pc1", "--strength", "2", "-o", tmp_path / "p.png", "--side-by-side")
    assert r.exit_code == 0, r.output
    r = run("edit", model, "--latent", tmp_path / "three.safetensors", "--to-class", "eleven", "-o", tmp_path / "x.png")
    assert r.exit_code == 1 and "unknown class 'eleven'" in r.output
    r = run("encoder", model, "--steps", "3", "--batch", "4", "-o", tmp_path / "enc.safetensors")
    assert r.exit_code == 0, r.output
    r = run("invert", model, "--image", tmp_path / "three.png", "--encoder", tmp_path / "enc.safetensors", "--steps",
            "2", "-o", tmp_path / "t2.safetensors")
    assert r.exit_code == 0, r.output
    r = run("arithmetic", model, "--a", "1,2", "--b", "3", "--c", "4-6", "--class", "1", "-o", tmp_path / "a.png")
    assert r.exit_code == 0 and Image.open(tmp_path / "a.png").size[0] > 4 * 16, r.output


def test_predictor_walk_looping_and_between_ends(cond_model, tmp_path, caplog, monkeypatch):
    m = tiny_generator()
    path = m.walk(tmp_path / "loop.gif", walks=4)
    assert path == tmp_path / "loop.gif" and Image.open(path).n_frames == 4 * m.options.walk_frames
    path = m.walk(tmp_path / "ab.gif", start="3", end="11", frames=5, mode="lerp")
    im = Image.open(path)
    assert im.n_frames == 5
    path = cond_model.walk(tmp_path / "c.gif", start=1, end=2, frames=4, condition="3")
    assert Image.open(path).n_frames == 4
    cond_model.walk(tmp_path / "cl.gif", walks=2, condition="5")
    with pytest.raises(ConfigError, match="give both ends"):
        m.walk(tmp_path / "x.gif", start="1")
    with pytest.raises(ConfigError, match="not conditional"):
        m.walk(tmp_path / "x.gif", condition="3")
    import imageio.v3 as iio

    real = iio.imwrite
    monkeypatch.setattr(iio, "imwrite", lambda uri, image, **kw: (_ for _ in ()).throw(RuntimeError("no ffmpeg"))
                        if kw.get("extension") == ".mp4" else real(uri, image, **kw))
    with caplog.at_level("WARNING", logger="ganforge"):
        path = m.walk(tmp_path / "w.mp4", start=1, end=2, frames=3)
    assert path.suffix == ".gif" and "no MP4 encoder" in caplog.text


def test_verbs_from_python(cond_model, tmp_path):
    """Each latent verb does what its command did and returns the lines it printed."""
    m = cond_model
    assert set(m.verbs()) >= {"invert", "edit", "directions", "encoder", "arithmetic"}
    m.sample(1, seed=5, condition="3", as_pil=True)[0].save(tmp_path / "three.png")
    out = m.invert(image=tmp_path / "three.png", cls="3", steps=5, output=tmp_path / "l.safetensors",
                   preview=tmp_path / "pv.png")
    assert out.splitlines()[0].startswith("PSNR") and "class 3" in out and out.endswith(f"wrote {tmp_path / 'l.safetensors'}")
    assert Image.open(tmp_path / "pv.png").size[0] > 2 * 16
    with pytest.raises(TypeError, match="'image'"):             # a required flag in the CLI
        m.invert(output=tmp_path / "x.safetensors")
    out = m.edit(latent=tmp_path / "l.safetensors", to_class="8", output=tmp_path / "e.png")
    lat = latent.load_latent(tmp_path / "l.safetensors")
    assert out == f"wrote {tmp_path / 'e.png'}"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "e.png")), m.generate(lat.z, y=torch.tensor([8]))[0, ..., 0])
    with pytest.raises(ConfigError, match="say what to change"):
        m.edit(latent=tmp_path / "l.safetensors", output=tmp_path / "e.png")
    with pytest.raises(ConfigError, match="give one input"):
        m.edit(to_class="1", output=tmp_path / "e.png")
    out = m.directions(k=2, n=50)  # default: directions.safetensors beside the model
    assert out.splitlines() == ["2 directions: pc0, pc1", f"wrote {m.path.parent / 'directions.safetensors'}"]
    m.edit(latent=tmp_path / "l.safetensors", direction="pc1", strength=1.5, output=tmp_path / "d.png",
           side_by_side=True)
    assert Image.open(tmp_path / "d.png").size[0] > 2 * 16
    with pytest.raises(ConfigError, match="pca or classifier"):
        m.directions(method="magic")
    assert m.encoder(output=tmp_path / "enc.safetensors", steps=2, batch=4) == f"wrote {tmp_path / 'enc.safetensors'}"
    assert "(A, B, C, A - B + C)" in m.arithmetic(a="1,2", b="3", c="4-5", cls="1", output=tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").size[0] > 4 * 16
    with pytest.raises(TypeError, match="'b'"):
        m.arithmetic(a="1", output=tmp_path / "a.png")
