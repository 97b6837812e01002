"""Text-to-image: caption readers and bad input, built-in scenes and their parser, the vocabulary, networks,
a tiny training, sampling by caption, sentence interpolation, the CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.data.captions import load_captions, parse_scene, scene_caption, scenes
from ganforge.errors import ConfigError, DataError
from ganforge.nets.text2image import TextToImageDiscriminator, TextToImageGenerator
from ganforge.tasks.text2image import Vocabulary

torch.set_num_threads(1)
TINY = dict(steps=4, batch=8, width=8, z_dim=8, text_dim=16, precision="fp32", threads=1, progress=False,
            eval_every=2, checkpoint_every=1000, log_every=2, sample_grid=2)


def test_scenes_are_seeded_and_captions_parse_back():
    a, attrs = scenes(6, seed=1)
    b, _ = scenes(6, seed=1)
    assert a.shape == (6, 32, 32, 3) and (a == b).all()
    for at in attrs:
        assert parse_scene(scene_caption(at)) == at
    _, one = scenes(3, seed=0, objects=1)
    assert "at the" in scene_caption(one[0]) and parse_scene(scene_caption(one[0])) == one[0]
    assert parse_scene("A small RED circle above a large blue square.")["b"] == \
        {"size": "large", "colour": "blue", "shape": "square"}
    assert parse_scene("a purple cat") is None


def test_scene_pixels_follow_the_caption():
    images, attrs = scenes(40, seed=2)
    for im, at in zip(images, attrs):
        if at["a"]["colour"] == "red" and at["b"]["colour"] != "red" and at["relation"] == "above":
            red = (im[..., 0] > 150) & (im[..., 1] < 100) & (im[..., 2] < 100)
            ys = np.nonzero(red)[0]
            assert ys.mean() < 16          # the red object is the upper one
            return
    pytest.fail("no red-above scene in the sample")


def write_images(folder, n=4):
    folder.mkdir(exist_ok=True)
    images, attrs = scenes(n, seed=3)
    for i, im in enumerate(images):
        Image.fromarray(im).resize((40, 48)).save(folder / f"im{i}.png")
    return attrs


def test_csv_with_several_captions_and_empty_ones(tmp_path, caplog):
    attrs = write_images(tmp_path / "img")
    rows = ["image,caption"] + [f"img/im{i}.png,{scene_caption(a)}" for i, a in enumerate(attrs)]
    rows += ["img/im0.png,another caption", "img/im1.png,", "img/missing.png,a red square"]
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n")
    d = load_captions(str(tmp_path / "c.csv"), size=16)
    assert tuple(d.images.shape) == (4, 3, 16, 16) and d.captions[0] == [scene_caption(attrs[0]), "another caption"]
    text = caplog.text
    assert "line 7: empty caption; skipped" in text and "missing.png: image not found" in text
    (tmp_path / "bad.csv").write_text("file,text\na.png,x\n")
    with pytest.raises(DataError, match="needs the columns 'image' and 'caption'"):
        load_captions(str(tmp_path / "bad.csv"))


def test_txt_sidecars(tmp_path, caplog):
    write_images(tmp_path / "f", 3)
    (tmp_path / "f" / "im0.txt").write_text("a red circle\n\nthe red circle\n")
    (tmp_path / "f" / "im1.txt").write_text("\n\n")
    d = load_captions(str(tmp_path / "f"), size=16)
    assert len(d) == 1 and d.captions == [["a red circle", "the red circle"]]
    assert "2 empty caption line(s) skipped" in caplog.text and "1 image(s) without a .txt" in caplog.text
    write_images(tmp_path / "bare", 2)
    with pytest.raises(DataError, match="no images with non-empty .txt"):
        load_captions(str(tmp_path / "bare"))


def test_vocabulary():
    v = Vocabulary.build(["A red circle", "a blue square."])
    assert v.words[2:] == ["a", "blue", "circle", "red", "square"]
    t = v.encode(["a red circle", "square"])
    assert t.shape == (2, 3) and t[1, 1:].eq(0).all()
    assert v.encode(["a purple circle"])[0, 1] == 1           # unknown -> <unk> in training data
    with pytest.raises(ConfigError, match="unknown word"):
        v.encode(["a purple circle"], strict=True)


def test_network_shapes():
    G = TextToImageGenerator(z_dim=8, text_dim=16, width=8, size=32)
    D = TextToImageDiscriminator(vocab=10, text_dim=16, width=8, size=32)
    s = D.encoder(torch.tensor([[2, 3, 0], [4, 0, 0]]))
    x = G(torch.randn(2, 8), s)
    assert s.shape == (2, 16) and x.shape == (2, 3, 32, 32) and D(x, s).shape == (2,)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("t2i") / "run"
    return out, ganforge.train("text2image", data="builtin:scenes?n=40", out=out, **TINY)


def test_training_sampling_and_interpolation(run, tmp_path):
    out, model = run
    assert (out / "samples" / "step-000002.png").exists() and (out / "interpolation.gif").exists()
    assert len((out / "samples" / "captions.txt").read_text().splitlines()) == 2
    a = model.sample(3, seed=1, condition="a small red circle above a large blue square")
    assert a.shape == (3, 32, 32, 3) and a.dtype == np.uint8
    reloaded = ganforge.load(out)
    assert (reloaded.sample(3, seed=1, condition="a small red circle above a large blue square") == a).all()
    assert model.sample(2, seed=0, condition=["a red circle", "a blue square"]).shape == (2, 32, 32, 3)
    assert model.sample(5).shape == (5, 32, 32, 3)               # captions drawn from the training data
    path = model.interpolate("a red circle", "a blue square", tmp_path / "m.gif", n=2, steps=4)
    assert Image.open(path).n_frames == 6
    with pytest.raises(ConfigError, match="unknown word"):
        model.sample(1, condition="a purple cat")
    assert model.walk(tmp_path / "w.gif", seed=0, walks=2).exists()
    with pytest.raises(ConfigError, match="takes no start"):
        model.walk(tmp_path / "w.gif", start="1")


def test_model_file_and_run_defaults(run):
    from safetensors import safe_open

    from ganforge.api import resolve
    from ganforge.tasks.text2image import Text2ImageOptions

    out, model = run
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        import json
        meta = json.loads(f.metadata()["ganforge"])
    assert meta["nets"]["G"]["class"] == "text2image.TextToImageGenerator"
    assert meta["nets"]["D"]["class"] == "text2image.TextToImageDiscriminator"
    assert isinstance(model.options, Text2ImageOptions) and model.conditions() is None
    assert resolve("text2image", {})[0].batch == 32
    with pytest.raises(ConfigError, match="size must be one of 16, 32, 64"):
        resolve("text2image", {"size": 48})[1].validate()


def test_cli(run, tmp_path):
    out, _ = run
    r = CliRunner().invoke(app, ["sample", str(out), "--text", "a red circle", "--n", "4", "-o", str(tmp_path / "g.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "g.png").exists()
    r = CliRunner().invoke(app, ["sample", str(out), "--text", "a pink elephant", "-o", str(tmp_path / "h.png")])
    assert r.exit_code == 1 and "unknown word(s) 'pink', 'elephant'" in r.output
    r = CliRunner().invoke(app, ["train", "text2image", "--data", "builtin:scenes?n=8", "--steps", "1", "--batch", "2",
                                 "--width", "4", "--out", str(tmp_path / "r"), "--quiet", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["train", "text2image", "--data", str(tmp_path / "none.csv"), "--out",
                                 str(tmp_path / "q")])
    assert r.exit_code == 1 and "no such file or folder" in r.output
