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

``check`` (on by default) measures whether the synthetic images help at all: before the GAN trains, a
stratified ``holdout`` share of the labelled data (20%, at least one image per class, chosen with ``seed``)
is set aside; the GAN (and the ``filter`` classifier) learn from the rest only, written to
``RUN/train-split.npz`` with the split in ``RUN/heldout.json``. At the end a small classifier is trained on
the real training images with shifts, and again with the synthetic images added at ``synthetic_weight``,
and both are scored on the held-out images (``heldout_gain``). The verdict is in the result and in
``OUT/report.json``. With a trained ``model``, ``data`` serves the check only (the split recorded in the
model's run is reused when the data is the same; otherwise the GAN may have seen the held-out images, and
the report says so).
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

from ..errors import ConfigError, DataError
from ..fileio import write_bytes, write_json
from .heldout_gain import CHECK_STEPS, HOLDOUT, MAX_SYNTHETIC, GainCheck, measure_gain, split_holdout

MANIFEST = "manifest.csv"
REPORT = "report.json"
SPLIT_DATA = "train-split.npz"   # in the run folder: the images the GAN learns from when the check is on
SPLIT_FILE = "heldout.json"      # in the run folder: which images of the data were held out
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
    check: GainCheck | None = None           # the held-out gain check, when it ran
    check_note: str = ""                     # why it did not run, or a caveat
    report: Path | None = None               # OUT/report.json

    @property
    def count(self) -> int:
        return sum(self.written.values()) if self.written else self.per_class * len(self.classes)

    def __str__(self) -> str:
        kept = f"; {self.accepted:.0%} of the drawn samples passed the filter" if self.accepted is not None else ""
        return (f"{self.count} images ({self.per_class} per class x {len(self.classes)} classes) under {self.out}; "
                f"manifest {self.manifest}; model {self.model} (step {self.step}){kept}")

    def check_summary(self) -> str:
        """The held-out check for a person: both accuracies, any caveat, and the verdict (or why there is none)."""
        c = self.check
        if c is None:
            return self.check_note
        lines = [f"held-out check ({c.held_out} images the GAN never saw, unless noted): real + shifts "
                 f"{c.real_accuracy:.1%}, with synthetic {c.augmented_accuracy:.1%}; report {self.report}"]
        if c.note:
            lines.append(f"note: {c.note}")
        return "\n".join(lines + [c.verdict])


def folder_name(cls: str) -> str:
    """A class name as a safe folder name (path separators and control characters replaced)."""
    name = re.sub(r"[\\/\x00-\x1f:*?\"<>|]", "_", str(cls)).strip().strip(".")
    return name or "_"


def augment_dataset(data: str | None = None, out: str | Path = "synthetic", *, per_class: int,
                    model: str | Path | None = None, run: str | Path | None = None, seed: int = 0,
                    overwrite: bool = False, progress: bool = True, image_format: str = "png",
                    on_written: Callable[[int, int], None] | None = None, filter: str | Path | None = None,
                    min_confidence: float = 0.5, check: bool = True, holdout: float = HOLDOUT,
                    synthetic_weight: float = 0.5, check_steps: int = CHECK_STEPS,
                    **train_kwargs: Any) -> AugmentResult:
    """Train a class-conditional GAN on ``data`` (unless ``model`` is given) and write ``per_class``
    synthetic images of each class under ``out`` in class subfolders, with ``out/manifest.csv`` and
    ``out/report.json``.

    ``train_kwargs`` go to ``ganforge.train("image", ...)`` (size, steps, minutes, batch, arch, ...);
    ``conditional=True`` is implied. With ``check`` a ``holdout`` share of ``data`` is kept from the GAN
    and used at the end to measure whether the synthetic images help a classifier (see the module
    docstring). Returns an :class:`AugmentResult`.
    """
    from .. import api
    from ..api import load

    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class <= 0:
        raise ConfigError(f"per_class must be a positive whole number of images; got {per_class!r}")
    if image_format.lower() not in ("png", "jpg", "webp", "bmp"):
        raise ConfigError(f"image_format must be png, jpg, webp or bmp; got {image_format!r}")
    if not isinstance(check, bool):
        raise ConfigError(f"check must be True or False; got {check!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1:
        raise ConfigError(f"holdout must be a fraction strictly between 0 and 1; got {holdout!r}")
    if isinstance(synthetic_weight, bool) or not isinstance(synthetic_weight, (int, float)) \
            or not synthetic_weight > 0:
        raise ConfigError(f"synthetic_weight must be a positive number; got {synthetic_weight!r}")
    if isinstance(check_steps, bool) or not isinstance(check_steps, (int, np.integer)) or check_steps < 1:
        raise ConfigError(f"check_steps must be a positive whole number; got {check_steps!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} is not empty: choose another --out, or --overwrite to replace what is there")
    if model is None and data is None:
        raise ConfigError("give the labelled data to learn from (--data), or a trained conditional model (--model)")
    if model is not None and train_kwargs:
        raise ConfigError("with a trained --model there is nothing to train: leave out the training options "
                          f"({', '.join(sorted(train_kwargs))}); --data then only serves the held-out check")
    if model is not None and data is not None and not check:
        raise ConfigError("with a trained --model, --data only serves the held-out check: leave out --data, or "
                          "keep the check on")
    if train_kwargs.pop("conditional", True) is not True:
        raise ConfigError("augmentation needs a class-conditional GAN: conditional cannot be turned off")
    split = None       # (all labelled images, training indices, held-out indices) when the check runs
    note = ""
    if model is None:
        run = Path(run) if run is not None else out.with_name(out.name + "-run")
        if run.resolve() == out.resolve() or out.resolve() in run.resolve().parents:
            raise ConfigError(f"{run}: the training run cannot live inside the output folder {out}")
        gan_data = data
        if check:
            ckpt = run / "checkpoints"
            if ckpt.is_dir() and any(ckpt.iterdir()) and not overwrite:
                raise ConfigError(f"{run} already holds a run: choose another --run, or --overwrite to replace it")
            from ..tasks.generate import MIN_PER_CLASS

            full = _labelled(data, train_kwargs.get("size", 32), train_kwargs.get("channels"))
            train_idx, held_idx = split_holdout(full.labels, full.class_names, fraction=holdout, seed=seed,
                                                min_train=MIN_PER_CLASS, source=str(data))
            split = (full, train_idx, held_idx)
            gan_data = str(_write_split(run, full, train_idx, held_idx, holdout, seed))
            log.info("held-out check: %d of %d images set aside; the GAN learns from the other %d",
                     len(held_idx), len(full), len(train_idx))
        api.train("image", data=gan_data, out=run, conditional=True, overwrite=overwrite, progress=progress,
                  seed=seed, **train_kwargs)
        model = run
    m = load(model)
    if m.task != "image" or not getattr(m, "conditional", False):
        raise ConfigError(f"{model}: not a class-conditional image model (train one with --conditional)")
    if split is None and check and data is not None:     # a trained model: the data serves the check only
        split, note = _split_for_model(m, data, holdout, seed)
    classifier = None
    if filter is not None:
        from ..metrics.features import load_features, train_domain_features

        if str(filter) == "train":
            if data is None:
                raise ConfigError("filter 'train' trains a classifier on --data; with --model give a classifier "
                                  "file instead (ganforge features train)")
            path = Path(run if run is not None else _run_folder(m)) / "filter.safetensors"
            learn = data if split is None else _subset(split[0], split[1])   # never the held-out images
            trained = train_domain_features(learn, path, size=m.options.size, labelled=True, seed=seed,
                                            minutes=2.0,
                                            threads=train_kwargs.get("threads"))
            log.info("filter classifier: %s", trained)
            filter = trained.path
        classifier = load_features(filter)
    result = write_synthetic(m, out, per_class, seed=seed, overwrite=overwrite, image_format=image_format,
                             on_written=on_written, classifier=classifier, min_confidence=min_confidence)
    if split is not None:
        full, train_idx, held_idx = split
        synthetic = _read_synthetic(out, full, seed)
        with _check_progress(progress) as tick:
            result.check = measure_gain(_subset(full, train_idx), _subset(full, held_idx), synthetic,
                                        synthetic_weight=synthetic_weight, steps=int(check_steps), seed=seed,
                                        progress=tick, note=note)
        result.check_note = note
    elif not check:
        result.check_note = "the held-out check was turned off"
    else:
        result.check_note = ("no held-out check: with a trained --model, give the labelled data (--data) to "
                             "measure whether the synthetic images help")
    result.report = out / REPORT
    write_json(result.report, _report(result, split, holdout, seed))
    return result


def _labelled(data: str, size: int, channels: int | None, for_gan: bool = True):
    """The labelled set at the GAN's size; the same one-line errors conditional training gives (only that
    it has labels, when it serves the check alone)."""
    from ..data import load_images
    from ..tasks.generate import check_classes

    full = load_images(data, size, channels=channels)
    if for_gan:
        check_classes(full, str(data))
    elif full.labels is None:
        raise DataError(f"{data}: the held-out check needs labelled images (class subfolders, IDX label files or a "
                        "file,label CSV), and these have none")
    return full


def _subset(full, idx: torch.Tensor):
    from ..data import ImageSet

    return ImageSet(full.images[idx], full.labels[idx], list(full.class_names), full.source)


def _run_folder(m) -> Path:
    p = Path(m.path)
    return p if p.is_dir() else p.parent


def _write_split(run: Path, full, train_idx: torch.Tensor, held_idx: torch.Tensor, holdout: float,
                 seed: int) -> Path:
    """The GAN's training images as an .npz (labels as the class names, so the classes keep their names)
    and the split as JSON, both in the run folder."""
    run.mkdir(parents=True, exist_ok=True)
    names = np.array(full.class_names, dtype=str)
    buf = io.BytesIO()
    np.savez(buf, images=full.images[train_idx].permute(0, 2, 3, 1).numpy(), labels=names[full.labels[train_idx]])
    write_bytes(run / SPLIT_DATA, buf.getvalue())
    write_json(run / SPLIT_FILE, {"source": str(full.source), "fingerprint": full.fingerprint, "size": full.size,
                                  "channels": full.channels, "holdout": holdout, "seed": seed,
                                  "train": len(train_idx), "held_out_indices": held_idx.tolist()})
    return run / SPLIT_DATA


def _split_for_model(m, data: str, holdout: float, seed: int):
    """The split for checking a trained model against ``data``: the one its run recorded when the data is
    the same, else a fresh one (with a caveat when the model may have learnt from the held-out images)."""
    import json

    size, channels = int(m.options.size), getattr(m.options, "channels", None)
    full = _labelled(data, size, channels, for_gan=False)
    if sorted(full.class_names) != sorted(m.classes):
        raise DataError(f"{data}: its classes ({', '.join(full.class_names[:10])}) are not the model's "
                        f"({', '.join(list(m.classes)[:10])}); the check needs the same classes")
    recorded = _run_folder(m) / SPLIT_FILE
    if recorded.is_file():
        saved = json.loads(recorded.read_text())
        if saved.get("fingerprint") == full.fingerprint:
            held = torch.tensor(saved["held_out_indices"], dtype=torch.int64)
            train = torch.from_numpy(np.setdiff1d(np.arange(len(full)), held.numpy()).astype(np.int64))
            return (full, train, held), f"the split recorded in {recorded} (the GAN never saw these images)"
    train, held = split_holdout(full.labels, full.class_names, fraction=holdout, seed=seed, min_train=1,
                                source=str(data))
    trained_on = (m.meta.get("data") or {}).get("fingerprint")
    if trained_on and trained_on == full.fingerprint:
        return (full, train, held), ("the model was trained on all of --data, held-out images included: "
                                     "the check flatters the synthetic images")
    return (full, train, held), ("the model's training data is not known to exclude the held-out images; if it "
                                 "included them, the check flatters the synthetic images")


def _read_synthetic(out: Path, full, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The written images (at most MAX_SYNTHETIC, a seeded choice) as uint8 NCHW like ``full``'s, with
    labels indexed like ``full.class_names``."""
    from PIL import Image

    with open(out / MANIFEST, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if len(rows) > MAX_SYNTHETIC:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), MAX_SYNTHETIC, replace=False))
        rows = [rows[i] for i in keep]
    mode = "L" if full.channels == 1 else "RGB"
    images = []
    for r in rows:
        im = Image.open(out / r["file"]).convert(mode)
        if im.size != (full.size, full.size):
            im = im.resize((full.size, full.size), Image.BICUBIC)
        a = np.asarray(im)
        images.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    if not images:
        raise DataError(f"{out}: no synthetic images were written (the filter passed none), nothing to check")
    labels = [full.class_names.index(r["class"]) for r in rows]
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)


class _check_progress:
    """A terminal bar for the check's classifier steps (nothing when ``enabled`` is False)."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar = enabled, None

    def __enter__(self) -> Callable[[int, int], None]:
        if not self.enabled:
            return lambda done, total: None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("[bold]held-out check"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=True)
        self.bar.start()
        task = self.bar.add_task("check", total=None)
        return lambda done, total: self.bar.update(task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def _report(result: AugmentResult, split, holdout: float, seed: int) -> dict:
    report: dict[str, Any] = {
        "images": result.count, "per_class": result.per_class, "classes": result.classes,
        "model": str(result.model), "step": result.step, "written": result.written, "accepted": result.accepted,
        "check": result.check.to_dict() if result.check is not None else None, "check_note": result.check_note,
    }
    if split is not None:
        report["split"] = {"source": str(split[0].source), "fingerprint": split[0].fingerprint, "holdout": holdout,
                           "seed": seed, "train": len(split[1]), "held_out": len(split[2])}
    return report


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


__all__ = ["augment_dataset", "write_synthetic", "AugmentResult", "GainCheck", "MANIFEST", "REPORT"]
