"""Class-conditional image GAN: labels from every source, training (projection and AC-GAN), sampling by class,
class rows in the sample grid, and the bad inputs."""
from __future__ import annotations

import gzip
import struct
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.data import load_images
from ganforge.errors import ConfigError, DataError
from ganforge.tasks.generate import MIN_PER_CLASS

torch.set_num_threads(1)
TINY = dict(size=16, steps=6, batch=8, width=8, z_dim=8, precision="fp32", threads=1, progress=False,
            eval_every=6, checkpoint_every=1000, conditional=True)


def blobs(k: int, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` 16x16 grey images of class ``k``: a bright square whose corner depends on the class."""
    rng = np.random.default_rng(seed + k)
    out = []
    for _ in range(n):
        im = rng.integers(0, 40, (16, 16), dtype=np.uint8)
        r, c = divmod(k, 2)
        im[r * 8:r * 8 + 8, c * 8:c * 8 + 8] = 220
        out.append(im)
    return out


def class_folder(root, classes=("cat", "dog"), n=MIN_PER_CLASS):
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i, im in enumerate(blobs(k, n)):
            Image.fromarray(im).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return class_folder(tmp_path_factory.mktemp("cond") / "data")


@pytest.fixture(scope="module")
def model(folder, tmp_path_factory):
    return ganforge.train("image", data=str(folder), out=tmp_path_factory.mktemp("cond") / "run", **TINY)


def test_labels_from_folders_zip_csv_and_idx(tmp_path, folder):
    d = load_images(folder, 16)
    assert d.class_names == ["cat", "dog"] and d.labels.tolist() == [0] * MIN_PER_CLASS + [1] * MIN_PER_CLASS

    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        for p in sorted(folder.rglob("*.png")):
            zf.write(p, "train/" + p.relative_to(folder).as_posix())
    z = load_images(tmp_path / "d.zip", 16)
    assert z.class_names == ["cat", "dog"] and torch.equal(z.labels, d.labels)

    lines = ["file,label"] + [f"data/{p.relative_to(folder).as_posix()},{'8' if p.parent.name == 'cat' else '3'}"
                              for p in sorted(folder.rglob("*.png"))]
    (folder.parent / "labels.csv").write_text("\n".join(lines) + "\n")
    c = load_images(folder.parent / "labels.csv", 16)
    assert c.class_names == ["3", "8"] and c.labels.tolist() == [1] * MIN_PER_CLASS + [0] * MIN_PER_CLASS
    assert torch.equal(c.images, d.images)

    images = np.stack(blobs(0, 3) + blobs(1, 3))
    labels = np.array([0, 0, 0, 1, 1, 1], np.uint8)
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(struct.pack(">4B3I", 0, 0, 8, 3, 6, 16, 16) + images.tobytes()))
    (tmp_path / "idx" / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(struct.pack(">4BI", 0, 0, 8, 1, 6) + labels.tobytes()))
    i = load_images(tmp_path / "idx", 16)
    assert i.class_names == ["0", "1"] and i.labels.tolist() == labels.tolist()


def test_bad_csv_rows_name_the_row(tmp_path):
    (tmp_path / "l.csv").write_text("file,label\na.png,\n")
    with pytest.raises(DataError, match=r"l.csv: row 1 .*expected file,label"):
        load_images(tmp_path / "l.csv", 16)


def test_conditional_training_samples_each_class_and_keeps_names(model, tmp_path):
    assert model.classes == ["cat", "dog"] and model.meta["nets"]["G"]["num_classes"] == 2
    a = model.sample(6, seed=1, condition="dog")
    b = model.sample(6, seed=1, condition=1)
    c = model.sample(6, seed=1, condition="cat")
    assert a.shape == (6, 16, 16, 1) and np.array_equal(a, b) and not np.array_equal(a, c)
    mixed = model.sample(6, seed=1, condition=["cat", "dog", "cat", "dog", "cat", "dog"])
    assert np.array_equal(mixed[1::2], a[1::2]) and np.array_equal(mixed[::2], c[::2])
    with pytest.raises(ConfigError, match="unknown class 'cow'.*cat, dog"):
        model.sample(2, condition="cow")
    with pytest.raises(ConfigError, match="unknown class"):
        model.sample(2, condition=5)
    reloaded = ganforge.load(model.path)
    assert np.array_equal(reloaded.sample(6, seed=1, condition="dog"), a)
    assert reloaded.conditions() == ["cat", "dog"] and reloaded.capabilities()["conditions"] == ["cat", "dog"]
    with pytest.warns(DeprecationWarning, match="condition"):
        assert np.array_equal(reloaded.sample(6, seed=1, classes="dog"), a)  # the earlier keyword still works


def test_sample_grid_has_one_row_per_class(model):
    grid = np.asarray(Image.open(model.path.parent / "samples" / "step-000006.png"))
    # 2 classes x (64 // 2) columns of 16 px tiles (+2 px padding), upscaled 2x
    assert grid.shape[0] == 2 * (2 * 18 + 2) and grid.shape[1] == 2 * (32 * 18 + 2)


def test_acgan_variant_and_resnet_train(folder, tmp_path):
    m = ganforge.train("image", data=str(folder), out=tmp_path / "ac", **dict(TINY, cond_mode="acgan"))
    assert m.meta["nets"]["D"]["cond"] == "acgan" and m.D(torch.zeros(3, 1, 16, 16)).shape == (3, 3)
    r = ganforge.train("image", data=str(folder), out=tmp_path / "rn", **dict(TINY, arch="resnet", steps=2,
                                                                              metrics="kid", features="pixels", eval_n=8))
    assert r.sample(2, condition="cat").shape == (2, 16, 16, 1)
    assert "eval/kid" in (tmp_path / "rn" / "metrics.jsonl").read_text()


def test_conditional_bad_inputs(tmp_path, folder):
    (tmp_path / "flat").mkdir()
    for i, im in enumerate(blobs(0, 12)):
        Image.fromarray(im).save(tmp_path / "flat" / f"{i}.png")
    with pytest.raises(DataError, match="conditional training needs labels"):
        ganforge.train("image", data=str(tmp_path / "flat"), out=tmp_path / "r1", **TINY)
    class_folder(tmp_path / "few", n=MIN_PER_CLASS)
    for p in list((tmp_path / "few" / "dog").iterdir())[3:]:
        p.unlink()
    with pytest.raises(DataError, match=f"class 'dog' has 3 images; conditional training needs at least {MIN_PER_CLASS}"):
        ganforge.train("image", data=str(tmp_path / "few"), out=tmp_path / "r2", **TINY)
    with pytest.raises(ConfigError, match="cond_mode"):
        ganforge.train("image", data=str(folder), out=tmp_path / "r3", **dict(TINY, cond_mode="magic"))
    plain = ganforge.train("image", data=str(folder), out=tmp_path / "r4", **dict(TINY, conditional=False, steps=1))
    with pytest.raises(ConfigError, match="not conditional"):
        plain.sample(2, condition="cat")


def test_cli_train_conditional_and_sample_class(folder, tmp_path):
    runner = CliRunner()
    args = ["train", "image", "--data", str(folder), "--out", str(tmp_path / "run"), "--size", "16", "--steps", "2",
            "--batch", "8", "--width", "8", "--z-dim", "8", "--quiet", "--threads", "1", "--conditional",
            "--eval-every", "100"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["sample", str(tmp_path / "run"), "--class", "dog", "--n", "4", "--out-dir",
                                 str(tmp_path / "dogs")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "dogs").iterdir())) == 4
    result = runner.invoke(app, ["sample", str(tmp_path / "run"), "--class", "cow", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "error: unknown class 'cow'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_image_options_carry_help_and_choices_and_export_registered_nets(model):
    from ganforge import api
    from ganforge.config import RunConfig, describe_fields
    from ganforge.tasks.generate import ImageOptions

    fields = {f["name"]: f for f in describe_fields(ImageOptions)}
    assert all(f["help"] for f in fields.values())
    assert fields["arch"]["choices"] == ["auto", "dcgan", "light", "r3", "resnet", "style"] and fields["cond_mode"]["choices"] == ["projection", "acgan"]
    with pytest.raises(ConfigError, match="arch must be one of auto, dcgan, light, r3, resnet, style; got 'vit'"):
        ImageOptions(arch="vit").validate()
    run, _ = api.resolve("image", {})
    assert (run.batch, run.beta1, run.beta2, run.eval_every, run.steps) == (RunConfig.batch, 0.0, 0.99, 500, 2000)
    assert model.meta["nets"]["G"]["class"] == "dcgan.DCGANGenerator"
    assert model.meta["nets"]["D"]["class"] == "dcgan.DCGANDiscriminator" and model.D is not None
