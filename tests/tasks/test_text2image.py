"""Text-to-image: caption readers and bad input, built-in scenes and their parser (and held-out pairs), the
vocabulary, word swaps (hard negatives), pretrained word vectors, networks, a tiny training, sampling by
caption, sentence interpolation, the CLI, model files of the earlier layout."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.data.captions import load_captions, parse_scene, scene_caption, scenes
from ganforge.data.word_vectors import read_word_vectors
from ganforge.errors import ConfigError, DataError
from ganforge.nets.text2image import (TextImageEncoder, TextProjectionDiscriminator, TextToImageDiscriminator,
                                      TextToImageGenerator)
from ganforge.tasks.text2image import Vocabulary, WordSwaps

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
    E = TextImageEncoder(vocab=10, text_dim=16, width=8, size=32)
    D = TextProjectionDiscriminator(text_dim=16, width=8, size=32)
    s = E(torch.tensor([[2, 3, 0], [4, 0, 0]]))
    x = G(torch.randn(2, 8), s)
    assert s.shape == (2, 16) and x.shape == (2, 3, 32, 32) and E.image(x).shape == (2, 16)
    assert D(x, s).shape == (2,)
    D.eval()                                                   # (spectral norm: no power step per call)
    both = D(x, s, s.flip(0))                                  # one pass over the images, two sentences
    assert both.shape == (2, 2) and torch.allclose(both[0], D(x, s)) and torch.allclose(both[1], D(x, s.flip(0)))
    old = TextToImageDiscriminator(vocab=10, text_dim=16, width=8, size=32)   # earlier model files' D
    assert old(x, old.encoder(torch.tensor([[2, 3, 0], [4, 0, 0]]))).shape == (2,)


def test_held_out_pairs_in_built_in_scenes():
    hold = (("red", "triangle"), ("blue", "circle"))
    _, attrs = scenes(60, seed=4, hold=hold)
    objs = [o for a in attrs for o in (a["a"], a["b"])]
    assert not any((o["colour"], o["shape"]) in hold for o in objs)
    assert {o["colour"] for o in objs} == {"red", "green", "blue", "yellow"}           # every word still seen
    _, held = scenes(20, seed=4, hold=hold, held=True)
    assert all(any((o["colour"], o["shape"]) in hold for o in (a["a"], a["b"])) for a in held)
    d = load_captions("builtin:scenes?n=30&hold=red-triangle,blue-circle", size=16)
    assert len(d) == 30 and not any("red triangle" in c[0] or "blue circle" in c[0] for c in d.captions)
    with pytest.raises(DataError, match="hold='purple-circle' is not colour-shape"):
        load_captions("builtin:scenes?n=3&hold=purple-circle")


def test_word_swaps_change_one_word_for_one_of_its_kind():
    captions = [scene_caption(a) for a in scenes(200, seed=5)[1]]
    vocab = Vocabulary.build(captions)
    tokens = vocab.encode(captions)
    swaps = WordSwaps(tokens)
    index = torch.arange(50)
    a, has = swaps(index, torch.Generator().manual_seed(0))
    b, _ = swaps(index, torch.Generator().manual_seed(0))
    assert has.all() and (a == b).all()                        # seeded
    kinds = [set(k) for k in (("red", "green", "blue", "yellow"), ("circle", "square", "triangle"),
                              ("small", "large"))]
    changed = []
    for row, orig in zip(a, tokens[index]):
        diff = (row != orig).nonzero().flatten().tolist()
        assert len(diff) == 1                                  # exactly one word differs ...
        old, new = vocab.words[orig[diff[0]]], vocab.words[row[diff[0]]]
        assert any(old in k and new in k for k in kinds), (old, new)   # ... for another of its kind
        changed.append(old)
    assert {"circle", "square", "triangle"} & set(changed)     # shapes get swapped too
    lone = Vocabulary.build(["a red circle", "a blue square"])
    _, has = WordSwaps(lone.encode(["a red circle", "a blue square"]))(torch.arange(2), torch.Generator())
    assert not has.any()                                       # no two words share both neighbours: none to swap


def write_glove(path, words, dim=6, header=False, seed=0):
    rng = np.random.default_rng(seed)
    vectors = {w: rng.normal(size=dim).round(4) for w in words}
    lines = [f"{len(words)} {dim}"] if header else []
    lines += [w + " " + " ".join(f"{v:.4f}" for v in vec) for w, vec in vectors.items()]
    path.write_text("\n".join(lines) + "\n")
    return vectors


def test_word_vector_files(tmp_path, caplog):
    glove = write_glove(tmp_path / "glove.txt", ["the", "Red", "circle", "zebra"])
    vectors, known = read_word_vectors(tmp_path / "glove.txt", ["red", "circle", "square"])
    assert vectors.shape == (3, 6) and known.tolist() == [True, True, False]
    assert np.allclose(vectors[0], glove["Red"]) and (vectors[2] == 0).all()
    assert "no vector for 1 of 3 caption words (square)" in caplog.text
    w2v = write_glove(tmp_path / "w2v.vec", ["red", "square"], dim=4, header=True, seed=1)
    vectors, known = read_word_vectors(tmp_path / "w2v.vec", ["square", "red"])
    assert known.all() and np.allclose(vectors[0], w2v["square"])
    (tmp_path / "bad.txt").write_text("red 0.1 0.2 0.3\nblue 0.1\n")
    with pytest.raises(DataError, match="bad.txt line 2: 1 numbers, expected 3"):
        read_word_vectors(tmp_path / "bad.txt", ["red"])
    with pytest.raises(DataError, match="none of the 1 caption words"):
        read_word_vectors(tmp_path / "glove.txt", ["blue"])
    with pytest.raises(DataError, match="no such word-vector file"):
        read_word_vectors(tmp_path / "none.txt", ["red"])


def test_training_from_word_vectors(tmp_path):
    captions = [scene_caption(a) for a in scenes(20, seed=0)[1]]
    words = Vocabulary.build(captions).words[2:]
    glove = write_glove(tmp_path / "glove.txt", [w for w in words if w != "triangle"], dim=6)
    out = tmp_path / "wv"
    model = ganforge.train("text2image", data="builtin:scenes?n=20", out=out, word_vectors=str(tmp_path / "glove.txt"),
                           **dict(TINY, steps=2, eval_every=1000, size=16))
    E = model.nets["E"].text
    assert E.vectors.shape == (len(words) + 2, 6)
    for w in ("red", "circle"):
        assert torch.allclose(E.vectors[model.vocab.index[w]], torch.tensor(glove[w], dtype=torch.float32))
    assert (E.vectors[model.vocab.index["triangle"]] == 0).all()    # not in the file: learnt from scratch
    a = model.sample(2, seed=0, condition="a small red circle above a large blue square")
    (tmp_path / "glove.txt").unlink()                                  # the model file carries the vectors
    assert (ganforge.load(out).sample(2, seed=0, condition="a small red circle above a large blue square") == a).all()


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
    assert meta["nets"]["D"]["class"] == "text2image.TextProjectionDiscriminator"
    assert meta["nets"]["E"]["class"] == "text2image.TextImageEncoder"
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


def test_model_file_with_the_encoder_inside_d_still_loads():
    """A model file of the earlier layout (text encoder inside D, no "E" network), made by ganforge at commit
    d3aff63, loads and gives the images it gave then."""
    from pathlib import Path

    fixtures = Path(__file__).parents[1] / "fixtures"
    model = ganforge.load(fixtures / "text2image-encoder-in-d.safetensors")
    assert "E" not in model.nets and model.meta["nets"]["D"]["class"] == "text2image.TextToImageDiscriminator"
    got = model.sample(2, seed=0, condition="a small red circle above a large blue square")
    expected = np.load(fixtures / "text2image-encoder-in-d.npy")
    assert got.shape == expected.shape and np.abs(got.astype(int) - expected.astype(int)).max() <= 1
