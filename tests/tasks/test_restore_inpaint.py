"""Inpainting: the FFC inpainter trains with large masks and a feature-matching loss, scores itself against a
classical fill on held-out photos, and runs and files saved before these options keep their old meaning."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.config import as_saved, from_dict
from ganforge.errors import ConfigError, DataError
from ganforge.metrics.quality import masked_psnr
from ganforge.nets.inpaint import FFCInpainter, MultiScalePatchGAN
from ganforge.nets.unet import UNet
from ganforge.tasks.restore import Restoration, RestoreOptions, classical_fill

torch.set_num_threads(1)
TINY = dict(crop=32, width=8, steps=4, batch=2, precision="fp32", threads=1, progress=False, eval_every=4,
            checkpoint_every=1000, log_every=1)


def photos(path, n=12, h=40, w=44):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        base = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
        Image.fromarray(np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)).save(path / f"p{i:02d}.png")
    return path


def test_ffc_inpainter_trains_and_reports_its_held_out_score(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ganforge")
    model = ganforge.train("restore", kind="inpaint", data=str(photos(tmp_path / "ph")), out=tmp_path / "run",
                           lambda_adv=0.1, **TINY)
    assert model.meta["nets"]["G"]["class"] == "inpaint.FFCInpainter"
    hold = model.meta["holdout"]
    assert hold["held_out"] is True and hold["n"] == 1 and model.meta["data"]["held_out"] == 1
    assert set(hold["centre"]) == {"model", "biharmonic", "harmonic"} and np.isfinite(hold["free"]["model"])
    assert sum("masked-region PSNR on 1 held-out photos" in r.getMessage() for r in caplog.records) == 2
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(k in records[-1] for k in ("G/fm", "G/adv", "G/mse"))    # feature matching and MSE are wired
    out = model.apply(np.full((21, 35, 3), 100, np.uint8), mask=np.pad(np.ones((5, 5)), ((8, 8), (15, 15))))
    assert out.shape == (21, 35, 3) and (out[0] == 100).all()


def test_the_held_out_photos_are_never_trained_on(tmp_path):
    opt = RestoreOptions(kind="inpaint", data=str(photos(tmp_path / "ph", n=30)), crop=32, width=8)
    task = Restoration(opt)
    assert len(task.held_idx) == 3 and not set(task.held_idx) & set(task.train_idx)
    for i in task.held_idx:  # mark the held-out photos: a flat grey no training photo has
        task.data.images[i] = np.full_like(task.data.images[i], 7)
    for step in range(60):
        _, y, _ = task.sample_batch(4, torch.Generator().manual_seed(step), torch.device("cpu"))
        assert (y.flatten(1).std(1) > 0).all()
    assert isinstance(task.modules["G"], FFCInpainter) and isinstance(task.modules["D"], MultiScalePatchGAN)
    assert task.options.mask == "large" and task.options.lambda_adv == 1e-3


def test_options_saved_before_the_ffc_inpainter_keep_the_unet(tmp_path):
    saved = {"kind": "inpaint", "data": str(photos(tmp_path / "ph")), "crop": 32, "width": 8}  # no new fields
    opt = from_dict(RestoreOptions, as_saved(RestoreOptions, saved))
    assert (opt.inpaint_net, opt.mask, opt.holdout) == ("unet", "mixed", 0)
    task = Restoration(opt)
    assert isinstance(task.modules["G"], UNet) and task.held_idx == [] and len(task.train_idx) == 12
    assert task.options.lambda_adv == 1e-2


def test_bad_inpainting_options(tmp_path):
    ph = photos(tmp_path / "ph", n=3)
    with pytest.raises(ConfigError, match="crop 30 is not a multiple of 4"):
        ganforge.train("restore", kind="inpaint", data=str(ph), out=tmp_path / "r", **dict(TINY, crop=30))
    with pytest.raises(ConfigError, match="holdout must not be negative"):
        ganforge.train("restore", kind="inpaint", data=str(ph), out=tmp_path / "r", holdout=-1, **TINY)


def test_classical_fill_and_masked_psnr():
    rng = np.random.default_rng(0)
    img = np.tile(np.linspace(0, 255, 48)[None, :, None], (40, 1, 3)).astype(np.uint8)
    m = np.zeros((40, 48), np.float32)
    m[10:30, 15:35] = 1
    for method in ("auto", "biharmonic", "harmonic"):
        filled = classical_fill(img, m, method)
        assert (filled[m == 0] == img[m == 0]).all()
        assert masked_psnr(filled, img, m) > 35 > masked_psnr(rng.integers(0, 255, img.shape), img, m)
    with pytest.raises(DataError, match="mask is empty"):
        masked_psnr(img, img, np.zeros((40, 48)))
