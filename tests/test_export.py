"""Export: each kind of model to ONNX and TorchScript, parity with eager PyTorch, dynamic batch and sizes,
the JSON contract, the one-line refusal, the CLI and the studio's suffix."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.errors import ConfigError
from ganforge.predict.export import export_model, ort_session
from ganforge.imaging import media
from ganforge.predict.base import Model, NotSupported

torch.set_num_threads(1)
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

FAST = dict(precision="fp32", threads=1, progress=False, eval_every=1000, checkpoint_every=1000)
PARITY = 1e-3


def contract(path) -> dict:
    return json.loads(path.with_name(path.name + ".json").read_text())


def run_onnx(path, **inputs) -> np.ndarray:
    return ort_session(path, threads=1).run(None, {k: v.numpy() for k, v in inputs.items()})[0]


def load_ts(path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's notice; TorchScript files still load
        return torch.jit.load(str(path))


def photos(path, n=3, h=40, w=44):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path / f"p{i}.png")
    return path


def pairs(path, n=4, h=40, w=48):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(path / f"{i}.png")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def generator(folder):
    return ganforge.train("image", data="builtin:digits", out=folder / "gen", size=16, steps=2, batch=8, width=8,
                          z_dim=8, conditional=True, **FAST)


@pytest.fixture(scope="module")
def superres(folder):
    return ganforge.train("restore", kind="superres", data=str(photos(folder / "ph")), out=folder / "sr", crop=32,
                          width=8, blocks=1, steps=2, batch=2, pretrain_steps=1, **FAST)


@pytest.fixture(scope="module")
def translator(folder):
    return ganforge.train("translate", pairs=str(pairs(folder / "pairs")), out=folder / "tr", crop=32, width=8,
                          steps=2, batch=2, **FAST)


@pytest.fixture(scope="module")
def table(folder):
    rng = np.random.default_rng(0)
    n = 300
    import pandas as pd
    df = pd.DataFrame({"age": rng.normal(40, 10, n).round(), "income": rng.lognormal(10, 0.5, n),
                       "sex": rng.choice(["F", "M"], n), "city": rng.choice(["a", "b", "c"], n, p=[.6, .3, .1])})
    df.loc[::17, "income"] = np.nan
    return ganforge.train("table", data=df, out=folder / "tab", steps=2, batch=100, z_dim=8, gen_dims=[16],
                          dis_dims=[16], **FAST)


# ------------------------------------------------------------------------------------------ generators
@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
def test_generator_exports_with_parity_and_contract(generator, tmp_path, suffix):
    out = tmp_path / f"g{suffix}"
    report = export_model(generator, out)
    assert out.exists() and report.max_abs_diff < PARITY
    c = contract(out)
    assert c["format"] == ("onnx" if suffix == ".onnx" else "torchscript")
    assert [i["name"] for i in c["inputs"]] == ["z", "class"] and [o["name"] for o in c["outputs"]] == ["image"]
    assert c["inputs"][0]["shape"] == ["batch", 8] and c["inputs"][1]["dtype"] == "int64"
    assert c["inputs"][1]["classes"] == generator.classes and c["inputs"][1]["range"] == [0, 9]
    assert c["outputs"][0]["shape"] == ["batch", 1, 16, 16] and c["outputs"][0]["range"] == [-1, 1]
    assert c["parity"]["max_abs_diff"] == report.max_abs_diff < PARITY and c["ganforge_version"] == ganforge.__version__
    assert c["source"]["task"] == "image" and c["source"]["path"].endswith("model.safetensors")
    # the file makes what sample() makes, at another batch size than the export's
    z, y = generator.latents(5, seed=3), torch.tensor([0, 3, 9, 1, 1])
    if suffix == ".onnx":
        got = run_onnx(out, z=z, **{"class": y})
    else:
        got = load_ts(out)(z, y).numpy()
    assert got.shape == (5, 1, 16, 16)
    assert np.abs(media.to_uint8(got).astype(int) - generator.generate(z, y=y).astype(int)).max() <= 1


def test_fixed_batch_and_fp16(generator, tmp_path):
    export_model(generator, tmp_path / "g4.onnx", batch=4)
    c = contract(tmp_path / "g4.onnx")
    assert c["inputs"][0]["shape"] == [4, 8] and c["outputs"][0]["shape"] == [4, 1, 16, 16]
    assert "batch" not in c["dynamic"]
    session = ort_session(tmp_path / "g4.onnx")
    assert session.get_inputs()[0].shape == [4, 8]
    report = export_model(generator, tmp_path / "g16.pt", precision="fp16")
    assert report.contract["precision"] == "fp16" and report.max_abs_diff < 5e-2


# ------------------------------------------------------------------------------------------ image to image
@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
def test_superres_exports_with_dynamic_batch_and_size(superres, tmp_path, suffix):
    out = tmp_path / f"sr{suffix}"
    report = export_model(superres, out)
    assert report.max_abs_diff < PARITY
    c = contract(out)
    assert c["inputs"][0]["shape"] == ["batch", 3, "height", "width"]
    assert c["outputs"][0]["shape"] == ["batch", 3, "height*4", "width*4"] and "4x larger" in c["description"]
    assert set(c["dynamic"]) == {"batch", "height", "width"} and "multiple" not in c  # SRResNet: any size
    x = torch.rand(3, 3, 13, 21) * 2 - 1   # a batch and a size the export never saw
    got = run_onnx(out, image=x) if suffix == ".onnx" else load_ts(out)(x).numpy()
    with torch.no_grad():
        want = superres.G(x).clamp(-1, 1).numpy()
    assert got.shape == (3, 3, 52, 84) and np.abs(got - want).max() < PARITY


def test_translator_dynamic_height_width_respects_multiple(translator, tmp_path):
    out = tmp_path / "tr.onnx"
    assert export_model(translator, out).max_abs_diff < PARITY
    c = contract(out)
    m = translator.G.multiple
    assert c["multiple"] == m == 8 and f"multiples of {m}" in c["description"]
    x = torch.rand(2, 3, 3 * m, 5 * m) * 2 - 1
    got = run_onnx(out, image=x)
    with torch.no_grad():
        want = translator.G(x).numpy()
    assert got.shape == (2, 3, 24, 40) and np.abs(got - want).max() < PARITY


def test_inpainting_takes_image_and_mask(folder, tmp_path):
    model = ganforge.train("restore", kind="inpaint", data=str(photos(folder / "ph2")), out=folder / "inp", crop=32,
                           width=8, steps=1, batch=2, pretrain_steps=1, **FAST)
    out = tmp_path / "inp.onnx"
    assert export_model(model, out).max_abs_diff < PARITY
    assert [i["name"] for i in contract(out)["inputs"]] == ["image", "mask"]
    x, m = torch.rand(1, 3, 32, 48) * 2 - 1, torch.zeros(1, 1, 32, 48)
    m[..., 8:16, 8:24] = 1
    got = run_onnx(out, image=x, mask=m)
    keep = (m == 0).expand_as(x).numpy()
    assert np.abs(got[keep] - x.numpy()[keep]).max() < 1e-6   # known pixels are the input's


# ------------------------------------------------------------------------------------------ tables
@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
def test_table_exports_rows_and_documents_the_decoding(table, tmp_path, suffix):
    out = tmp_path / f"t{suffix}"
    assert export_model(table, out).max_abs_diff < PARITY
    c = contract(out)
    codec = table.codec
    assert [i["name"] for i in c["inputs"]] == ["noise", "cond"]
    assert c["inputs"][1]["shape"] == ["batch", codec.cond_dim] and c["outputs"][0]["shape"] == ["batch", codec.dim]
    dec = c["decoding"]
    assert [s["start"] for s in dec["spans"]] == [s.start for s in codec.spans]
    cols = {col["name"]: col for col in dec["columns"]}
    assert sorted(cols["sex"]["levels"]) == ["F", "M"] and cols["income"]["has_missing"] is True
    assert len(cols["age"]["means"]) == len(cols["age"]["stds"]) >= 1
    assert {b["column"] for b in dec["cond"]["blocks"]} == {"sex", "city"}
    assert sum(dec["cond"]["blocks"][0]["frequencies"]) == 300
    # following the documented decoding on the file's output gives valid values
    gen = torch.Generator().manual_seed(1)
    noise, cond = torch.randn(50, 8, generator=gen), table.cond.sample(50, gen)
    row = run_onnx(out, noise=noise, cond=cond) if suffix == ".onnx" else load_ts(out)(noise, cond).numpy()
    for span in dec["spans"]:
        block = row[:, span["start"]:span["start"] + span["size"]]
        if span["activation"] == "softmax":
            assert np.allclose(block.sum(1), 1, atol=1e-5)
        else:
            assert np.abs(block).max() <= 1
    values = codec.inverse(codec.hard(row))
    assert set(values["sex"]) <= {"F", "M"} and np.isfinite(values["age"]).all()


# ------------------------------------------------------------------------------------------ refusals, CLI, studio
def test_a_model_that_cannot_be_exported_says_so_in_one_line(folder, tmp_path):
    series = ganforge.train("series", data="builtin:sines?n=32", out=folder / "series", steps=2, batch=8, hidden=8,
                            **FAST)
    with pytest.raises(NotSupported) as e:
        series.export(output=tmp_path / "s.onnx")
    assert "cannot be exported (yet)" in str(e.value) and "\n" not in str(e.value)
    assert "export" not in series.verbs() and "export" not in series.capabilities()["verbs"]
    r = CliRunner().invoke(app, ["export", str(folder / "series"), "-o", str(tmp_path / "s.onnx")])
    assert r.exit_code == 1 and "cannot export" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_bad_requests(generator, tmp_path):
    with pytest.raises(ConfigError, match=r"\.onnx \(ONNX\) or \.pt"):
        export_model(generator, tmp_path / "g.tflite")
    with pytest.raises(ConfigError, match="precision"):
        export_model(generator, tmp_path / "g.onnx", precision="int8")
    assert not list(tmp_path.iterdir())


def test_cli_export_end_to_end(superres, folder, tmp_path):
    run = folder / "sr"
    out = tmp_path / "x.onnx"
    r = CliRunner().invoke(app, ["export", str(run), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists() and "max abs difference" in r.output
    assert contract(out)["parity"]["max_abs_diff"] < PARITY
    assert not list(tmp_path.glob("*.data")) and not list(tmp_path.glob(".*tmp"))  # one file, no temporaries
    r = CliRunner().invoke(app, ["export", "--help"])
    assert r.exit_code == 0 and "--output" in r.output and "--precision" in r.output
    r = CliRunner().invoke(app, ["info", str(run)])
    assert r.exit_code == 0 and "export" in next(line for line in r.output.splitlines() if line.startswith("can"))
    r = CliRunner().invoke(app, ["export", str(run)])
    assert r.exit_code != 0 and "--output" in r.output


def test_studio_names_the_export_file_onnx(superres, folder):
    from ganforge.studio import results

    fn = type(superres).verbs()["export"]
    assert fn is Model.export and results._output_suffix(fn) == ".onnx"
    form = results.verb_form("export", fn)
    assert [f["name"] for f in form["fields"]] == ["precision", "batch"]
    done = results.run_verb(folder / "sr", "export", {})
    assert any(f.endswith(".onnx") for f in done["files"]) and any(f.endswith(".onnx.json") for f in done["files"])
    assert "max abs difference" in done["message"]
