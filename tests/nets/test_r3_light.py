"""The r3 (R3GAN class) and light (FastGAN class) architectures: shapes at every size, the fix-up start, the
light discriminator's reconstructions, a few training steps at 16/32/64 px that resume exactly (the same weights,
optimizer and ADA state as an uninterrupted run) and load from the model file, and conditional generation."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ganforge
from ganforge import nets
from ganforge.engine import checkpoint
from ganforge.nets.light import LightDiscriminator, reconstruction_targets, sle_pairs
from ganforge.nets.r3 import R3Block, pyramid

torch.set_num_threads(1)

KW = dict(data="builtin:shapes?n=32", width=8, z_dim=8, batch=4, threads=1, progress=False, precision="fp32",
          eval_every=1000, checkpoint_every=1000, log_every=1, walk_frames=2, sample_grid=4, augment="ada",
          ada_kimg=0.05, r1_interval=2)


def _same(a, b, where="state") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("arch", ["r3", "light"])
@pytest.mark.parametrize("size", [16, 32, 64, 128, 256])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_shapes_at_every_size(arch, size, num_classes):
    kw = {"num_classes": num_classes} if num_classes else {}
    G = nets.build("G", arch, z_dim=8, size=size, channels=3, width=8, **kw)
    D = nets.build("D", arch, size=size, channels=3, width=8, **kw)
    y = torch.tensor([0, 2]) if num_classes else None
    z = torch.randn(2, 8)
    with torch.no_grad():
        x = G(z, y) if num_classes else G(z)
        assert x.shape == (2, 3, size, size) and torch.isfinite(x).all()
        assert (D(x, y) if num_classes else D(x)).shape == (2, 1)


def test_r3_blocks_start_as_the_identity_and_use_grouped_convolutions():
    block = R3Block(32, blocks_total=8)
    x = torch.randn(2, 32, 4, 4)
    assert torch.equal(block(x), x)
    assert block.conv2.groups == 64 // 16 and block.conv3.weight.abs().sum() == 0
    # the fix-up scale L^(-1/4): the first two layers' weights are smaller than plain He by 8^(-1/4)
    ratio = block.conv1.weight.std() / R3Block(32, blocks_total=1).conv1.weight.std()
    assert float(ratio.detach()) == pytest.approx(8 ** -0.25, rel=0.1)
    assert pyramid(32, 64) == {4: 256, 8: 128, 16: 64, 32: 32}
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                   for m in nets.build("D", "r3", size=32, channels=3, width=8).modules())


def test_light_excitation_pairs_and_reconstructions():
    assert sle_pairs(256) == [(8, 128), (16, 256)] and sle_pairs(16) == [(4, 16)]
    assert sle_pairs(64) == [(4, 32), (4, 64)]
    for size, whole, part in ((16, 16, 8), (32, 32, 16), (64, 64, 32), (256, 64, 64)):
        D = LightDiscriminator(size=size, channels=1, width=8)
        x = torch.rand(2, 1, size, size) * 2 - 1
        logits, rec_whole, rec_part = D(x, part=3)
        assert logits.shape == (2, 1) and rec_whole.shape[-1] == whole and rec_part.shape[-1] == part
        t_whole, t_part = reconstruction_targets(x, 3, whole, part)
        assert t_whole.shape == rec_whole.shape and t_part.shape == rec_part.shape
        # quarter 3 is the bottom-right quarter of the input, averaged down
        assert torch.allclose(t_part.mean(), x[..., size // 2:, size // 2:].mean(), atol=1e-5)


@pytest.fixture
def bare(monkeypatch):
    """Training without the run's pictures (sample grids, latent walk GIF, loss curves): seconds per run that
    test nothing here; the conditional test below keeps them."""
    from ganforge import api
    from ganforge.engine.callbacks import MetricsLog
    from ganforge.tasks.generate import ImageGeneration

    monkeypatch.setattr(ImageGeneration, "callbacks", lambda self: [])
    monkeypatch.setattr(api, "_callbacks", lambda run_dir, progress, extra: [MetricsLog(run_dir / "metrics.jsonl")])


def _metrics(run) -> set[str]:
    return set().union(*[json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()])


# r3 with ADA (rpgan, lazy R1 + R2), light with DiffAugment (hinge, lazy R1, reconstruction)
@pytest.mark.parametrize("arch, size", [("r3", 16), ("r3", 32), ("r3", 64),
                                        ("light", 16), ("light", 32), ("light", 64)])
def test_trains_resumes_exactly_and_loads_from_its_model_file(arch, size, tmp_path, bare):
    kw = dict(KW, arch=arch, size=size, augment="ada" if arch == "r3" else "diff")
    whole = ganforge.train("image", out=tmp_path / "whole", steps=6, **kw)
    ganforge.train("image", out=tmp_path / "split", steps=3, **kw)
    resumed = ganforge.resume(tmp_path / "split", steps=6, progress=False)
    a = checkpoint.load(checkpoint.path_for(tmp_path / "whole" / "checkpoints", 6))
    b = checkpoint.load(checkpoint.path_for(tmp_path / "split" / "checkpoints", 6))
    for key in ("modules", "optimizers", "ema", "task"):
        _same(a[key], b[key], key)
    if arch == "r3":
        assert a["task"]["augment"]["steps"] == 6   # the ADA controller's state resumed with the rest
    options = whole.meta["options"]
    assert options["arch"] == arch and options["loss"] == ("rpgan" if arch == "r3" else "hinge")
    assert whole.meta["nets"]["G"]["class"] == ("r3.R3Generator" if arch == "r3" else "light.LightGenerator")
    loaded = ganforge.load(tmp_path / "whole" / "model.safetensors")
    sample = loaded.sample(3, seed=1)
    assert sample.shape == (3, size, size, 3) and sample.dtype == np.uint8
    assert np.array_equal(sample, resumed.sample(3, seed=1)) and np.array_equal(sample, whole.sample(3, seed=1))
    keys = _metrics(tmp_path / "whole")
    assert ("r2" in keys) == (arch == "r3") and ("D/recon" in keys) == (arch == "light")


def test_rpgan_with_penalties_at_every_step_trains(tmp_path, bare):
    kw = dict(KW, arch="r3", size=16, r1_interval=1, augment="off")
    m = ganforge.train("image", out=tmp_path / "r", steps=2, **kw)
    logged = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["r1"]) and np.isfinite(r["r2"]) for r in logged if "loss/D" in r)
    assert m.meta["options"]["r1_gamma"] > 0


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    from tests.tasks.test_conditional import class_folder
    return class_folder(tmp_path_factory.mktemp("cls") / "data")


@pytest.mark.parametrize("arch", ["r3", "light"])
def test_conditional_generation(arch, classes, tmp_path):
    m = ganforge.train("image", data=str(classes), out=tmp_path / arch, conditional=True, arch=arch, size=16, steps=3,
                       **{k: v for k, v in KW.items() if k != "data"})
    assert m.classes == ["cat", "dog"] and m.meta["nets"]["G"]["num_classes"] == 2
    assert m.meta["nets"]["D"]["cond"] == "projection"
    cat, dog = m.sample(4, seed=0, condition="cat"), m.sample(4, seed=0, condition="dog")
    assert cat.shape == (4, 16, 16, 1) and not np.array_equal(cat, dog)
    assert np.array_equal(ganforge.load(m.path).sample(4, seed=0, condition="dog"), dog)
    assert (m.path.parent / "samples" / "step-000003.png").exists() and (m.path.parent / "walk.gif").exists()
