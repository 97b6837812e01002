"""One evaluation: features of generated and real images, the chosen set metrics, and their protocol.

``evaluate(fake, real, metrics=...)`` takes, for each side, a trained model (anything with
``generate``/``latents``, e.g. an image generator), a data source (folder, zip, IDX, .npz, builtin:...),
a uint8 array/tensor or an ImageSet. Features are computed batch by batch; every score is reported next
to how it was measured (sample counts, feature network and its checksum, image size, seed), because a
number without its protocol cannot be compared with anything.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..errors import ConfigError, DataError
from . import sets

log = logging.getLogger("ganforge.metrics")

METRICS = ("fid", "kid", "pr", "dc", "is", "memorization", "cas")
DEFAULT_METRICS = ("fid", "kid", "pr")
#: for each metric: the score that model selection uses, and whether lower is better
SELECTION = {"fid": ("fid", True), "kid": ("kid", True), "pr": ("precision", False), "dc": ("coverage", False),
             "is": ("is", False), "memorization": ("memorization_fraction", True), "cas": ("cas", False)}

Progress = Callable[[str, int, int | None], None]


def parse_metrics(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric {unknown[0]!r}; known: {', '.join(METRICS)}")
    if not names:
        raise ConfigError(f"no metric given; known: {', '.join(METRICS)}")
    return tuple(dict.fromkeys(names))


def resolve_features(spec: str = "auto", weights: str | None = None, device: str = "cpu"):
    """A FeatureExtractor. ``auto``: Inception when its weights are configured, else pixels (with a warning)."""
    import os

    from .features import load_features

    if spec == "auto":
        if weights or os.environ.get("GANFORGE_INCEPTION_WEIGHTS"):
            spec = "inception"
        else:
            log.warning("no Inception weights configured (--weights or GANFORGE_INCEPTION_WEIGHTS): scores use "
                        "pixel features, comparable only with other pixel-feature scores")
            spec = "pixels"
    return load_features(spec, weights=weights, device=device)


# ------------------------------------------------------------------------------------------ image sources
@dataclass
class Images:
    """Where images come from, as uint8 NCHW batches: ``batches()`` and a description for the protocol."""

    describe: dict[str, Any]
    count: int
    batches: Callable[[], Iterator[torch.Tensor]]
    labels: np.ndarray | None = None
    images: torch.Tensor | None = field(default=None, repr=False)


def from_model(model: Any, n: int, seed: int = 0, batch: int = 250) -> Images:
    """``n`` samples of a generator model, drawn in batches from latents fixed by ``seed``."""
    z = model.latents(n, seed=seed)

    def batches():
        for i in range(0, n, batch):
            yield torch.from_numpy(model.generate(z[i:i + batch])).permute(0, 3, 1, 2)

    return Images({"kind": "model", "path": str(getattr(model, "path", "")), "n": n, "seed": seed,
                   "step": model.meta.get("step")}, n, batches)


def from_data(source: Any, size: int, n: int | None = None, channels: int | None = None, seed: int = 0) -> Images:
    """Images of a data source (loaded at ``size``), an ImageSet, or a uint8 array/tensor. From a source
    with more than ``n`` images, a random choice of ``n`` (fixed by ``seed``): the first ``n`` of a folder
    sorted by class would hold only the first classes."""
    from ..data import ImageSet, load_images
    from .features.extractor import as_nchw_uint8

    if isinstance(source, (np.ndarray, torch.Tensor)):
        x = as_nchw_uint8(source)[:n]
        desc: dict[str, Any] = {"kind": "array", "n": int(x.shape[0])}
        labels = None
    else:
        data = source if isinstance(source, ImageSet) else \
            load_images(source, size, channels=channels, limit=n, sample_seed=seed)
        x, labels = data.images[:n], (None if data.labels is None else np.asarray(data.labels[:n]))
        desc = {"kind": "data", **data.describe()}
        desc["n"] = int(x.shape[0])
        if n is not None and not isinstance(source, ImageSet):
            desc["subset"] = f"random choice of at most {n}, seed {seed}"

    return Images(desc, int(x.shape[0]), lambda: (x[i:i + 500] for i in range(0, len(x), 500)), labels, x)


# ------------------------------------------------------------------------------------------ evaluation
def _features(extractor, images: Images, want_logits: bool, label: str, progress: Progress | None):
    cb = (lambda done, total: progress(label, done, images.count)) if progress else None
    what = "both" if want_logits else "features"
    out = extractor.extract(images.batches(), progress=cb, what=what)
    return out if want_logits else (out, None)


def _cas(model: Any, extractor, n: int, seed: int) -> float:
    """Classification accuracy score: ``n`` samples of a conditional model, its classes in turn, classified by
    the feature network's classifier head; the model's classes are matched to the classifier's by name."""
    from .classifier import classification_accuracy_score

    if not getattr(model, "conditional", False):
        raise ConfigError("cas needs a class-conditional model (it scores whether samples show their class)")
    known = list((extractor.meta or {}).get("classes") or [])
    missing = [c for c in model.classes if c not in known]
    if missing:
        raise ConfigError(f"cas: the classifier {extractor.name} does not know the model's classes "
                          f"{', '.join(map(str, missing[:10]))} (it knows {', '.join(map(str, known[:10]))})")
    y = model.labels(n)
    images = model.generate(model.latents(n, seed=seed + 1), y=y)
    target = np.array([known.index(model.classes[i]) for i in y.tolist()])
    return classification_accuracy_score(extractor.logits, images, target)


def evaluate(fake: Any, real: Any, metrics: str | tuple[str, ...] = DEFAULT_METRICS, *, n: int = 10_000,
             n_real: int | None = None, features: Any = "auto", weights: str | None = None, size: int | None = None,
             seed: int = 0, device: str = "cpu", kid_subset: int = 1000, k: int = 3,
             real_stats: dict | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Scores of ``fake`` against ``real`` with their protocol: ``{"scores": {...}, "protocol": {...}}``.

    ``features`` is a FeatureExtractor or a spec for :func:`resolve_features`. ``size`` is the side at
    which data sources are read (default: the model's size, else min(128, the feature network's input)).
    ``real_stats`` (from a previous call's ``"real_cache"`` entry) skips recomputing the real features.
    """
    names = parse_metrics(metrics)
    if n < 2:
        raise ConfigError(f"n must be at least 2 generated samples, got {n}")
    t0 = time.perf_counter()
    extractor = features if hasattr(features, "extract") else resolve_features(features, weights, device)
    model_size = getattr(getattr(fake, "options", None), "size", None)
    size = size or model_size or min(128, extractor.input_size)
    fake_images = from_model(fake, n, seed) if hasattr(fake, "generate") else from_data(fake, size, n, seed=seed)
    want_logits = bool({"is", "cas"} & set(names))
    if want_logits and extractor.num_classes is None:
        raise ConfigError(f"metrics is/cas need a classifier feature network; {extractor.name} has no class logits")
    fake_f, fake_logits = _features(extractor, fake_images, want_logits, "generated", progress)

    needs_real = bool({"fid", "kid", "pr", "dc", "memorization"} & set(names))
    real_f, real_desc = None, None
    if needs_real:
        if real_stats is not None and real_stats.get("checksum") == extractor.checksum:
            real_f, real_desc = real_stats["features"], real_stats["describe"]
        else:
            if real is None:
                raise ConfigError(f"metrics {', '.join(names)} need real data (--data)")
            real_images = from_data(real, size, n_real or n, seed=seed)
            real_f, _ = _features(extractor, real_images, False, "real", progress)
            real_desc = real_images.describe
    set_metrics = sorted({"fid", "kid", "pr", "dc"} & set(names))
    for feats, src, label in ((fake_f, fake, "generated"), (real_f, real, "real")):
        if set_metrics and feats is not None and len(feats) < 2:
            where = src if isinstance(src, (str, Path)) else f"the {label} set"
            raise DataError(f"{where}: only {len(feats)} usable image; {', '.join(set_metrics)} need at least 2 "
                            "in each set (and hundreds to be meaningful)")
    scores: dict[str, float] = {}
    if "fid" in names:
        scores["fid"] = sets.frechet_distance(real_f, fake_f)
    if "kid" in names:
        result = sets.kid(real_f, fake_f, subset_size=min(kid_subset, len(real_f), len(fake_f)), seed=seed)
        scores["kid"], scores["kid_std"] = result.mean, result.std
    if "pr" in names:
        pr = sets.precision_recall(real_f, fake_f, k=k)
        scores["precision"], scores["recall"] = pr.precision, pr.recall
    if "dc" in names:
        dc = sets.density_coverage(real_f, fake_f, k=max(k, 5))
        scores["density"], scores["coverage"] = dc.density, dc.coverage
    if "is" in names:
        result = sets.inception_score(fake_logits, splits=min(10, max(1, len(fake_logits) // 50)))
        scores["is"], scores["is_std"] = result.mean, result.std
    if "memorization" in names:
        scores.update(sets.memorization(real_f, fake_f).summary())
    if "cas" in names:
        scores["cas"] = _cas(fake, extractor, n, seed)
    protocol = {"metrics": list(names), "n_generated": int(len(fake_f)),
                "n_real": int(len(real_f)) if real_f is not None else 0, "features": extractor.describe(),
                "image_size": size, "seed": seed, "kid_subset": min(kid_subset, len(fake_f)), "k": k,
                "generated": fake_images.describe, "real": real_desc, "seconds": round(time.perf_counter() - t0, 2)}
    out = {"scores": {k_: float(v) for k_, v in scores.items()}, "protocol": protocol}
    if real_f is not None:
        out["real_cache"] = {"checksum": extractor.checksum, "features": real_f, "describe": real_desc}
    return out


def save_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write scores + protocol as JSON (atomically); the cached real features are left out."""
    from ..fileio import write_json

    write_json(path, {k: v for k, v in report.items() if k != "real_cache"})
    return Path(path)


def table(report: dict[str, Any]) -> str:
    """A plain-text table of the scores followed by the protocol line."""
    p = report["protocol"]
    lines = [f"{name:<24} {value:.6g}" for name, value in report["scores"].items()]
    feat = p["features"]
    lines.append(f"({p['n_generated']} generated vs {p['n_real']} real, features {feat['name']} "
                 f"sha256 {feat['checksum']}, images {p['image_size']}px, seed {p['seed']}, {p['seconds']} s)")
    return "\n".join(lines)
