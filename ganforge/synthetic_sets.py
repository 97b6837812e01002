"""Augmenting a small labelled image set with a class-conditional GAN: ``augment_dataset``.

It trains the image task with ``conditional=True`` on the labelled data (class subfolders, IDX label
files, a ``file,label`` CSV, ``.npz`` with labels) -- or takes a conditional model already trained --
and writes ``per_class`` new images of every class in the class-folder layout::

    OUT/<class>/gan-000000.png ...
    OUT/manifest.csv        file,class,seed,model,step (one row per image; file relative to OUT)

Image ``i`` of the manifest is ``load(model).sample(1, seed=seed_i, classes=class_i)``. The manifest is
itself a ``file,label`` CSV, so ``--data OUT/manifest.csv`` (or ``--data OUT``) reads the synthetic set
back with its labels. The training run goes to ``run`` (default: the sibling folder ``OUT-run``), not
inside OUT, so that OUT holds nothing but the classes.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .errors import ConfigError
from .fileio import write_bytes

MANIFEST = "manifest.csv"


@dataclass
class AugmentResult:
    """What ``augment_dataset`` wrote."""

    out: Path
    manifest: Path
    model: Path
    classes: list[str]
    per_class: int
    step: int

    @property
    def count(self) -> int:
        return self.per_class * len(self.classes)

    def __str__(self) -> str:
        return (f"{self.count} images ({self.per_class} per class x {len(self.classes)} classes) under {self.out}; "
                f"manifest {self.manifest}; model {self.model} (step {self.step})")


def folder_name(cls: str) -> str:
    """A class name as a safe folder name (path separators and control characters replaced)."""
    name = re.sub(r"[\\/\x00-\x1f:*?\"<>|]", "_", str(cls)).strip().strip(".")
    return name or "_"


def augment_dataset(data: str | None = None, out: str | Path = "synthetic", *, per_class: int,
                    model: str | Path | None = None, run: str | Path | None = None, seed: int = 0,
                    overwrite: bool = False, progress: bool = True, image_format: str = "png",
                    on_written: Callable[[int, int], None] | None = None, **train_kwargs: Any) -> AugmentResult:
    """Train a class-conditional GAN on ``data`` (unless ``model`` is given) and write ``per_class``
    synthetic images of each class under ``out`` in class subfolders, with ``out/manifest.csv``.

    ``train_kwargs`` go to ``ganforge.train("image", ...)`` (size, steps, minutes, batch, arch, ...);
    ``conditional=True`` is implied. Returns an :class:`AugmentResult`.
    """
    from . import api
    from .predictor import load

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
    return write_synthetic(m, out, per_class, seed=seed, overwrite=overwrite, image_format=image_format,
                           on_written=on_written)


def write_synthetic(m, out: str | Path, per_class: int, *, seed: int = 0, overwrite: bool = False,
                    image_format: str = "png", batch: int = 256,
                    on_written: Callable[[int, int], None] | None = None) -> AugmentResult:
    """Write ``per_class`` images per class of the conditional model ``m`` and the manifest."""
    import shutil

    from .media import save_image

    out = Path(out)
    if overwrite and out.is_dir():
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    classes = list(m.classes)
    folders = [folder_name(c) for c in classes]
    if len(set(folders)) != len(folders):
        raise ConfigError("two class names map to the same folder name: " + ", ".join(classes))
    total = per_class * len(classes)
    # one seed per image: image i is exactly load(model).sample(1, seed=seeds[i], classes=labels[i])
    seeds = np.random.default_rng(seed).choice(2 ** 31 - 1, size=total, replace=False).tolist()
    labels = np.repeat(np.arange(len(classes)), per_class)
    model_path = str(Path(m.path).resolve()) if m.path is not None else ""
    step = int(m.meta.get("step") or 0)
    rows = [("file", "class", "seed", "model", "step")]
    done = 0
    for start in range(0, total, batch):
        idx = range(start, min(total, start + batch))
        z = torch.cat([m.latents(1, seeds[i]) for i in idx])
        images = m.generate(z, y=torch.as_tensor(labels[start:start + len(idx)], dtype=torch.int64))
        for i, im in zip(idx, images):
            k = int(labels[i])
            rel = f"{folders[k]}/gan-{i - k * per_class:06d}.{image_format.lower()}"
            save_image(out / rel, im)
            rows.append((rel, classes[k], str(seeds[i]), model_path, str(step)))
        done += len(idx)
        if on_written is not None:
            on_written(done, total)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    write_bytes(out / MANIFEST, buf.getvalue().encode())
    return AugmentResult(out, out / MANIFEST, Path(model_path), classes, per_class, step)


__all__ = ["augment_dataset", "write_synthetic", "AugmentResult", "MANIFEST"]
