"""3-D shapes: readers (npy, binvox, meshes) and bad input, built-in objects, networks, a tiny training,
outputs (npy, meshes, previews, walk), the CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.data.voxels import OBJECT_CLASSES, load_voxels, objects, read_binvox, write_binvox
from ganforge.errors import ConfigError, DataError
from ganforge.nets.voxels import VoxelDiscriminator, VoxelGenerator
from ganforge.tasks.voxels import render, save_shape, to_mesh

torch.set_num_threads(1)
TINY = dict(steps=4, batch=4, width=4, z_dim=8, precision="fp32", threads=1, progress=False, eval_every=2,
            checkpoint_every=1000, log_every=2, sample_grid=4)
trimesh = pytest.importorskip("trimesh")


def test_builtin_objects_are_seeded_labelled_and_distinct():
    a, la = objects(8, seed=3)
    b, _ = objects(8, seed=3)
    assert a.shape == (8, 32, 32, 32) and (a == b).all() and list(la) == [0, 1, 2, 3] * 2
    assert all(0.002 < g.mean() < 0.3 for g in a)
    assert not a[0, 0].any() and not a[0, -1].any()              # one free voxel at the borders
    v = load_voxels("builtin:objects?n=12&seed=1")
    assert v.class_names == list(OBJECT_CLASSES) and v.grids.dtype == torch.uint8 and len(v) == 12
    with pytest.raises(DataError, match="unknown built-in voxel set"):
        load_voxels("builtin:chairs")


def test_npy_binvox_and_mesh_folder_with_classes(tmp_path):
    grids, _ = objects(4, seed=0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    np.save(tmp_path / "a" / "stack.npy", grids[:2].astype(np.float32))
    write_binvox(tmp_path / "b" / "one.binvox", grids[2])
    assert (read_binvox(tmp_path / "b" / "one.binvox") == grids[2]).all()
    trimesh.creation.box(extents=(1.0, 2.0, 1.0)).export(tmp_path / "b" / "box.stl")
    v = load_voxels(str(tmp_path))
    assert len(v) == 4 and v.class_names == ["a", "b"] and v.labels.tolist() == [0, 0, 1, 1]
    box = v.grids[2].numpy().astype(bool)                         # files in sorted order: box.stl, one.binvox
    xs, ys, zs = (np.nonzero(box.any(axis=a))[0] for a in ((1, 2), (0, 2), (0, 1)))
    assert ys.size > 1.7 * xs.size and abs(xs.size - zs.size) <= 1  # tall box, filled and centred
    assert box[16, 16, 16]                                          # filled inside


def test_bad_voxel_input_is_skipped_or_refused(tmp_path, caplog):
    np.save(tmp_path / "flat.npy", np.zeros((32, 32, 16)))
    with pytest.raises(DataError, match="expected a cubic voxel grid"):
        load_voxels(str(tmp_path / "flat.npy"))
    np.save(tmp_path / "nan.npy", np.full((8, 8, 8), np.nan))
    with pytest.raises(DataError, match="NaN"):
        load_voxels(str(tmp_path / "nan.npy"))
    open_box = trimesh.creation.box()
    open_box.update_faces(np.arange(len(open_box.faces)) > 1)      # two triangles gone: a hole
    open_box.export(tmp_path / "open.stl")
    with pytest.raises(DataError, match="not watertight"):
        load_voxels(str(tmp_path / "open.stl"))
    (tmp_path / "bad.binvox").write_bytes(b"hello\ndata\n")
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("flat.npy", "open.stl", "bad.binvox"):
        (folder / name).write_bytes((tmp_path / name).read_bytes())
    np.save(folder / "good.npy", np.ones((16, 16, 16)))
    v = load_voxels(str(folder))                                    # three skipped with one line each
    assert len(v) == 1 and v.resolution == 32 and v.grids[0].all()
    assert sum("skipped" in r.message for r in caplog.records) == 3


def test_network_shapes():
    G, D = VoxelGenerator(8, 4, 32, classes=3), VoxelDiscriminator(4, 32, classes=3)
    x = G(torch.randn(2, 8), torch.tensor([0, 2]))
    assert x.shape == (2, 32, 32, 32) and x.abs().max() <= 1
    assert D(x, torch.tensor([0, 2])).shape == (2,) and D.features(x).shape == (2, 16)
    assert VoxelGenerator(8, 4, 64)(torch.randn(1, 8)).shape == (1, 64, 64, 64)


def test_render_and_mesh_outputs(tmp_path):
    grid = np.zeros((32, 32, 32), bool)
    grid[8:24, 4:12, 8:24] = True
    img = render(grid, 0.0, 0.0, 64)
    assert img.shape == (64, 64) and img[0, 0] == 255 and (img < 255).mean() > 0.05
    mesh = to_mesh(grid)
    assert mesh.is_watertight and np.allclose(mesh.bounds, [[7.5, 3.5, 7.5], [23.5, 11.5, 23.5]])
    for suffix in (".obj", ".stl", ".glb", ".npy", ".png", ".binvox"):
        path = save_shape(tmp_path / f"s{suffix}", grid)
        assert path.stat().st_size > 100
    assert trimesh.load(tmp_path / "s.stl").is_watertight
    with pytest.raises(ganforge.errors.GanforgeError, match="empty"):
        to_mesh(np.zeros((8, 8, 8), bool))


def test_meshes_of_noisy_grids_are_watertight_and_manifold():
    rng = np.random.default_rng(0)
    rod = np.zeros((16, 16, 16), bool)
    rod[8, 2:14, 8] = True                                 # one voxel thick: kept
    for grid in [rng.random((16, 16, 16)) < p for p in (0.05, 0.2, 0.4)] + [rod]:
        mesh = to_mesh(grid)                               # raw marching cubes: voxels touching along an edge
        edges = np.sort(mesh.edges, axis=1)                # share it between four faces
        _, counts = np.unique(edges, axis=0, return_counts=True)
        assert mesh.is_watertight and mesh.is_winding_consistent and (counts == 2).all()
    assert np.allclose(to_mesh(rod).bounds[:, 1], [1.5, 13.5], atol=0.3)


def test_lgan_autoencoder_learns_and_3dgan_still_trains(tmp_path):
    from ganforge.tasks.voxels import VoxelGeneration, VoxelOptions

    torch.manual_seed(0)
    task = VoxelGeneration(VoxelOptions(data="builtin:objects?n=32", width=4, code=16))
    AE = task.modules["AE"]
    opt = torch.optim.Adam(AE.parameters(), 3e-3, betas=(0.9, 0.999))
    gen = torch.Generator().manual_seed(0)
    ious, losses = [], []
    for _ in range(150):
        batch = task.sample_batch(16, gen, torch.device("cpu"))
        loss, scalars = task.loss("AE", batch, task.modules, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ious.append(float(scalars["AE/iou"]))
        losses.append(float(loss))
    # reconstructions take the shapes' form
    assert np.mean(ious[-10:]) > 0.1 and np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    assert task.encoded.sum() > 0 and task.codes[task.encoded].abs().sum() > 0   # the latent GAN's real codes
    old = ganforge.train("voxels", data="builtin:objects?n=8", out=tmp_path / "g", method="3dgan", **TINY)
    assert "AE" not in old.nets and old.sample(2, seed=0).shape == (2, 32, 32, 32)
    assert old.features(old.sample(2, seed=0)).shape == (2, 16)     # the 3D-GAN: D's pooled features


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("voxels") / "run"
    return out, ganforge.train("voxels", data="builtin:objects?n=16", out=out, **TINY)


def test_training_sampling_and_outputs(run, tmp_path):
    out, model = run
    assert (out / "model.safetensors").exists() and (out / "samples" / "step-000002.png").exists()
    assert model.class_names == list(OBJECT_CLASSES)
    a = model.sample(3, seed=1, condition="cup")
    assert a.shape == (3, 32, 32, 32) and a.dtype == bool and (model.sample(3, seed=1, condition="cup") == a).all()
    with pytest.raises(ConfigError, match="not one of"):
        model.sample(1, condition="sofa")
    assert model.conditions() == list(OBJECT_CLASSES)
    assert model.features(a).shape == (3, model.options.code)         # lgan: the autoencoder's codes
    assert model.walk(tmp_path / "w.gif", walks=2, frames_per_key=2).exists()
    assert Image.open(tmp_path / "w.gif").n_frames == 8


def test_write_samples_each_and_preview(run, tmp_path):
    out, model = run
    grids = model.sample(3, seed=0, condition="lamp")
    [png] = model.write_samples(grids, tmp_path / "s.png", nrow=3)
    assert Image.open(png).size[0] > Image.open(png).size[1]       # one row of three
    [npy] = model.write_samples(grids, tmp_path / "s.npy")
    assert (np.load(npy) == grids).all()
    one = grids[:1] if grids[0].any() else np.ones((1, 32, 32, 32), bool)
    for suffix in (".obj", ".stl", ".glb", ".off", ".ply"):
        [mesh] = model.write_samples(one, tmp_path / f"one{suffix}")
        assert mesh.stat().st_size > 100
    with pytest.raises(ConfigError, match="--out-dir"):
        model.write_samples(grids, tmp_path / "many.obj")
    with pytest.raises(ConfigError, match=".png, .npy"):
        model.write_samples(grids, tmp_path / "s.csv")
    each = model.write_each(grids, tmp_path / "each", prefix="x-")
    assert {p.name for p in each} >= {"x-shape-0000.npy", "x-shape-0002.png"}
    [preview] = model.preview(grids, tmp_path / "p")
    assert preview.suffix == ".png" and preview.exists()


def test_model_file_and_run_defaults(run):
    from ganforge.api import resolve

    _, model = run
    assert model.meta["nets"]["G"]["class"] == "voxels.LatentGenerator" and model.D is not None
    assert model.meta["nets"]["AE"]["class"] == "voxels.VoxelAutoencoder"
    assert resolve("voxels", {})[0].batch == 32
    with pytest.raises(ConfigError, match="loss must be one of"):
        resolve("voxels", {"loss": "wgan"})[1].validate()


def test_cli_train_and_sample_voxels(run, tmp_path):
    out, _ = run
    r = CliRunner().invoke(app, ["sample", str(out), "--n", "4", "-o", str(tmp_path / "s.png"), "--label", "lamp"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["sample", str(out), "--n", "2", "-o", str(tmp_path / "s.npy"),
                                 "--out-dir", str(tmp_path / "each")])
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "s.npy").shape == (2, 32, 32, 32) and (tmp_path / "each" / "0000-shape-0001.png").exists()
    r = CliRunner().invoke(app, ["sample", str(out), "--n", "2", "-o", str(tmp_path / "s.obj")])
    assert r.exit_code == 1 and "--out-dir" in r.output
    r = CliRunner().invoke(app, ["train", "voxels", "--data", "builtin:objects?n=8", "--steps", "1", "--batch", "2",
                                 "--width", "4", "--out", str(tmp_path / "r"), "--quiet", "--resolution", "48"])
    assert r.exit_code == 1 and "resolution must be one of 32, 64" in r.output
