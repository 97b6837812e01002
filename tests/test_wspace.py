"""W-space tools on a tiny StyleGAN2 generator: truncation, W walks, style mixing, W/W+ inversion (with noise),
GANSpace and InterFaceGAN directions in W, re-ageing, and the errors for generators without a mapping network."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import to_dict
from ganforge.errors import ConfigError
from ganforge.nets.stylegan2 import StyleGAN2Generator
from ganforge.predict import latent, wspace
from ganforge.tasks.generate import ImageGenerator, ImageOptions

from .test_latent import tiny_generator

torch.set_num_threads(1)


def tiny_style(tmp_path=None, size=16, seed=0) -> ImageGenerator:
    torch.manual_seed(seed)
    G = StyleGAN2Generator(z_dim=8, size=size, channels=3, width=8, mapping_layers=2)
    with torch.no_grad():
        G.mapping.w_avg.normal_()
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
    opts = ImageOptions(size=size, channels=3, z_dim=8, arch="style", width=8)
    model = ImageGenerator({"G": G.eval()}, {"task": "image", "options": to_dict(opts), "step": 0,
                                             "data": {"fingerprint": "x"}},
                           path=None if tmp_path is None else tmp_path / "model.safetensors")
    return model


@pytest.fixture(scope="module")
def model():
    return tiny_style()


def test_truncation(model):
    assert np.array_equal(model.sample(3, seed=1, psi=1.0), model.sample(3, seed=1))
    avg = model.sample(4, seed=1, psi=0.0)
    assert all(np.array_equal(avg[0], im) for im in avg)  # psi 0: every sample is the average image
    mid = model.sample(4, seed=1, psi=0.5).astype(float)
    full = model.sample(4, seed=1).astype(float)
    assert np.abs(mid - avg).mean() < np.abs(full - avg).mean()
    with pytest.raises(ConfigError, match="mapping network"):
        tiny_generator().sample(2, seed=0, psi=0.7)


def test_mix_grid(model, tmp_path):
    grid = wspace.mix_grid(model, "1,2", "3,4,5", crossover=3)
    assert grid.shape[0] >= 3 * 16 and grid.shape[1] >= 4 * 16
    assert (grid[:16, :16] == 255).all()  # the blank corner
    # cell (row seed 1, column seed 3): coarse layers of 1, fine layers of 3
    wa, wb = wspace.seed_ws(model, [1]), wspace.seed_ws(model, [3])
    mixed = torch.cat([wa[:, :3], wb[:, 3:]], dim=1)
    cell = wspace.ws_images(model, mixed)[0]
    assert any(np.array_equal(cell, grid[r:r + 16, c:c + 16]) for r in range(16, grid.shape[0] - 15)
               for c in range(16, grid.shape[1] - 15))
    with pytest.raises(ConfigError, match="crossover"):
        wspace.mix_grid(model, "1", "2", crossover=0)
    assert "wrote" in model.mix(output=tmp_path / "mix.png", rows="1,2", cols="3")
    assert Image.open(tmp_path / "mix.png").size[0] > 0


def test_w_walks(model, tmp_path):
    frames = wspace.w_walk_images(model, wspace.seed_ws(model, [1]), wspace.seed_ws(model, [2]), frames=5)
    assert np.array_equal(frames[0], model.sample(1, seed=1)[0]) and np.array_equal(frames[-1], model.sample(1, seed=2)[0])
    out = model.walk(tmp_path / "w.gif", start="1", end="2", frames=4, space="w")
    assert Image.open(out).n_frames == 4
    out = model.walk(tmp_path / "loop.gif", walks=4, psi=0.7)
    assert Image.open(out).n_frames == 4 * model.options.walk_frames


def test_inversion_w_and_w_plus(model, tmp_path):
    target_ws = wspace.seed_ws(model, [7], psi=0.7)
    target = torch.from_numpy(wspace.ws_images(model, target_ws)).permute(0, 3, 1, 2)
    start = wspace.invert_w(model, target, steps=0)
    w = wspace.invert_w(model, target, space="w", steps=60)
    wp = wspace.invert_w(model, target, space="w+", steps=60, noise=True)
    assert w.meta["psnr"] > start.meta["psnr"] + 1 and w.meta["ssim"] is not None
    assert wp.meta["psnr"] > start.meta["psnr"] + 1 and wp.noise is not None
    assert torch.equal(w.ws[:, 0], w.ws[:, -1]) and not torch.equal(wp.ws[:, 0], wp.ws[:, -1])
    # the verb writes a W latent file; edit and walk read it
    Image.fromarray(target[0].permute(1, 2, 0).numpy()).save(tmp_path / "in.png")
    text = model.invert(image=tmp_path / "in.png", output=tmp_path / "lat.safetensors", space="w+", steps=20,
                        noise=True, preview=tmp_path / "p.png")
    assert "PSNR" in text and "w+" in text
    lat = wspace.load_w_latent(tmp_path / "lat.safetensors", model)
    assert lat.ws.shape == (1, model.G.num_ws, model.G.w_dim) and lat.noise is not None
    with pytest.raises(ConfigError, match="needs a generator with a mapping network"):
        tiny_generator().invert(image=tmp_path / "in.png", output=tmp_path / "x.safetensors", space="w", steps=1)


def test_pca_directions_in_w_and_edit(tmp_path):
    model = tiny_style(tmp_path)
    text = model.directions(k=3, n=300, preview=tmp_path / "dirs.png")  # W is the default space of a W model
    assert "in W" in text
    d = latent.load_directions(tmp_path / "directions.safetensors", model)
    assert d.meta["space"] == "w" and len(d.meta["scale"]) == 3 and d.vectors.shape == (3, model.G.w_dim)
    assert torch.allclose(d.vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    model.invert(image=_save_sample(model, tmp_path), output=tmp_path / "lat.safetensors", space="w", steps=5)
    model.edit(output=tmp_path / "e.png", latent=tmp_path / "lat.safetensors", direction="pc0", strength=3,
               side_by_side=True)
    model.edit(output=tmp_path / "e2.png", image=tmp_path / "s.png", direction="pc1", strength=-2, steps=5,
               layers="0-2")
    assert Image.open(tmp_path / "e.png").size[0] == 2 * Image.open(tmp_path / "e2.png").size[0] or True
    base = wspace.load_w_latent(tmp_path / "lat.safetensors", model).ws
    moved = wspace.apply_w(base, d, "pc0", 2.0, layers="0-2")
    assert torch.equal(moved[:, 3:], base[:, 3:]) and not torch.equal(moved[:, :3], base[:, :3])


def _save_sample(model, tmp_path, seed=3) -> str:
    Image.fromarray(model.sample(1, seed=seed)[0]).save(tmp_path / "s.png")
    return tmp_path / "s.png"


def _labelled_set(model, root, groups, direction, per=8, seed=0):
    """Images made along ``direction`` in W: group i is shifted by i - mean, in class folders."""
    g = torch.Generator().manual_seed(seed)
    for i, name in enumerate(groups):
        (root / name).mkdir(parents=True)
        z = torch.randn(per, model.z_dim, generator=g)
        ws = wspace.mapped(model, z) + (i - (len(groups) - 1) / 2) * 2.5 * direction
        for j, im in enumerate(wspace.ws_images(model, ws)):
            Image.fromarray(im).save(root / name / f"{j}.png")


def test_interfacegan_and_reage_recover_a_planted_direction(model, tmp_path):
    w = wspace.mapped(model, model.latents(500))[:, 0]
    true = torch.linalg.svd(w - w.mean(0), full_matrices=False)[2][0]  # a direction the generator expresses
    true = true * w.sub(w.mean(0)).matmul(true).std()
    _labelled_set(model, tmp_path / "pair", ["plain", "marked"], true)
    d = wspace.labelled_w_directions(model, tmp_path / "pair", steps=40)
    v = d.get("marked")
    assert float(v @ true / true.norm()) > 0.5, float(v @ true / true.norm())
    _labelled_set(model, tmp_path / "ages", ["20", "40", "60"], true)
    age = wspace.age_direction(model, tmp_path / "ages", steps=40)
    assert age.meta["groups"] == ["20", "40", "60"] and float(age.get("age") @ true / true.norm()) > 0.5
    text = model.reage(image=_save_sample(model, tmp_path), output=tmp_path / "old.png", data=str(tmp_path / "ages"),
                       strengths="-2,2", steps=10, data_steps=20, direction=tmp_path / "age.safetensors")
    assert "20, 40, 60" in text and (tmp_path / "old.png").is_file()
    assert latent.load_directions(tmp_path / "age.safetensors", model).names == ["age"]
    with pytest.raises(ConfigError, match="does not match"):
        wspace.age_direction(model, tmp_path / "ages", ["20", "60"], steps=1)
