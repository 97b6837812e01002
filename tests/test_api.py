"""The Python API: train, load, sample, and the model file."""
from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open

import ganforge
from ganforge import artifact
from ganforge.errors import CheckpointError, ConfigError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    model = ganforge.train("image", out=out, data="builtin:digits", limit=200, size=16, steps=12, batch=8,
                           width=8, z_dim=8, progress=False, threads=1, eval_every=100)
    return out, model


def test_train_returns_a_model_that_samples_uint8_nhwc(trained):
    _, model = trained
    images = model.sample(6, seed=1)
    assert images.dtype == np.uint8 and images.shape == (6, 16, 16, 1)
    assert np.array_equal(images, model.sample(6, seed=1)) and not np.array_equal(images, model.sample(6, seed=2))
    pil = model.sample(3, seed=1, as_pil=True)
    assert len(pil) == 3 and pil[0].size == (16, 16) and pil[0].mode == "L"


def test_load_from_run_folder_or_file_gives_the_same_samples(trained):
    out, model = trained
    a = ganforge.load(out).sample(4, seed=7)
    b = ganforge.load(out / "model.safetensors").sample(4, seed=7)
    assert np.array_equal(a, b) and np.array_equal(a, model.sample(4, seed=7))


def test_model_file_metadata_describes_the_run(trained):
    out, _ = trained
    meta = artifact.read_meta(out)
    assert meta["task"] == "image" and meta["ganforge_version"] == ganforge.__version__
    assert meta["step"] == 12 and meta["status"] == "finished"
    assert meta["data"]["source"] == "builtin:digits" and meta["data"]["n"] == 200
    assert meta["config"]["run"]["batch"] == 8 and "loss/G" in meta["metrics"]
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:  # plain tensors, nothing pickled
        assert any(k.startswith("G.") for k in f.keys())


def test_a_safetensors_file_without_ganforge_metadata_is_refused(tmp_path):
    import torch
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a ganforge model"):
        ganforge.load(tmp_path / "other.safetensors")


def test_unknown_option_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown option 'learning_rate'"):
        ganforge.train("image", out=tmp_path / "r", steps=1, learning_rate=0.1)


def test_saved_options_that_predate_a_field_mean_what_they_meant(tmp_path):
    from ganforge.config import as_saved
    from ganforge.tasks.series import SeriesOptions
    from ganforge.tasks.video import VideoOptions
    from ganforge.tasks.voxels import VoxelOptions

    assert as_saved(VoxelOptions, {})["method"] == "3dgan" and VoxelOptions().method == "lgan"
    assert as_saved(VideoOptions, {"arch": "unet"})["arch"] == "unet"     # a saved value is kept
    saved_series = as_saved(SeriesOptions, {})
    assert saved_series["global_input"] is False and saved_series["global_head"] is False
    # a saved config.json given to a new run (--config) means the same
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"task": "voxels", "run": {"steps": 1}, "options": {"data": "builtin:objects"}}))
    resolved = ganforge.train("voxels", config=config, out=tmp_path / "run", dry_run=True)
    assert resolved["options"]["method"] == "3dgan"
