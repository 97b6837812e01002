"""Adaptive augmentation (StyleGAN2-ADA): the controller's p follows D's overfitting, the pipeline's operations,
the leak cap, the state that resumes exactly, and a tiny real run where D overfits 8 images and p rises."""
from __future__ import annotations

import json

import pytest
import torch

import ganforge
from ganforge.augment import LEAK_CAP, AdaptiveAugment
from ganforge.engine import checkpoint
from ganforge.tasks.generate import ImageOptions

torch.set_num_threads(1)


def batch(n=8, c=3, size=16, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_p_rises_by_the_documented_speed_while_d_overfits_and_falls_otherwise():
    ada = AdaptiveAugment(kimg=1.0, interval=4)          # one adjustment moves p by 64 * 4 / 1000
    for step in range(1, 13):
        ada.observe(torch.full((64, 1), 3.0))            # D sure every real image is real: r_t = 1 > 0.6
        ada.step(64)
        if step < 4:
            assert ada.p == 0.0                          # only every `interval` steps
    assert ada.p == pytest.approx(3 * 0.256) and ada.last_r == 1.0
    for _ in range(8):
        ada.observe(torch.randn(64, 1, generator=torch.Generator().manual_seed(0)) - 1)   # r_t < 0.6
        ada.step(64)
    assert ada.p == pytest.approx(3 * 0.256 - 2 * 0.256)
    for _ in range(40):
        ada.observe(-torch.ones(64, 1))
        ada.step(64)
    assert ada.p == 0.0                                  # clamped at 0
    for _ in range(400):
        ada.observe(torch.ones(64, 1))
        ada.step(64)
    assert ada.p == 1.0                                  # and at 1


def test_p_goes_from_0_to_1_in_kimg_thousand_images():
    ada = AdaptiveAugment(kimg=500.0)
    images = 0
    while ada.p < 1.0:
        ada.observe(torch.ones(32))
        ada.step(32)
        images += 32
    assert images == pytest.approx(500_000, rel=0.01)


def test_state_dict_continues_exactly():
    a, b = AdaptiveAugment(kimg=0.5), AdaptiveAugment(kimg=0.5)
    signs = [torch.randn(16, generator=torch.Generator().manual_seed(i)) + (2 if i < 15 else -2) for i in range(23)]
    for s in signs[:10]:
        a.observe(s)
        a.step(16)
    b.load_state_dict(a.state_dict())
    for s in signs[10:]:
        a.observe(s)
        a.step(16)
        b.observe(s)
        b.step(16)
    assert a.state_dict() == b.state_dict() and a.p > 0


def test_pipeline_is_identity_at_p0_differentiable_and_deterministic():
    x = batch()
    assert torch.equal(AdaptiveAugment(p=0.0)(x, torch.Generator().manual_seed(0)), x)
    ada = AdaptiveAugment(p=0.7)
    y1 = ada(x, torch.Generator().manual_seed(1))
    assert torch.equal(y1, ada(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(y1, ada(x, torch.Generator().manual_seed(2)))
    xg = x.clone().requires_grad_(True)
    ada(xg, torch.Generator().manual_seed(1)).square().sum().backward()
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0


def test_integer_geometry_moves_pixels_without_changing_their_values():
    x = batch(n=16, c=1, size=8, seed=3)
    for ops in (("xflip",), ("rotate90",), ("translate",)):
        y = AdaptiveAugment(p=1.0, ops=ops)(x, torch.Generator().manual_seed(0))
        changed = 0
        for a, b in zip(x, y):
            assert set(b.flatten().tolist()) <= set(a.flatten().tolist())   # values come from the same image
            changed += not torch.equal(a, b)
        assert changed >= 4, ops


def test_colour_operations_change_values_and_keep_a_grey_image_grey():
    x = batch(n=8, c=3, seed=4)
    y = AdaptiveAugment(p=1.0, ops=("brightness", "contrast", "saturation"))(x, torch.Generator().manual_seed(0))
    assert not torch.allclose(x, y)
    grey = batch(n=8, c=1, seed=5).repeat(1, 3, 1, 1)
    g = AdaptiveAugment(p=1.0, ops=("saturation",))(grey, torch.Generator().manual_seed(0))
    assert torch.allclose(g, grey)   # saturation leaves the luma axis alone


def test_rotations_do_not_leak_even_at_p1():
    """At p = 1 the upright orientation must stay the most likely one (else G may learn rotated images)."""
    x = torch.zeros(4000, 1, 4, 4)
    x[:, 0, 0, 0] = 1.0   # a marked corner tells the orientation
    y = AdaptiveAugment(p=1.0, ops=("rotate90",))(x, torch.Generator().manual_seed(0))
    corners = torch.stack([y[:, 0, 0, 0], y[:, 0, 0, 3], y[:, 0, 3, 3], y[:, 0, 3, 0]], 1).argmax(1)
    share = torch.bincount(corners, minlength=4).float() / len(x)
    assert share[0] == pytest.approx(1 - LEAK_CAP * 3 / 4, abs=0.03)
    assert share[0] > share[1:].max() + 0.1


def test_augment_option_keeps_bool_compatibility():
    assert ImageOptions(augment=True).augment == "diff" and ImageOptions(augment=False).augment == "off"
    assert ImageOptions(augment=None).augment == "auto" and ImageOptions(augment="ADA").augment == "ada"
    assert ImageOptions(augment="true").augment == "diff" and ImageOptions(augment="no").augment == "off"
    from ganforge.config import from_dict
    assert from_dict(ImageOptions, {"augment": True}).augment == "diff"   # a config.json of an older version
    with pytest.raises(ganforge.GanforgeError, match="augment must be one of auto, off, diff, ada"):
        ImageOptions(augment="sometimes").validate()


def test_d_overfitting_eight_images_raises_p(tmp_path):
    kw = dict(data="builtin:shapes?n=8", size=16, width=16, z_dim=8, batch=8, threads=1, progress=False,
              precision="fp32", arch="dcgan", loss="ns", augment="ada", ada_kimg=0.2, lr_d=1e-3, r1_gamma=0.0,
              eval_every=1000, checkpoint_every=1000, walk_frames=2, sample_grid=4, log_every=4)
    out = tmp_path / "run"
    ganforge.train("image", out=out, steps=48, **kw)
    state = checkpoint.load(checkpoint.latest(out / "checkpoints"))
    ada = state["task"]["augment"]
    assert ada["steps"] == 48 and ada["p"] > 0.3, ada
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    ps = [r["ada/p"] for r in logged if "ada/p" in r]
    assert ps[0] < ps[-1]
