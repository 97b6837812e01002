"""StyleGAN2 import: a snapshot pickled the way stylegan2-ada-pytorch's training loop writes it (persistent
classes carrying their module source) is read without running that source, loads into ganforge's generator
and gives the images of the original module; pickles naming anything else are refused before anything is built."""
from __future__ import annotations

import importlib
import os
import pickle
import sys
import copy

import numpy as np
import pytest
import torch

import ganforge
from ganforge import importers
from ganforge.errors import CheckpointError
from ganforge.importers._pickle import PersistentObject, restricted_load

from .stylegan2_reference import FILES

torch.set_num_threads(1)
TOL = 1e-4


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The stand-in stylegan2-ada packages (dnnlib, torch_utils.persistence, training.networks), importable."""
    root = tmp_path_factory.mktemp("sg2ada")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("training.networks"), importlib.import_module("dnnlib")
    finally:
        sys.path.remove(str(root))
        for mod in [m for m in sys.modules if m.split(".")[0] in ("training", "torch_utils", "dnnlib")
                    or m.startswith("_imported_module_")]:
            del sys.modules[mod]


def make_generator(networks, dnnlib, *, size=16, c_dim=0, conv_clamp=None, seed=0):
    torch.manual_seed(seed)
    G = networks.Generator(z_dim=12, c_dim=c_dim, w_dim=10, img_resolution=size, img_channels=3,
                           mapping_kwargs=dnnlib.EasyDict(num_layers=2),
                           synthesis_kwargs=dnnlib.EasyDict(channel_base=8 * size, channel_max=16,
                                                            conv_clamp=conv_clamp))
    with torch.no_grad():  # untrained networks have zero noise strengths, biases and w_avg: make them count
        for name, p in G.named_parameters():
            if name.endswith(("noise_strength", "bias")):
                p.add_(torch.randn_like(p) * 0.3)
        G.mapping.w_avg.normal_()
    return G


def write_snapshot(path, G, D):
    """What stylegan2-ada-pytorch's training loop pickles at each snapshot."""
    snapshot = {"training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "path": "faces.zip",
                                        "resolution": G.img_resolution, "use_labels": False}}
    for name, module in [("G", G), ("D", D), ("G_ema", G), ("augment_pipe", None)]:
        if module is not None:
            module = copy.deepcopy(module).eval().requires_grad_(False).cpu()
        snapshot[name] = module
    with open(path, "wb") as f:
        pickle.dump(snapshot, f)


@pytest.mark.parametrize("c_dim,conv_clamp", [(0, None), (3, 256.0)])
def test_snapshot_imports_and_matches_the_original_module(reference, tmp_path, c_dim, conv_clamp):
    networks, dnnlib = reference
    G = make_generator(networks, dnnlib, c_dim=c_dim, conv_clamp=conv_clamp)
    D = networks.Discriminator(c_dim=c_dim, img_resolution=16, img_channels=3)
    path = tmp_path / "network-snapshot-000100.pkl"
    write_snapshot(path, G, D)

    before = {m for m in sys.modules if m.startswith("_imported_module_")}
    state = restricted_load(path)
    assert {m for m in sys.modules if m.startswith("_imported_module_")} == before  # no stored source was run
    assert isinstance(state["G_ema"], PersistentObject) and state["G_ema"].class_name == "Generator"
    assert state["augment_pipe"] is None and state["training_set_kwargs"]["resolution"] == 16
    assert set(state["G_ema"].state_dict()) == set(G.state_dict())  # the key layout, read without running the source

    model = ganforge.load(path)
    assert model.meta["options"]["arch"] == "style" and model.G.num_ws == G.num_ws
    z = torch.randn(4, 12, generator=torch.Generator().manual_seed(1))
    c = torch.nn.functional.one_hot(torch.arange(4) % 3, 3).float() if c_dim else None
    y = torch.arange(4) % 3 if c_dim else None
    with torch.no_grad():
        for psi, cutoff in [(1.0, None), (0.7, None), (0.5, 2)]:
            want = G(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const")
            got = model.G(z, y, psi=psi, cutoff=cutoff, noise_mode="const")
            assert (got - want.clamp(-1, 1)).abs().max() < TOL
            ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
            raw = model.G.synthesis(model.G.ws(z, y, psi, cutoff), "const")
            diff = float((raw - want).abs().max())
            assert diff < TOL, diff
            assert float((model.G.ws(z, y, psi, cutoff) - ws).abs().max()) < TOL
        assert float(want.abs().max()) > 0.05  # a real picture, not zeros
    images = model.sample(3, seed=0)
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.uint8
    assert np.array_equal(images, model.sample(3, seed=0))


def test_snapshot_through_import_command_and_state_dict(reference, tmp_path):
    networks, dnnlib = reference
    G = make_generator(networks, dnnlib, size=8)
    write_snapshot(tmp_path / "net.pkl", G, networks.Discriminator(0, 8, 3))
    from ganforge import artifact

    tensors, meta = importers.convert(tmp_path / "net.pkl")
    assert meta["imported"]["arch"] == "stylegan2" and meta["task"] == "image"
    artifact.save(tmp_path / "model.safetensors", tensors, meta)
    a = ganforge.load(tmp_path / "model.safetensors").sample(2, seed=3)
    # the same generator as a plain state dict (.pt): hyper-parameters read from the shapes
    torch.save(G.state_dict(), tmp_path / "g.pt")
    b = ganforge.load(tmp_path / "g.pt").sample(2, seed=3)
    assert np.array_equal(a, b)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _EvalEvil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("evil,named", [(_Evil, "system"), (_EvalEvil, "builtins.eval")])
def test_pickle_with_other_globals_is_refused_before_anything_is_built(tmp_path, evil, named):
    marker = tmp_path / "pwned"
    path = tmp_path / "network-snapshot-000000.pkl"
    with open(path, "wb") as f:  # a tensor first, the payload after it
        pickle.dump({"G_ema": {"w": torch.ones(2)}, "x": evil(marker)}, f)
    with pytest.raises(CheckpointError) as e:
        ganforge.load(path)
    text = str(e.value)
    assert "\n" not in text and str(path) in text and named in text and "refused" in text
    assert not marker.exists()
    with pytest.raises(CheckpointError, match=named):
        restricted_load(path)
    assert not marker.exists()


def test_persistent_source_is_never_run(tmp_path):
    """A persistent object whose stored module source would write a file: read as data, never executed."""
    marker = tmp_path / "ran"
    meta = {"type": "class", "version": 6, "class_name": "Generator",
            "module_src": f"open({str(marker)!r}, 'w').close()\nclass Generator: pass\n",
            "state": {"_parameters": {}, "_buffers": {}, "_modules": {}, "_init_kwargs": {}}}

    class Fake:
        def __reduce__(self):
            return _reconstruct_stub, (meta,)

    import types
    module = types.ModuleType("torch_utils.persistence")
    _reconstruct_stub = None

    def _reconstruct_persistent_obj(meta):  # pickled by name only
        raise AssertionError("not called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    pkg = types.ModuleType("torch_utils")
    sys.modules["torch_utils"], sys.modules["torch_utils.persistence"] = pkg, module
    try:
        _reconstruct_stub = _reconstruct_persistent_obj
        with open(tmp_path / "x.pkl", "wb") as f:
            pickle.dump({"G_ema": Fake()}, f)
    finally:
        del sys.modules["torch_utils"], sys.modules["torch_utils.persistence"]
    state = restricted_load(tmp_path / "x.pkl")
    assert state["G_ema"].class_name == "Generator" and "open(" in state["G_ema"].module_src
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="without the StyleGAN2 generator"):
        importers.convert(tmp_path / "x.pkl")


def test_unknown_layout_is_one_line(tmp_path):
    torch.save({"mapping.fc0.weight": torch.zeros(4, 4), "synthesis.b4.const": torch.zeros(4, 4, 4)},
               tmp_path / "half.pt")
    with pytest.raises(CheckpointError) as e:
        importers.convert(tmp_path / "half.pt", arch="stylegan2")
    assert "\n" not in str(e.value)
