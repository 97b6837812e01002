"""Domain feature networks: a small CNN trained on your own data, for FID-style metrics where ImageNet
Inception features fit badly (digits, grey scans, small images) and for class-aware metrics.

With labels (class folders, IDX label files, built-in sets) the network is a classifier and its
logits serve Inception-Score-like and classification metrics. Without labels it learns a
self-supervised pretext, predicting which of four rotations (0, 90, 180, 270 degrees) was applied
(Gidaris et al. 2018); it then has features but no class logits. Either way the features are the
penultimate layer (``feature_dim`` values, after ReLU).

The file is safetensors with JSON metadata under the ``ganforge`` key: ``kind`` "ganforge-features",
the architecture and its keyword arguments, input size and channels, class names, held-out accuracy,
and the training data's source and fingerprint. It is written atomically.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge import artifact
from ganforge.errors import CheckpointError, ConfigError, DataError
from ganforge.metrics.features.extractor import file_sha256

log = logging.getLogger("ganforge.metrics")

KIND = "ganforge-features"
FORMAT = 1
ARCH = "cnn"
DEFAULT_STAGES = ((32, 1), (64, 2), (128, 2))
FILE_NAME = "features.safetensors"
DEFAULT_IMAGES_SEEN = 150_000  # default training length: MNIST reaches ~99.5% test accuracy with it


# ------------------------------------------------------------------------------------------------ network

class DomainCNN(nn.Module):
    """VGG-style CNN: stages of 3x3 conv + BN + ReLU (``stages`` = [(width, convs), ...]) with 2x2
    max pooling between stages, global average pooling, a ``feature_dim`` embedding (BN + ReLU) and a
    linear head with ``num_outputs`` logits.

    ``forward`` is the feature-extractor interface: float [0, 1] images of any size with
    ``in_channels`` channels -> ``(features, logits)``; ``classify`` takes [-1, 1] images of
    ``input_size`` and returns logits (training).
    """

    def __init__(self, in_channels: int = 1, input_size: int = 32, stages=DEFAULT_STAGES, feature_dim: int = 256,
                 num_outputs: int = 10):
        super().__init__()
        self.in_channels, self.input_size = in_channels, input_size
        layers: list[nn.Module] = []
        cin = in_channels
        for i, (width, convs) in enumerate(stages):
            if i:
                layers.append(nn.MaxPool2d(2))
            for _ in range(convs):
                layers += [nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                           nn.ReLU(inplace=True)]
                cin = width
        self.body = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Linear(cin, feature_dim, bias=False), nn.BatchNorm1d(feature_dim),
                                   nn.ReLU(inplace=True))
        self.head = nn.Linear(feature_dim, num_outputs)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.embed(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.input_size)
        f = self.embedding(x * 2 - 1)
        return f, self.head(f)


# ------------------------------------------------------------------------------------------------ training

@dataclass
class TrainedFeatures:
    """What ``train_domain_features`` did: the file, the mode ("classifier" or "rotation"), accuracy on
    the held-out split (and on ``test_data`` when given; for "rotation" it is the pretext's accuracy)."""

    path: Path
    mode: str
    val_accuracy: float
    test_accuracy: float | None
    seconds: float
    epochs: float
    steps: int
    images_per_s: float
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        what = "rotation pretext" if self.mode == "rotation" else "classifier"
        test = "" if self.test_accuracy is None else f", test accuracy {self.test_accuracy:.4f}"
        return (f"{what}: held-out accuracy {self.val_accuracy:.4f}{test}; {self.epochs:.2f} epochs, "
                f"{self.steps} steps in {self.seconds:.0f} s")


def _load(data, size: int | None, channels: int | None, limit: int | None, role: str):
    from ganforge.data import ImageSet, load_images

    if isinstance(data, ImageSet):
        if size is not None and data.size != size:
            raise ConfigError(f"{role}: the ImageSet has size {data.size}, but size={size} was asked for")
        if channels is not None and data.channels != channels:
            raise ConfigError(f"{role}: the ImageSet has {data.channels} channels, the network takes {channels}")
        return data
    return load_images(data, size or 32, channels=channels, limit=limit, sample_seed=0)


def _shift_and_flip(x: torch.Tensor, gen: torch.Generator, max_shift: int, flip: bool) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels (edges replicated) and optional horizontal flips."""
    n, c, h, w = x.shape
    if max_shift > 0:
        padded = F.pad(x, (max_shift,) * 4, mode="replicate")
        dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
        rows = (torch.arange(h)[None, :] + dy[:, None])[:, None, :, None]
        cols = (torch.arange(w)[None, :] + dx[:, None])[:, None, None, :]
        x = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    if flip:
        mask = torch.rand(n, generator=gen) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def _rotate(x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate each image by a random multiple of 90 degrees; the multiple is the label."""
    k = torch.randint(0, 4, (x.shape[0],), generator=gen)
    out = x.clone()
    for r in (1, 2, 3):
        sel = k == r
        if sel.any():
            out[sel] = torch.rot90(x[sel], r, dims=(2, 3))
    return out, k


def _to_float(x_uint8: torch.Tensor) -> torch.Tensor:
    return x_uint8.float().div_(127.5).sub_(1)


def _accuracy(model: DomainCNN, images: torch.Tensor, labels: torch.Tensor | None, rotation: bool,
              autocast) -> float:
    """Top-1 accuracy in eval mode; for the rotation pretext every image is scored in all four rotations."""
    model.eval()
    correct = total = 0
    with torch.inference_mode():
        for start in range(0, images.shape[0], 512):
            x = _to_float(images[start:start + 512])
            if rotation:
                targets = [(torch.rot90(x, r, dims=(2, 3)), torch.full((x.shape[0],), r)) for r in range(4)]
            else:
                targets = [(x, labels[start:start + 512])]
            for xx, yy in targets:
                with autocast():
                    pred = model.classify(xx).float().argmax(1)
                correct += int((pred == yy).sum())
                total += int(yy.numel())
    model.train()
    return correct / max(total, 1)


def _recalibrate_batch_norm(model: DomainCNN, images: torch.Tensor, batch: int, autocast, channels_last: bool,
                            rotation: bool, gen: torch.Generator, max_images: int = 8192) -> None:
    """Replace the batch norms' running averages by exact statistics of the final weights on training
    images, unshifted (but rotated for the rotation pretext, as in training): "precise BN". The running
    averages lag behind weights that moved fast late in a short run, which showed as held-out accuracy
    far below training accuracy (60% against a training loss of 0.16 on builtin:digits)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    idx = torch.randperm(images.shape[0], generator=gen)[:max_images]
    model.train()
    with torch.no_grad():
        for start in range(0, idx.numel(), batch):
            chunk = idx[start:start + batch]
            if chunk.numel() < 2:
                break
            x = _to_float(images[chunk])
            if rotation:
                x = _rotate(x, gen)[0]
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast():
                model.classify(x)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.eval()


def _name_of(source: str) -> str:
    if source.startswith("builtin:"):
        return source[len("builtin:"):].split("?")[0]
    p = Path(source)
    stem = p.name
    for suffix in (".gz", ".zip", ".tar", ".tgz", ".npz", ".npy"):
        stem = stem.removesuffix(suffix)
    return stem or p.parent.name or "data"


def resolve_out_path(out_path: str | os.PathLike) -> Path:
    p = Path(out_path).expanduser()
    if p.is_dir() or str(out_path).endswith(("/", os.sep)):
        return p / FILE_NAME
    if p.suffix != ".safetensors":
        raise ConfigError(f"{p}: a feature network file must end in .safetensors (or give a folder)")
    return p


def train_domain_features(
    data,
    out_path: str | os.PathLike,
    *,
    size: int | None = None,
    channels: int | None = None,
    labelled: bool | str = "auto",
    test_data=None,
    epochs: float | None = None,
    minutes: float | None = None,
    batch: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 5e-4,
    val_fraction: float = 0.1,
    stages=DEFAULT_STAGES,
    feature_dim: int = 256,
    augment: bool = True,
    flip: bool | None = None,
    precision: str = "auto",
    channels_last: bool = True,
    seed: int = 0,
    threads: int | None = None,
    limit: int | None = None,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainedFeatures:
    """Train a domain feature network on ``data`` and save it to ``out_path`` (a .safetensors file or a folder).

    ``data`` (and ``test_data``) is any source ``ganforge.data.load_images`` reads, or an ``ImageSet``;
    images are loaded at ``size`` (default 32, or the ImageSet's own). ``labelled``: "auto" trains a
    classifier when the data has labels and the rotation pretext otherwise; True insists on labels.
    ``val_fraction`` of the images (at random, from ``seed``) are held out and scored at the end.
    Training runs ``epochs`` passes (fractions allowed; default: about 150,000 images' worth, within 3 to
    30 epochs) with AdamW and a warm-up + cosine learning rate; with ``minutes`` it stops at that wall
    time, and the schedule follows whichever budget runs out first (time-limited runs are therefore not
    exactly reproducible). ``augment`` shifts images by up to 1/8 of their side; ``flip`` (default: on
    for colour classifiers) mirrors them. ``precision`` "auto" uses bf16 autocast where the CPU makes it
    fast; ``channels_last`` (measured faster here for training, in bf16 and fp32) is the memory layout.
    ``progress(step, total_steps)`` is called after every step. Returns a ``TrainedFeatures`` whose
    ``str()`` is a one-line summary.
    """
    from ganforge.engine.runtime import resolve_precision

    t0 = time.perf_counter()
    out = resolve_out_path(out_path)
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    if epochs is not None and not epochs > 0:
        raise ConfigError(f"epochs must be positive, got {epochs}")
    if minutes is not None and minutes <= 0:
        raise ConfigError(f"minutes must be positive, got {minutes}")
    if labelled not in ("auto", True, False):
        raise ConfigError(f"labelled must be 'auto', True or False, got {labelled!r}")
    if batch < 2:
        raise ConfigError(f"batch must be at least 2 (batch norm), got {batch}")
    stages = tuple((int(w), int(n)) for w, n in stages)
    if precision not in ("auto", "bf16", "fp32"):
        raise ConfigError(f"precision must be 'auto', 'bf16' or 'fp32' for a feature network, got {precision!r}")
    precision = resolve_precision(precision, "cpu")

    train_set = _load(data, size, channels, limit, "data")
    source = train_set.source or (data if isinstance(data, str) else "ImageSet")
    has_labels = train_set.labels is not None
    if labelled is True and not has_labels:
        raise DataError(f"{source}: labelled=True but the data has no labels (class folders, IDX labels or "
                        ".npz labels)")
    rotation = not (has_labels and labelled in ("auto", True))
    n = len(train_set)
    if n < 20:
        raise DataError(f"{source}: {n} images is too few to train a feature network (need at least 20)")
    test_set = None
    if test_data is not None:
        test_set = _load(test_data, train_set.size, train_set.channels, None, "test_data")
    if test_set is not None and not rotation and test_set.class_names != train_set.class_names:
        raise DataError(f"{test_set.source}: test classes {test_set.class_names} differ from the training classes "
                        f"{train_set.class_names}")

    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    n_val = max(1, int(round(n * val_fraction)))
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    images, labels = train_set.images, train_set.labels
    x_train, x_val = images[train_idx], images[val_idx]
    y_train = labels[train_idx] if labels is not None else None
    y_val = labels[val_idx] if labels is not None else None
    num_outputs = 4 if rotation else len(train_set.class_names)
    if flip is None:
        flip = train_set.channels == 3 and not rotation
    max_shift = max(1, train_set.size // 8) if augment else 0

    kwargs = {"in_channels": train_set.channels, "input_size": train_set.size, "stages": [list(s) for s in stages],
              "feature_dim": int(feature_dim), "num_outputs": num_outputs}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DomainCNN(**kwargs)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))

    def autocast():
        if precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    n_train = x_train.shape[0]
    if epochs is None:
        epochs = min(30.0, max(3.0, DEFAULT_IMAGES_SEEN / n_train))
    per_epoch = max(1, n_train // batch) if n_train >= batch else 1
    total_steps = max(1, math.ceil(epochs * per_epoch))
    budget = None if minutes is None else minutes * 60.0
    warmup = max(1, int(0.03 * total_steps))
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    log.info("feature network: %s on %d images (%d held out), %s, %d steps of %d, %s", "rotation pretext" if rotation
             else f"{num_outputs}-class classifier", n_train, n_val, train_set.source, total_steps, batch, precision)
    step = 0
    seen = 0
    t_train = time.perf_counter()
    model.train()
    try:
        done = False
        while not done:
            order = torch.randperm(n_train, generator=gen)
            for start in range(0, n_train, batch):
                idx = order[start:start + batch]
                if idx.numel() < 2 or (per_epoch > 1 and idx.numel() < batch // 2):
                    continue  # a ragged last batch: skip it rather than train BN on a handful of images
                x = _to_float(x_train[idx])
                if rotation:
                    x = _shift_and_flip(x, gen, max_shift, False)
                    x, y = _rotate(x, gen)
                else:
                    x = _shift_and_flip(x, gen, max_shift, flip)
                    y = y_train[idx]
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                elapsed = time.perf_counter() - t_train
                frac = step / total_steps
                if budget is not None:
                    frac = max(frac, elapsed / budget)
                scale = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
                for g in opt.param_groups:
                    g["lr"] = lr * scale
                with autocast():
                    logits = model.classify(x)
                loss = F.cross_entropy(logits.float(), y)
                if not torch.isfinite(loss):
                    raise DataError(f"{source}: the feature network's loss became {loss.item()} at step {step}; "
                                    "try a lower lr or precision='fp32'")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                seen += x.shape[0]
                if progress is not None:
                    progress(step, total_steps)
                if step % per_epoch == 0 or step == total_steps:
                    log.info("epoch %.1f/%.1f: loss %.4f, %.0f images/s", step / per_epoch, total_steps / per_epoch,
                             loss.item(), seen / (time.perf_counter() - t_train))
                if step >= total_steps or (budget is not None and time.perf_counter() - t_train >= budget):
                    done = True
                    break
        _recalibrate_batch_norm(model, x_train, batch, autocast, channels_last, rotation, gen)
        train_seconds = time.perf_counter() - t_train
        val_acc = _accuracy(model, x_val, y_val, rotation, autocast)
        test_acc = None
        if test_set is not None:
            test_acc = _accuracy(model, test_set.images, test_set.labels, rotation, autocast)
    finally:
        torch.set_num_threads(old_threads)
    model = model.eval().to(memory_format=torch.contiguous_format)

    from ...version import __version__

    seconds = time.perf_counter() - t0
    meta = {
        "kind": KIND, "format": FORMAT, "task": "features", "ganforge_version": __version__,
        "name": name or _name_of(str(source)), "arch": ARCH, "arch_kwargs": kwargs,
        "mode": "rotation" if rotation else "classifier",
        "input_size": train_set.size, "channels": train_set.channels, "feature_dim": int(feature_dim),
        "classes": None if rotation else list(train_set.class_names),
        "accuracy": {"val": round(val_acc, 5), "test": None if test_acc is None else round(test_acc, 5)},
        "data": dict(train_set.describe(), held_out=n_val),
        "test_data": None if test_set is None else test_set.describe(),
        "training": {"steps": step, "batch": batch, "epochs": round(seen / n_train, 3), "lr": lr,
                     "weight_decay": weight_decay, "augment": augment, "flip": flip, "precision": precision,
                     "seed": seed, "seconds": round(train_seconds, 2), "val_fraction": val_fraction},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    artifact.save(out, model.state_dict(), meta)
    log.info("feature network saved to %s: held-out accuracy %.4f%s", out, val_acc,
             "" if test_acc is None else f", test accuracy {test_acc:.4f}")
    return TrainedFeatures(path=out, mode=meta["mode"], val_accuracy=val_acc, test_accuracy=test_acc, seconds=seconds,
                           epochs=seen / n_train, steps=step, images_per_s=seen / max(train_seconds, 1e-9), meta=meta)


# ------------------------------------------------------------------------------------------------ loading

def read(path: str | os.PathLike) -> tuple[DomainCNN, dict[str, Any], str]:
    """The network (eval mode), its metadata and the file's sha256 hex digest."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such feature network file")
    meta = artifact.read_meta(path)
    if meta.get("kind") != KIND:
        what = f"a ganforge {meta['task']!r} model" if meta.get("task") else "not a feature network"
        raise CheckpointError(f"{path}: {what}, not a feature network (train one with 'ganforge features train')")
    if int(meta.get("format", 0)) > FORMAT or meta.get("arch") != ARCH:
        raise CheckpointError(f"{path}: feature network format {meta.get('format')}/{meta.get('arch')} is newer than "
                              "this ganforge understands; upgrade ganforge")
    tensors, _ = artifact.load(path)
    kwargs = dict(meta["arch_kwargs"])
    kwargs["stages"] = tuple(tuple(s) for s in kwargs["stages"])
    model = DomainCNN(**kwargs)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0][:160]
        raise CheckpointError(f"{path}: weights do not match the architecture in its metadata ({first})") from None
    return model.eval().requires_grad_(False), meta, file_sha256(path)
