"""ESRGAN / Real-ESRGAN import: parity with spandrel (the loader chaiNNer, Upscayl and ComfyUI use) on random
weights in the published key layouts, detection, the -wdn interpolation, errors, and the front doors."""
from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import ganforge
from ganforge import importers
from ganforge.cli.app import app
from ganforge.errors import CheckpointError, ConfigError


def _w(*shape: int) -> torch.Tensor:
    """Random weights small enough that 20+ layers neither explode nor vanish."""
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return torch.randn(*shape) * (0.5 / fan_in ** 0.5)


def rrdb_state(nf=8, nb=2, gc=4, in_ch=3, num_up=2, names="new") -> dict[str, torch.Tensor]:
    """An RRDBNet state dict written from the published layouts (BasicSR's and the original ESRGAN's)."""
    s: dict[str, torch.Tensor] = {}

    def conv(key, cout, cin):
        s[key + ".weight"], s[key + ".bias"] = _w(cout, cin, 3, 3), _w(cout)

    first, body, trunk = {"new": ("conv_first", "body.{i}.rdb{r}.conv{c}", "conv_body"),
                          "bsrgan": ("conv_first", "RRDB_trunk.{i}.RDB{r}.conv{c}", "trunk_conv"),
                          "old": ("model.0", "model.1.sub.{i}.RDB{r}.conv{c}.0", f"model.1.sub.{nb}")}[names]
    conv(first, nf, in_ch)
    for i in range(nb):
        for r in (1, 2, 3):
            for c in range(1, 6):
                conv(body.format(i=i, r=r, c=c), nf if c == 5 else gc, nf + (c - 1) * gc)
    conv(trunk, nf, nf)
    for u in range(num_up):
        conv({"new": f"conv_up{u + 1}", "bsrgan": f"upconv{u + 1}", "old": f"model.{3 * (u + 1)}"}[names], nf, nf)
    conv({"old": f"model.{3 * num_up + 2}", "bsrgan": "HRconv"}.get(names, "conv_hr"), nf, nf)
    conv({"old": f"model.{3 * num_up + 4}"}.get(names, "conv_last"), 3, nf)
    return s


def compact_state(nf=8, nconv=3, scale=4) -> dict[str, torch.Tensor]:
    """SRVGGNetCompact's layout: body.0 conv, body.1 PReLU, ..., body.{2 nconv + 2} conv to 3 x scale^2."""
    s = {"body.0.weight": _w(nf, 3, 3, 3), "body.0.bias": _w(nf), "body.1.weight": torch.rand(nf) * 0.3}
    for i in range(nconv):
        s[f"body.{2 * i + 2}.weight"], s[f"body.{2 * i + 2}.bias"] = _w(nf, nf, 3, 3), _w(nf)
        s[f"body.{2 * i + 3}.weight"] = torch.rand(nf) * 0.3
    last = 2 * nconv + 2
    s[f"body.{last}.weight"], s[f"body.{last}.bias"] = _w(3 * scale * scale, nf, 3, 3), _w(3 * scale * scale)
    return s


@pytest.fixture(scope="module")
def spandrel():
    """spandrel, imported with stand-ins for the three torchvision names two of its other architectures import
    at module level (torchvision does not work here; ESRGAN and Compact never use it)."""
    pytest.importorskip("einops")
    if importlib.util.find_spec("spandrel") is None:
        pytest.skip("spandrel is not installed (make install puts it in with --no-deps)")
    names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
    saved = {n: sys.modules.get(n) for n in names}
    tv, tr, fn = (types.ModuleType(n) for n in names)
    tv.transforms, tr.functional = tr, fn

    class InterpolationMode:  # noqa: D401 - a stand-in
        NEAREST = "nearest"
        BILINEAR = "bilinear"

    def unavailable(*args, **kwargs):
        raise RuntimeError("torchvision stand-in")

    fn.InterpolationMode, fn.rotate, fn.normalize = InterpolationMode, unavailable, unavailable
    sys.modules.update(zip(names, (tv, tr, fn)))
    try:
        import spandrel as module
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
    return module


def _parity(spandrel, state, tmp_path, name="model.pth", size=12):
    torch.manual_seed(1)
    path = tmp_path / name
    torch.save(state, path)
    ref = spandrel.ModelLoader().load_from_state_dict(dict(state)).model.eval()
    model = ganforge.load(path)
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        expected = ref(x) * 2 - 1          # spandrel works in [0, 1], ganforge in [-1, 1]
        got = model.G(x * 2 - 1)
    assert got.shape == expected.shape and expected.std() > 0.05  # a real signal, not a constant
    return (got - expected).abs().max().item(), model


@pytest.mark.parametrize("names,num_up,in_ch,scale", [("new", 2, 3, 4), ("old", 2, 3, 4), ("new", 2, 12, 2),
                                                      ("bsrgan", 2, 3, 4), ("new", 2, 48, 1)])
def test_rrdbnet_matches_spandrel(spandrel, tmp_path, names, num_up, in_ch, scale):
    torch.manual_seed(0)
    # gc 32: spandrel assumes the published growth channels
    diff, model = _parity(spandrel, rrdb_state(gc=32, in_ch=in_ch, num_up=num_up, names=names), tmp_path)
    print(f"RRDBNet {names} x{scale}: max abs diff {diff:.2e}")
    assert diff < 1e-5
    assert model.options.kind == "superres" and model.options.scale == scale
    assert model.G.multiple == {4: 1, 2: 2, 1: 4}[scale]


def test_compact_matches_spandrel(spandrel, tmp_path):
    torch.manual_seed(0)
    diff, model = _parity(spandrel, compact_state(), tmp_path)
    print(f"SRVGGNetCompact x4: max abs diff {diff:.2e}")
    assert diff < 1e-5 and model.options.scale == 4


@pytest.mark.parametrize("make,wrap,detected", [
    (lambda: rrdb_state(nf=16, nb=3, gc=8), "params_ema", "RRDBNet x4 (BasicSR names): 3 blocks, 16 features, 8 growth"),
    (lambda: rrdb_state(nb=6), "params", "RRDBNet x4 (BasicSR names): 6 blocks"),            # the anime 6B layout
    (lambda: rrdb_state(in_ch=12), None, "RRDBNet x2 (BasicSR names): 2 blocks, 8 features, 4 growth channels, "
                                         "pixel-unshuffle /2"),
    (lambda: rrdb_state(names="old", num_up=1), None, "RRDBNet x2 (ESRGAN (old names))"),  # old ESRGAN x2 / x8
    (lambda: rrdb_state(names="old", num_up=3), None, "RRDBNet x8 (ESRGAN (old names))"),
    (lambda: compact_state(nf=16, nconv=5, scale=2), "params", "SRVGGNetCompact x2: 5 convolutions, 16 features, prelu"),
])
def test_detection(tmp_path, make, wrap, detected):
    torch.manual_seed(0)
    state = make()
    torch.save({wrap: state} if wrap else state, tmp_path / "w.pth")
    tensors, meta = importers.convert(tmp_path / "w.pth")
    assert meta["imported"]["arch"] == "esrgan" and meta["imported"]["detected"].startswith(detected)
    assert meta["task"] == "restore" and meta["options"]["kind"] == "superres"
    assert all(k.startswith("G.") for k in tensors)
    model = ganforge.load(tmp_path / "w.pth")
    out = model.apply(np.zeros((9, 10, 3), np.uint8))
    assert out.shape == (9 * model.options.scale, 10 * model.options.scale, 3)


def test_wdn_interpolates_the_two_files(tmp_path):
    torch.manual_seed(0)
    a, b = compact_state(), compact_state()
    torch.save({"params": a}, tmp_path / "realesr-general-x4v3.pth")
    torch.save({"params": b}, tmp_path / "realesr-general-wdn-x4v3.pth")
    tensors, meta = importers.convert(tmp_path / "realesr-general-x4v3.pth",
                                      wdn=str(tmp_path / "realesr-general-wdn-x4v3.pth"), denoise=0.3)
    for k in a:
        torch.testing.assert_close(tensors["G." + k], 0.3 * a[k] + 0.7 * b[k])
    assert "denoise 0.3" in meta["imported"]["detected"]
    with pytest.raises(ConfigError, match="denoise needs wdn"):
        importers.convert(tmp_path / "realesr-general-x4v3.pth", denoise=0.5)
    r = CliRunner().invoke(app, ["import", str(tmp_path / "realesr-general-x4v3.pth"), "-o", str(tmp_path / "m.safetensors"),
                                 "--wdn", str(tmp_path / "realesr-general-wdn-x4v3.pth"), "--denoise", "0.3"])
    assert r.exit_code == 0, r.output
    loaded = ganforge.load(tmp_path / "m.safetensors")
    for k in a:
        torch.testing.assert_close(loaded.nets["G"].state_dict()[k], 0.3 * a[k] + 0.7 * b[k])
    torch.save(compact_state(nconv=4), tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not the same architecture"):
        importers.convert(tmp_path / "realesr-general-x4v3.pth", wdn=str(tmp_path / "other.pth"))


def test_unknown_and_damaged_files_are_one_line(tmp_path):
    torch.save({"encoder.weight": torch.zeros(3, 3), "step": torch.tensor(1)}, tmp_path / "mystery.pth")
    with pytest.raises(CheckpointError) as e:
        importers.convert(tmp_path / "mystery.pth")
    text = str(e.value)
    assert "\n" not in text and "encoder.weight (3, 3)" in text and "esrgan" in text and "cyclegan" in text
    state = rrdb_state()
    state["conv_hr.weight"] = torch.zeros(8, 5, 3, 3)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="bad.pth: looks like RRDBNet x4 .*do not fit") as e:
        importers.convert(tmp_path / "bad.pth")
    assert "\n" not in str(e.value)


def test_import_then_apply_from_the_cli(tmp_path):
    torch.manual_seed(0)
    torch.save({"params_ema": compact_state()}, tmp_path / "tiny-x4.pth")
    from PIL import Image
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    runner = CliRunner()
    r = runner.invoke(app, ["import", str(tmp_path / "tiny-x4.pth"), "-o", str(tmp_path / "sr.safetensors")])
    assert r.exit_code == 0, r.output
    assert "restore model, esrgan" in r.output
    r = runner.invoke(app, ["apply", str(tmp_path / "sr.safetensors"), str(tmp_path / "in.png"),
                            "-o", str(tmp_path / "out.png"), "--tile", "16"])
    assert r.exit_code == 0, r.output
    tiled = np.asarray(Image.open(tmp_path / "out.png"))
    assert tiled.shape == (80, 120, 3)
    whole = ganforge.load(tmp_path / "tiny-x4.pth").apply(tmp_path / "in.png")  # the weight file directly
    # 16-px tiles are smaller than the network's field of view: close, not identical
    assert np.abs(np.asarray(whole).astype(float) - tiled.astype(float)).mean() < 0.5
    r = runner.invoke(app, ["info", str(tmp_path / "tiny-x4.pth")])        # every model command takes the file
    assert r.exit_code == 0 and "restore" in r.output and "apply" in r.output, r.output
