"""Augmenting a small labelled image set with a class-conditional GAN: ``augment_dataset``.

It trains the image task with ``conditional=True`` on the labelled data (class subfolders, IDX label
files, a ``file,label`` CSV, ``.npz`` with labels) -- or takes a conditional model already trained --
and writes ``per_class`` new images of every class in the class-folder layout::

    OUT/<class>/gan-000000.png ...
    OUT/manifest.csv        file,class,seed,model,step (one row per image; file relative to OUT)

Image ``i`` of the manifest is ``load(model).sample(1, seed=seed_i, condition=class_i)``. The manifest is
itself a ``file,label`` CSV, so ``--data OUT/manifest.csv`` (or ``--data OUT``) reads the synthetic set
back with its labels. The training run goes to ``run`` (default: the sibling folder ``OUT-run``), not
inside OUT, so that OUT holds nothing but the classes.

``filter`` keeps only samples that a classifier assigns to the class they were drawn for (with at least
``min_confidence``): a classifier feature file (``ganforge features train``), or "train" to train one on the
labelled data first (saved as ``RUN/filter.safetensors``). A GAN trained on few images draws the wrong class
often; its wrong-class samples are label noise. Candidates are drawn until each class has ``per_class`` or
``max_draws`` x ``per_class`` were tried; a class left short is logged and reported in ``written``.
"""
from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ConfigError
from ..fileio import write_bytes

MANIFEST = "manifest.csv"
log = logging.getLogger("ganforge")


@dataclass
class AugmentResult:
    """What ``augment_dataset`` wrote."""

    out: Path
    manifest: Path
    model: Path
    classes: list[str]
    per_class: int
    step: int
    written: dict[str, int] | None = None    # with a filter: images written per class (short when too few passed)
    accepted: float | None = None            # with a filter: the share of drawn samples that passed it

    @property
    def count(self) -> int:
        return sum(self.written.values()) if self.written else self.per_class * len(self.classes)

    def __str__(self) -> str:
        kept = f"; {self.accepted:.0%} of the drawn samples passed the filter" if self.accepted is not None else ""
        return (f"{self.count} images ({self.per_class} per class x {len(self.classes)} classes) under {self.out}; "
                f"manifest {self.manifest}; model {self.model} (step {self.step}){kept}")


def folder_name(cls: str) -> str:
    """A class name as a safe folder name (path separators and control characters replaced)."""
    name = re.sub(r"[\\/\x00-\x1f:*?\"<>|]", "_", str(cls)).strip().strip(".")
    return name or "_"


def augment_dataset(data: str | None = None, out: str | Path = "synthetic", *, per_class: int,
                    model: str | Path | None = None, run: str | Path | None = None, seed: int = 0,
                    overwrite: bool = False, progress: bool = True, image_format: str = "png",
                    on_written: Callable[[int, int], None] | None = None, filter: str | Path | None = None,
                    min_confidence: float = 0.5, **train_kwargs: Any) -> AugmentResult:
    """Train a class-conditional GAN on ``data`` (unless ``model`` is given) and write ``per_class``
    synthetic images of each class under ``out`` in class subfolders, with ``out/manifest.csv``.

    ``train_kwargs`` go to ``ganforge.train("image", ...)`` (size, steps, minutes, batch, arch, ...);
    ``conditional=True`` is implied. Returns an :class:`AugmentResult`.
    """
    from .. import api
    from ..api import load

    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class <= 0:
        raise ConfigError(f"per_class must be a positive whole number of images; got {per_class!r}")
    if image_format.lower() not in ("png", "jpg", "webp", "bmp"):
        raise ConfigError(f"image_format must be png, jpg, webp or bmp; got {image_format!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} is not empty: choose another --out, or --overwrite to replace what is there")
    if model is None and data is None:
        raise ConfigError("give the labelled data to learn from (--data), or a trained conditional model (--model)")
    if model is not None and (data is not None or train_kwargs):
        raise ConfigError("with a trained --model there is nothing to train: leave out --data and training options")
    if train_kwargs.pop("conditional", True) is not True:
        raise ConfigError("augmentation needs a class-conditional GAN: conditional cannot be turned off")
    if model is None:
        run = Path(run) if run is not None else out.with_name(out.name + "-run")
        if run.resolve() == out.resolve() or out.resolve() in run.resolve().parents:
            raise ConfigError(f"{run}: the training run cannot live inside the output folder {out}")
        api.train("image", data=data, out=run, conditional=True, overwrite=overwrite, progress=progress,
                  seed=seed, **train_kwargs)
        model = run
    m = load(model)
    if m.task != "image" or not getattr(m, "conditional", False):
        raise ConfigError(f"{model}: not a class-conditional image model (train one with --conditional)")
    classifier = None
    if filter is not None:
        from ..metrics.features import load_features, train_domain_features

        if str(filter) == "train":
            if data is None:
                raise ConfigError("filter 'train' trains a classifier on --data; with --model give a classifier "
                                  "file instead (ganforge features train)")
            path = Path(run if run is not None else Path(model)) / "filter.safetensors"
            trained = train_domain_features(data, path, size=m.options.size, labelled=True, seed=seed,
                                            minutes=2.0,
                                            threads=train_kwargs.get("threads"))
            log.info("filter classifier: %s", trained)
            filter = trained.path
        classifier = load_features(filter)
    return write_synthetic(m, out, per_class, seed=seed, overwrite=overwrite, image_format=image_format,
                           on_written=on_written, classifier=classifier, min_confidence=min_confidence)


def write_synthetic(m, out: str | Path, per_class: int, *, seed: int = 0, overwrite: bool = False,
                    image_format: str = "png", batch: int = 256,
                    on_written: Callable[[int, int], None] | None = None, classifier=None,
                    min_confidence: float = 0.5, max_draws: int = 10) -> AugmentResult:
    """Write ``per_class`` images per class of the conditional model ``m`` and the manifest; with a
    ``classifier`` (a FeatureExtractor with class logits) only the samples it assigns to their class."""
    import shutil

    from ..imaging.media import save_image

    out = Path(out)
    classes = list(m.classes)
    folders = [folder_name(c) for c in classes]
    if len(set(folders)) != len(folders):
        raise ConfigError("two class names map to the same folder name: " + ", ".join(classes))
    target = None
    if classifier is not None:
        known = list((classifier.meta or {}).get("classes") or [])
        if classifier.num_classes is None or not known:
            raise ConfigError(f"filter: {classifier.name} is not a classifier (train one on labelled data)")
        missing = [c for c in classes if c not in known]
        if missing:
            raise ConfigError(f"filter: the classifier does not know the classes {', '.join(missing[:10])}")
        target = [known.index(c) for c in classes]
        if not 0 <= min_confidence < 1:
            raise ConfigError(f"min_confidence must be in [0, 1); got {min_confidence}")
    if overwrite and out.is_dir():
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    total = per_class * len(classes)
    # one seed per candidate: image i is exactly load(model).sample(1, seed=seed_i, condition=class_i)
    draws = per_class * (max_draws if classifier is not None else 1)
    rng = np.random.default_rng(seed)
    model_path = str(Path(m.path).resolve()) if m.path is not None else ""
    step = int(m.meta.get("step") or 0)
    rows = [("file", "class", "seed", "model", "step")]
    done, tried = 0, 0
    written: dict[str, int] = {}
    for k, name in enumerate(classes):
        seeds = rng.choice(2 ** 31 - 1, size=draws, replace=False).tolist()
        kept = 0
        for start in range(0, draws, batch):
            if kept >= per_class:
                break
            chunk = seeds[start:start + min(batch, (per_class - kept) if classifier is None else batch)]
            z = torch.cat([m.latents(1, s_) for s_ in chunk])
            images = m.generate(z, y=torch.full((len(chunk),), k, dtype=torch.int64))
            tried += len(chunk)
            ok = np.ones(len(chunk), bool)
            if classifier is not None:
                prob = torch.softmax(classifier.logits(images).float(), 1).numpy()
                ok = (prob.argmax(1) == target[k]) & (prob[:, target[k]] >= min_confidence)
            for s_, im in zip(np.asarray(chunk)[ok], images[ok]):
                if kept >= per_class:
                    break
                rel = f"{folders[k]}/gan-{kept:06d}.{image_format.lower()}"
                save_image(out / rel, im)
                rows.append((rel, name, str(int(s_)), model_path, str(step)))
                kept += 1
                done += 1
            if on_written is not None:
                on_written(done, total)
        written[name] = kept
        if kept < per_class:
            log.warning("class %r: only %d of %d samples in %d draws passed the filter", name, kept, per_class, draws)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    write_bytes(out / MANIFEST, buf.getvalue().encode())
    return AugmentResult(out, out / MANIFEST, Path(model_path), classes, per_class, step,
                         written if classifier is not None else None,
                         done / tried if classifier is not None and tried else None)


__all__ = ["augment_dataset", "write_synthetic", "AugmentResult", "MANIFEST"]
