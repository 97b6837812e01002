"""Feature networks: the FID Inception layout, input handling, domain networks (train, save, load)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from ganforge import artifact
from ganforge.errors import CheckpointError, ConfigError, DataError, GanforgeError
from ganforge.metrics.features import INCEPTION_ENV, load_features, to_uint8, train_domain_features
from ganforge.metrics.features.inception import FIDInceptionV3

# Key names and shapes of pt_inception-2015-12-05-6726825d.pth (the pytorch-fid / TF FID layout).
FID_LAYOUT_SAMPLE = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_2b_3x3.conv.weight": (64, 32, 3, 3),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch_pool.conv.weight": (64, 288, 1, 1),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6c.branch7x7dbl_2.conv.weight": (160, 160, 7, 1),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch3x3dbl_1.conv.weight": (448, 2048, 1, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "Mixed_7c.branch_pool.bn.bias": (192,),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


@pytest.fixture(scope="module")
def one_thread_module():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine: OpenMP spin-waits make two threads slower
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fid_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return FIDInceptionV3().state_dict()


@pytest.fixture(scope="module")
def fid_weights(tmp_path_factory, fid_state):
    """A .pth with the FID file's keys and shapes (random values), saved the way the real one is:
    a plain state dict, without batch-norm counters."""
    path = tmp_path_factory.mktemp("inception") / "pt_inception-random.pth"
    torch.save({k: v for k, v in fid_state.items() if not k.endswith("num_batches_tracked")}, path)
    return path


# ----------------------------------------------------------------------------------------------- inception
def test_inception_layout_matches_the_fid_weight_file(fid_state):
    for key, shape in FID_LAYOUT_SAMPLE.items():
        assert tuple(fid_state[key].shape) == shape, key
    assert not any(k.startswith("AuxLogits") for k in fid_state)
    assert sum(1 for k in fid_state if k.endswith("conv.weight")) == 94
    # torchvision's Inception-v3 has 27,161,264 parameters; less its auxiliary head (3,326,696) and with
    # 1008 instead of 1000 classes (+16,392) that leaves the FID network's 23,850,960.
    assert sum(v.numel() for k, v in fid_state.items() if "running" not in k and "num_batches" not in k) == 23_850_960


def test_inception_loads_strictly_and_gives_2048_features(fid_weights, fid_state, one_thread_module):
    net = load_features("inception", weights=fid_weights, precision="fp32")
    assert (net.name, net.dim, net.input_size, net.num_classes, net.channels) == ("inception-fid", 2048, 299, 1008, 3)
    assert net.checksum == hashlib.sha256(fid_weights.read_bytes()).hexdigest()[:16]
    assert net.meta["standard_weights"] is False
    for key in ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.conv.weight", "fc.weight"):
        assert torch.equal(net.network.state_dict()[key], fid_state[key])

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)  # NHWC array
    feats, logits = net.extract(images, what="both")
    assert feats.shape == (2, 2048) and feats.dtype == np.float32 and logits.shape == (2, 1008)
    assert np.isfinite(feats).all() and (feats >= 0).all()  # pool3 follows a ReLU

    # same as running the module by hand the pytorch-fid way: [0, 1] input, resized inside
    ref = FIDInceptionV3()
    ref.load_state_dict(fid_state)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        f_ref, lg_ref = ref.eval()(x)
    assert torch.allclose(torch.from_numpy(feats), f_ref, rtol=1e-4, atol=1e-5)
    assert torch.allclose(torch.from_numpy(logits), lg_ref, rtol=1e-4, atol=1e-4)
    assert torch.allclose(lg_ref, f_ref @ fid_state["fc.weight"].t(), atol=1e-4)  # logits leave the bias out

    grey = torch.from_numpy(images[..., :1]).permute(0, 3, 1, 2).contiguous()  # N x 1 x H x W
    assert torch.allclose(net(grey), net(grey.expand(-1, 3, -1, -1)), atol=1e-6)  # grey is repeated to RGB


def test_inception_default_path_runs_in_bf16(fid_weights, one_thread_module):
    net = load_features("inception", weights=fid_weights)
    assert net.precision in ("bf16", "fp32")
    out = net(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    assert out.dtype == torch.float32 and out.shape == (1, 2048) and torch.isfinite(out).all()


def test_inception_weights_from_the_environment(fid_weights, monkeypatch, one_thread_module):
    monkeypatch.setenv(INCEPTION_ENV, str(fid_weights))
    assert load_features("inception", precision="fp32").dim == 2048


def test_inception_without_weights_says_how_to_give_them(monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    with pytest.raises(GanforgeError) as e:
        load_features("inception")
    msg = str(e.value)
    assert INCEPTION_ENV in msg and "weights" in msg and "\n" not in msg


def test_inception_rejects_wrong_files(tmp_path, fid_state):
    bad_shape = dict(fid_state)
    bad_shape["Mixed_6b.branch7x7_2.conv.weight"] = torch.zeros(128, 128, 7, 1)
    torch.save(bad_shape, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match="wrong shape.*Mixed_6b.branch7x7_2"):
        load_features("inception", weights=tmp_path / "shape.pth")

    missing = {k: v for k, v in fid_state.items() if not k.startswith("Mixed_7c.")}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="missing.*Mixed_7c"):
        load_features("inception", weights=tmp_path / "missing.pth")

    imagenet = {"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}
    torch.save(imagenet, tmp_path / "imagenet.pth")
    with pytest.raises(CheckpointError, match="torchvision"):
        load_features("inception", weights=tmp_path / "imagenet.pth")

    (tmp_path / "junk.pth").write_bytes(b"not a pickle at all")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_features("inception", weights=tmp_path / "junk.pth")
    with pytest.raises(CheckpointError, match="not found"):
        load_features("inception", weights=tmp_path / "absent.pth")


# ----------------------------------------------------------------------------------------------- inputs
def test_layouts_and_channels_give_the_same_features():
    net = load_features("pixels")
    assert (net.dim, net.num_classes) == (192, None)
    rng = np.random.default_rng(1)
    nhwc = rng.integers(0, 256, size=(5, 12, 12, 3), dtype=np.uint8)
    nchw = torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()
    assert torch.equal(net(nhwc), net(nchw))
    grey = nhwc[..., 0]
    assert torch.equal(net(grey), net(np.repeat(grey[..., None], 3, axis=-1)))  # NHW grey == repeated RGB
    seen: list = []
    out = net.extract(iter([nchw[:2], nchw[2:]]), progress=lambda done, total: seen.append((done, total)))
    assert np.array_equal(out, net(nchw).numpy()) and seen == [(2, None), (5, None)]
    assert torch.equal(to_uint8(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0, 128, 255], dtype=torch.uint8))

    with pytest.raises(DataError, match="uint8"):
        net(torch.rand(2, 3, 8, 8))
    with pytest.raises(DataError, match="channel"):
        net(torch.zeros(2, 5, 8, 8, dtype=torch.uint8))
    with pytest.raises(GanforgeError, match="not a classifier"):
        net.logits(nchw)
    with pytest.raises(ConfigError, match="unknown feature network"):
        load_features("resnet")


# ----------------------------------------------------------------------------------------------- domain
@pytest.fixture(scope="module")
def digits_net(tmp_path_factory, one_thread_module):
    out = tmp_path_factory.mktemp("domain") / "digits.safetensors"
    result = train_domain_features("builtin:digits", out, size=16, epochs=4, batch=64,
                                   stages=((16, 1), (32, 1), (64, 1)), feature_dim=64, seed=0)
    return result


def test_domain_classifier_learns_digits(digits_net):
    assert digits_net.mode == "classifier"
    assert digits_net.val_accuracy > 0.6  # chance is 0.1
    assert digits_net.path.is_file()


def test_domain_file_round_trip_and_deterministic_features(digits_net):
    from ganforge.data import load_images

    net = load_features(digits_net.path)
    meta = net.meta
    assert (net.name, net.dim, net.input_size, net.channels, net.num_classes) == ("domain:digits", 64, 16, 1, 10)
    assert net.checksum == hashlib.sha256(digits_net.path.read_bytes()).hexdigest()[:16]
    assert meta["kind"] == "ganforge-features" and meta["classes"] == [str(i) for i in range(10)]
    assert meta["accuracy"]["val"] == pytest.approx(digits_net.val_accuracy, abs=1e-5)
    data = load_images("builtin:digits", 16)
    assert meta["data"]["fingerprint"] == data.fingerprint and meta["data"]["n"] == 1797
    json.dumps(meta)

    images = data.images[:300]
    a, b = net(images), net(images)
    assert a.shape == (300, 64) and a.dtype == torch.float32 and torch.equal(a, b)
    accuracy = (net.logits(images).argmax(1) == data.labels[:300]).float().mean().item()
    assert accuracy > 0.6
    # RGB input is turned into grey; a larger image is resized to the network's 16 x 16
    rgb = images.expand(-1, 3, -1, -1)
    assert torch.allclose(net(rgb), a, atol=0.05 * float(a.abs().max()))
    assert net(torch.nn.functional.interpolate(images.float(), size=32).round().to(torch.uint8)).shape == (300, 64)
    exact = load_features(digits_net.path, precision="fp32")
    assert np.allclose(exact.extract(images, batch=7), exact(images).numpy(), atol=1e-5)


def test_domain_rotation_pretext_without_labels(tmp_path, one_thread_module):
    from ganforge.data import load_images

    images = load_images("builtin:digits", 16).images[:600].permute(0, 2, 3, 1).numpy()
    np.save(tmp_path / "unlabelled.npy", images)
    with pytest.raises(DataError, match="no labels"):
        train_domain_features(tmp_path / "unlabelled.npy", tmp_path / "x.safetensors", size=16, labelled=True)
    result = train_domain_features(str(tmp_path / "unlabelled.npy"), tmp_path / "rot.safetensors", size=16, epochs=12,
                                   batch=64, stages=((16, 1), (32, 1)), feature_dim=32)
    assert result.mode == "rotation" and result.val_accuracy > 0.45  # chance is 0.25
    net = load_features(result.path)
    assert net.num_classes is None and net.dim == 32
    with pytest.raises(GanforgeError, match="not a classifier"):
        net.logits(images[:2])


def test_domain_wrong_or_missing_files_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no such feature network file"):
        load_features(tmp_path / "absent.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_features(tmp_path / "junk.safetensors")
    artifact.save(tmp_path / "gan.safetensors", {"w": torch.zeros(2)}, {"task": "image"})
    with pytest.raises(CheckpointError, match="'image' model, not a feature network"):
        load_features(tmp_path / "gan.safetensors")
    with pytest.raises(ConfigError, match=".safetensors"):
        train_domain_features("builtin:digits", tmp_path / "out.bin")
