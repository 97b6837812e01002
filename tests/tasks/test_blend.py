"""Photo blending: the Poisson and Gaussian-Poisson solvers, the blending network, the CLI, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.errors import ConfigError, DataError
from ganforge.imaging.poisson import gaussian_poisson, poisson_blend
from ganforge.tasks.blend import blend, colour_shift, random_masks

torch.set_num_threads(1)


def scene(h=48, w=64, seed=0):
    """A smooth colour photo, a colour-shifted copy (the truth) and a mask in the middle."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    base = np.stack([0.5 + 0.3 * np.sin(4 * xx + c) * np.cos(3 * yy - c) for c in range(3)], -1)
    base = np.clip(base + rng.normal(0, 0.02, base.shape), 0, 1)
    shifted = np.clip(base * np.array([1.25, 0.8, 1.0]) + np.array([0.0, 0.05, -0.08]), 0, 1)
    mask = np.zeros((h, w), bool)
    mask[12:36, 16:48] = True
    return base, shifted, mask


def psnr(a, b):
    return 10 * np.log10(1 / np.mean((np.asarray(a, np.float64) - b) ** 2))


def test_solvers_remove_the_seam():
    src, truth, mask = scene()
    comp = np.where(mask[..., None], src, truth)
    p = poisson_blend(src, truth, mask)
    assert psnr(np.clip(p, 0, 1), truth) > psnr(comp, truth) + 3
    np.testing.assert_allclose(p[~mask], truth[~mask])              # outside the mask nothing changes
    # with the right low-frequency colour the GP solve is better still, and it reproduces a plain image exactly
    g = gaussian_poisson(src, truth, mask, truth, beta=0.05, sigma=0.5)
    assert psnr(np.clip(g, 0, 1), truth) > psnr(comp, truth) + 10
    np.testing.assert_allclose(gaussian_poisson(truth, truth, mask, truth, beta=0.1, sigma=0), truth, atol=1e-8)
    # inside the mask only: the destination stays as it is outside, and the right colour beats plain Poisson
    gm = gaussian_poisson(src, truth, mask, truth, beta=0.05, border="mask")
    np.testing.assert_allclose(gm[~mask], truth[~mask])
    assert psnr(np.clip(gm, 0, 1), truth) > psnr(np.clip(p, 0, 1), truth) + 1
    with pytest.raises(ConfigError, match="border"):
        gaussian_poisson(src, truth, mask, truth, beta=0.05, border="edges")
    with pytest.raises(DataError, match="mask"):
        poisson_blend(src, truth, mask[:10])
    with pytest.raises(ConfigError, match="beta"):
        gaussian_poisson(src, truth, mask, truth, beta=0)


def test_training_composites_and_network(tmp_path):
    gen = torch.Generator().manual_seed(0)
    masks = random_masks(8, 32, gen)
    assert masks.shape == (8, 1, 32, 32) and 0.04 < masks.mean() < 0.4 and set(masks.unique().tolist()) == {0.0, 1.0}
    x = torch.rand(4, 3, 8, 8, generator=gen)
    assert not torch.equal(colour_shift(x, gen, 0.3), x)
    model = ganforge.train("blend", data="builtin:shapes?n=200", size=32, width=8, steps=120, batch=32, net="colour",
                           out=tmp_path / "run", progress=False, threads=1, eval_every=10**9, checkpoint_every=10**9)
    # the network re-colours pasted regions of fresh composites better than copy-paste does
    photo = torch.from_numpy(np.stack([scene(32, 32, s)[0] for s in range(8)])).permute(0, 3, 1, 2).float()
    shifted = colour_shift(photo, torch.Generator().manual_seed(1), 0.3)
    m = random_masks(8, 32, torch.Generator().manual_seed(2))
    comp = m * photo + (1 - m) * shifted
    with torch.no_grad():
        out = (model.nets["G"](torch.cat([comp * 2 - 1, m * 2 - 1], 1)) + 1) / 2
    assert (out - shifted).pow(2).mean() < 0.8 * (comp - shifted).pow(2).mean()
    src, truth, mask = scene()
    res = model.blend((src * 255).astype(np.uint8), (truth * 255).astype(np.uint8), mask)
    assert res.dtype == np.uint8 and res.shape == (48, 64, 3)
    assert psnr(res / 255, truth) > psnr(np.where(mask[..., None], src, truth), truth)
    with pytest.raises(DataError, match="empty"):
        model.blend(src, truth, np.zeros_like(mask))
    with pytest.raises(ConfigError, match="needs a trained blending model"):
        blend(src, truth, mask, method="gp")
    # the 'blend' verb with the model: gp by default
    files = scene_files(tmp_path)
    assert "blend" in model.verbs()
    assert model.blend_files(**files, output=tmp_path / "gp.png") == f"wrote {tmp_path / 'gp.png'} (gp)"
    assert np.asarray(Image.open(tmp_path / "gp.png")).shape == (48, 64, 3)


def scene_files(folder):
    """The scene as files: {"src", "dst", "mask"} paths."""
    src, truth, mask = scene()
    for name, a in (("fg.png", src), ("bg.png", truth)):
        Image.fromarray((a * 255).astype(np.uint8)).save(folder / name)
    Image.fromarray(mask.astype(np.uint8) * 255).save(folder / "mask.png")
    return {"src": folder / "fg.png", "dst": folder / "bg.png", "mask": folder / "mask.png"}


def test_blend_verb_without_a_model(tmp_path):
    from ganforge.tasks.blend import BlendModel

    files = scene_files(tmp_path)
    verb = BlendModel.verbs()["blend"]
    assert verb.__ganforge_verb__["model"] == "optional"
    assert verb(None, **files, output=tmp_path / "p.png") == f"wrote {tmp_path / 'p.png'} (poisson)"
    src, truth, mask = scene()
    out = np.asarray(Image.open(tmp_path / "p.png"))
    assert out.shape == (48, 64, 3) and psnr(out / 255, truth) > psnr(np.where(mask[..., None], src, truth), truth)
    assert "(copy)" in verb(None, **files, output=tmp_path / "c.png", method="copy")
    with pytest.raises(ConfigError, match="needs a trained blending model"):
        verb(None, **files, output=tmp_path / "g.png", method="gp")
    with pytest.raises(TypeError, match="'output'"):              # a required flag in the CLI
        verb(None, **files)
    with pytest.raises(DataError, match="no such image"):
        verb(None, **dict(files, src=tmp_path / "nope.png"), output=tmp_path / "o.png")


def test_cli_blend(tmp_path):
    scene_files(tmp_path)
    run = CliRunner()
    r = run.invoke(app, ["blend", "--src", str(tmp_path / "fg.png"), "--dst", str(tmp_path / "bg.png"), "--mask",
                         str(tmp_path / "mask.png"), "-o", str(tmp_path / "out.png")], catch_exceptions=False)
    assert r.exit_code == 0 and "poisson" in r.output, r.output
    assert np.asarray(Image.open(tmp_path / "out.png")).shape == (48, 64, 3)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    r = run.invoke(app, ["blend", "--src", str(tmp_path / "fg.png"), "--dst", str(tmp_path / "bg.png"), "--mask",
                         str(tmp_path / "small.png"), "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 1 and "differ in size" in r.output
    r = run.invoke(app, ["blend", "--src", str(tmp_path / "nope.png"), "--dst", str(tmp_path / "bg.png"), "--mask",
                         str(tmp_path / "mask.png"), "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 1 and "no such image" in r.output
    r = run.invoke(app, ["train", "blend", "--data", "builtin:shapes?n=20", "--out", str(tmp_path / "b"), "--size", "16",
                         "--steps", "2", "--batch", "8", "--width", "4", "--quiet", "--threads", "1"],
                   catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = run.invoke(app, ["blend", "--src", str(tmp_path / "fg.png"), "--dst", str(tmp_path / "bg.png"), "--mask",
                         str(tmp_path / "mask.png"), "-o", str(tmp_path / "gp.png"), "--model", str(tmp_path / "b")],
                   catch_exceptions=False)
    assert r.exit_code == 0 and "(gp)" in r.output, r.output


def test_composite_families_have_a_known_answer_the_destination_does_not_give_away():
    from ganforge.data import composites

    gen = torch.Generator().manual_seed(0)
    photos = [torch.from_numpy(np.stack([scene(40, 56, s + 10 * k)[0] for s in range(6)])).permute(0, 3, 1, 2).float()
              for k in range(3)]
    for family in composites.FAMILIES:
        c = composites.make(family, *photos, gen)
        m = c["mask"]
        assert all(c[k].shape == (6, 3, 40, 56) for k in ("src", "dst", "truth")) and m.shape == (6, 1, 40, 56)
        assert all(0 <= c[k].min() and c[k].max() <= 1 for k in c), family
        assert (m.flatten(1).mean(1) > 0.01).all() and (m.flatten(1).mean(1) < 0.6).all(), family
        outside = (1 - m).bool().expand(-1, 3, -1, -1)
        torch.testing.assert_close(c["truth"][outside], c["dst"][outside])          # outside, the answer is dst
        inside = m.bool().expand(-1, 3, -1, -1)
        # under the mask it is not (in seam and cut, only where the object is)
        assert ((c["truth"][inside] - c["dst"][inside]).abs() > 0.02).float().mean() > 0.25, family
        assert (c["truth"][inside] - c["src"][inside]).abs().mean() > 0.01, family  # nor is it plain copy-paste
    with pytest.raises(ValueError, match="unknown composite family"):
        composites.make("rotate", *photos, gen)
    # a composite is reproducible from its seed
    a = composites.make("cut", *photos, torch.Generator().manual_seed(3))
    b = composites.make("cut", *photos, torch.Generator().manual_seed(3))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_mixed_gradients_let_the_destination_texture_through():
    h, w = 40, 40
    rng = np.random.default_rng(0)
    dst = np.clip(0.5 + 0.2 * rng.standard_normal((h, w, 3)), 0, 1)   # textured
    src = np.full((h, w, 3), 0.3)                                       # flat
    mask = np.zeros((h, w), bool)
    mask[10:30, 10:30] = True
    plain, mixed = poisson_blend(src, dst, mask), poisson_blend(src, dst, mask, mixed=True)
    np.testing.assert_allclose(mixed[~mask], dst[~mask])
    assert mixed[mask].std() > 2 * plain[mask].std()                  # plain Poisson is smooth inside; mixed is not
    assert np.abs(mixed - dst)[mask].mean() < 0.5 * np.abs(plain - dst)[mask].mean()


def test_field_network_learns_to_relight_and_matte(tmp_path):
    from ganforge.config import as_saved
    from ganforge.data import composites
    from ganforge.nets.blend import FieldBlendNet
    from ganforge.tasks.blend import BlendOptions, field_estimate

    assert as_saved(BlendOptions, {"size": 32})["net"] == "colour"   # a model or run saved before --net: the old net
    assert BlendOptions().net == "field"
    model = ganforge.train("blend", data="builtin:shapes?n=200", size=32, width=8, steps=150, batch=32,
                           out=tmp_path / "run", progress=False, threads=1, eval_every=10**9, checkpoint_every=10**9)
    net = model.nets["G"]
    assert isinstance(net, FieldBlendNet)
    again = ganforge.load(tmp_path / "run")
    assert isinstance(again.nets["G"], FieldBlendNet) and again.options.net == "field"
    # the held-out check: 16 of the 200 photos never trained on, every family, blender beside Poisson and copy
    hold = model.meta["holdout"]
    assert hold["held_out"] and hold["composites"] > 60 and model.meta["data"]["held_out"] == 16
    assert hold["blender"] > hold["copy"] and set(hold) >= {"poisson", "metric"}
    # on fresh composites of every family, the network's blend inside the mask is closer to the truth than
    # copy-paste, and applying it at 2x the network's resolution keeps that
    photos = [torch.from_numpy(np.stack([scene(64, 64, s + 10 * k)[0] for s in range(8)])).permute(0, 3, 1, 2).float()
              for k in range(3)]
    gen = torch.Generator().manual_seed(5)
    err_net, err_copy = 0.0, 0.0
    for family in composites.FAMILIES:
        c = composites.make(family, *photos, gen)
        for i in range(8):
            s, d, t = (c[k][i].permute(1, 2, 0).double().numpy() for k in ("src", "dst", "truth"))
            m = c["mask"][i, 0].numpy() > 0.5
            est = field_estimate(net, s, d, m, model.size)
            assert est.shape == (64, 64, 3)
            np.testing.assert_allclose(est[~m], d[~m], atol=1e-6)
            err_net += ((est - t)[m] ** 2).mean()
            err_copy += ((s - t)[m] ** 2).mean()
    assert err_net < 0.5 * err_copy, (err_net, err_copy)  # untrained (one step): 0.74; 150 steps: 0.32
    out = model.blend(s, d, m)
    assert out.dtype == np.uint8 and out.shape == (64, 64, 3)
    np.testing.assert_allclose(out[~m], (d[~m] * 255 + 0.5).astype(np.uint8), atol=1)


def test_ring_check_falls_back_on_poisson_where_the_network_relights_badly():
    from ganforge.nets.blend import FieldBlendNet
    from ganforge.tasks.blend import field_blend, ring_check

    torch.manual_seed(0)
    net = FieldBlendNet(size=16, width=4, grid=2).eval()
    last = net.unet.up[-1][-1]
    src, truth, mask = scene()
    with torch.no_grad():
        last.bias[0] = 5.0          # matte 1: all of the source
        last.bias[1:4] = 3.0        # and a gain of about 4: a network that relights badly
    assert ring_check(net, src, truth, mask, 16, 1e-4) == "poisson"
    checked, unchecked = field_blend(net, src, truth, mask, 16), field_blend(net, src, truth, mask, 16, check=False)
    np.testing.assert_array_equal(checked, (np.clip(poisson_blend(src, truth, mask), 0, 1) * 255 + 0.5).astype(np.uint8))
    assert psnr(checked / 255, truth) > psnr(unchecked / 255, truth) + 5
    with torch.no_grad():           # the scene's own colour shift (gain 1.25, 0.8, 1; offset 0, 0.05, -0.08)
        last.bias[1:4] = torch.atanh(torch.log(torch.tensor([1.25, 0.8, 1.0])) / 1.5)
        last.bias[4:7] = torch.atanh(torch.tensor([0.0, 0.05, -0.08]) / 0.5)
    assert ring_check(net, src, truth, mask, 16, 1e-4) == "field"
    good = field_blend(net, src, truth, mask, 16)
    assert psnr(good / 255, truth) > psnr(checked / 255, truth) + 5    # and it beats Poisson
