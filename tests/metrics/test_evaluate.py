"""evaluate(): sources, protocol, training-time metrics with a kept best model, and the eval commands."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.errors import ConfigError
from ganforge.metrics.evaluate import evaluate, parse_metrics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def shapes(n: int, seed: int) -> np.ndarray:
    from ganforge.data import load_images
    return load_images(f"builtin:shapes?n={n}&seed={seed}", 16).images.numpy()


def test_a_set_against_itself_scores_perfectly_and_a_shifted_set_does_not():
    a, b = shapes(300, 0), shapes(300, 1)
    same = evaluate(a, b, "fid,kid,pr", n=300, features="pixels")["scores"]
    darker = evaluate((a * 0.5).astype(np.uint8), b, "fid,kid,pr", n=300, features="pixels")["scores"]
    assert same["fid"] < 0.2 * darker["fid"] and abs(same["kid"]) < 0.2 * darker["kid"]
    assert same["precision"] > 0.6 and same["recall"] > 0.6


def test_report_states_its_protocol():
    report = evaluate(shapes(64, 0), shapes(80, 1), ["kid", "dc"], n=50, features="pixels", seed=3)
    p = report["protocol"]
    assert p["n_generated"] == 50 and p["n_real"] == 50 and p["seed"] == 3 and p["metrics"] == ["kid", "dc"]
    assert p["features"]["name"].startswith("pixels") and p["features"]["checksum"]
    assert set(report["scores"]) == {"kid", "kid_std", "density", "coverage"}


def test_unknown_metric_and_missing_classifier_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown metric 'fdi'"):
        parse_metrics("fid,fdi")
    with pytest.raises(ConfigError, match="need a classifier feature network"):
        evaluate(shapes(20, 0), shapes(20, 1), "is", n=20, features="pixels")


@pytest.fixture(scope="module")
def run_with_metrics(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    ganforge.train("image", out=out, data="builtin:shapes?n=96", size=16, width=8, z_dim=8, batch=16, steps=12,
                   eval_every=4, metrics="kid,fid", eval_n=48, features="pixels", progress=False, threads=1)
    return out


def test_training_logs_scores_and_keeps_the_best_model(run_with_metrics):
    out = run_with_metrics
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    kids = [(r["step"], r["eval/kid"]) for r in records if "eval/kid" in r]
    assert [s for s, _ in kids] == [4, 8, 12] and all("eval/fid" in r for r in records if "eval/kid" in r)
    best_step, best_kid = min(kids, key=lambda sk: sk[1])
    best = ganforge.load(out / "model-best.safetensors")
    assert best.meta["step"] == best_step and best.meta["best"]["value"] == pytest.approx(best_kid)
    assert best.meta["best"]["metric"] == "kid"
    assert (out / "checkpoints" / "best.pt").is_file()
    assert ganforge.load(out).meta["best"]["step"] == best_step  # the last model knows which was best


def test_eval_command_writes_scores_with_protocol(run_with_metrics, tmp_path):
    result = CliRunner().invoke(app, ["eval", str(run_with_metrics), "--metrics", "kid,pr", "--n", "40",
                                      "--features", "pixels", "-o", str(tmp_path / "e.json")])
    assert result.exit_code == 0, result.output
    assert "kid" in result.output and "40 generated vs 40 real" in result.output
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["protocol"]["real"]["source"] == "builtin:shapes?n=96"  # defaults to the training data
    assert {"kid", "kid_std", "precision", "recall"} == set(report["scores"])


def test_eval_folders_compares_two_image_folders(tmp_path):
    for name, seed in (("a", 0), ("b", 1)):
        (tmp_path / name).mkdir()
        for i, im in enumerate(shapes(30, seed)):
            Image.fromarray(im.transpose(1, 2, 0)).save(tmp_path / name / f"{i}.png")
    result = CliRunner().invoke(app, ["eval-folders", str(tmp_path / "a"), str(tmp_path / "b"), "--metrics",
                                      "fid,kid", "--features", "pixels", "--size", "16",
                                      "-o", str(tmp_path / "e.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["protocol"]["n_generated"] == report["protocol"]["n_real"] == 30
    assert np.isfinite(report["scores"]["fid"])


class _DigitsByClass:
    """A stand-in conditional model whose sample for a class is a real digit of that class (names reversed
    against the classifier's order, so CAS is right only when classes are matched by name)."""

    def __init__(self, wrong: bool = False):
        from ganforge.data import load_images

        d = load_images("builtin:digits", 16)
        self.by_class = {name: d.images[d.labels == i].numpy() for i, name in enumerate(d.class_names)}
        self.classes = list(reversed(d.class_names))
        self.conditional, self.wrong = True, wrong

    def labels(self, n):
        import torch
        return torch.arange(n) % len(self.classes)

    def latents(self, n, seed=0):
        import torch
        return torch.zeros(n, 1)

    def generate(self, z, y=None):
        names = [self.classes[(i + 1) % len(self.classes)] if self.wrong else self.classes[i] for i in y.tolist()]
        return np.stack([self.by_class[c][k].transpose(1, 2, 0) for k, c in enumerate(names)])


def test_cas_matches_classes_by_name(tmp_path):
    from ganforge.metrics.evaluate import _cas
    from ganforge.metrics.features import load_features, train_domain_features

    result = train_domain_features("builtin:digits", tmp_path / "d.safetensors", size=16, epochs=4, batch=64,
                                   stages=((16, 1), (32, 1), (64, 1)), feature_dim=64, seed=0)
    net = load_features(result.path)
    assert _cas(_DigitsByClass(), net, 100, 0) > 0.6            # real digits of the asked class
    assert _cas(_DigitsByClass(wrong=True), net, 100, 0) < 0.3  # every sample shows another class
    other = _DigitsByClass()
    other.classes = ["cat"] + other.classes[1:]
    with pytest.raises(ConfigError, match="does not know the model's classes cat"):
        _cas(other, net, 100, 0)
    with pytest.raises(ConfigError, match="class-conditional"):
        evaluate(shapes(20, 0), None, "cas", n=20, features=net)
