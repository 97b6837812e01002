"""The held-out gain check of ``augment_dataset``: do the synthetic images make a classifier better on real
images that neither the GAN nor the classifier saw?

``split_holdout`` sets aside a stratified, seeded share of the labelled data before the GAN trains.
``measure_gain`` then trains the same small classifier twice, with the same initial weights, the same real
batches and the same shifts (and flips, for colour images):

- ``real``: the real training split with shifts (the baseline any augmentation must beat);
- ``real+synthetic``: the same, plus a batch of synthetic images each step whose loss counts
  ``synthetic_weight`` times a real batch's (so the synthetic images can add, not swamp);

and scores both on the held-out images. The verdict compares them image by image (an exact McNemar test
on the images only one of the two gets right), so that a few lucky images on a small split do not read
as a gain. The classifier is ganforge's domain CNN (``metrics.features.domain``), narrowed for speed.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data import ImageSet
from ..errors import ConfigError, DataError
from ..metrics.features.domain import DomainCNN, _recalibrate_batch_norm, _shift_and_flip, _to_float

log = logging.getLogger("ganforge")

HOLDOUT = 0.2              # share of each class held out
MAX_HELD_OUT = 2000        # held-out images at most (large sets keep the rest for the GAN)
CHECK_STEPS = 500          # classifier steps per arm (about 15 s + 30 s on one CPU thread at 32 px)
CHECK_BATCH = 64
CHECK_STAGES = ((16, 1), (32, 1), (64, 1))
MAX_SYNTHETIC = 20000      # synthetic images the check reads at most
SIGNIFICANCE = 0.05


def split_holdout(labels: torch.Tensor, class_names: list[str], *, fraction: float = HOLDOUT, seed: int = 0,
                  min_train: int = 1, source: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices), both sorted: ``fraction`` of every class (at least one image,
    at most ``MAX_HELD_OUT`` in all) chosen with ``seed``, leaving at least ``min_train`` of each class."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"holdout must be a fraction strictly between 0 and 1; got {fraction!r}")
    y = labels.numpy()
    counts = np.bincount(y, minlength=len(class_names))
    want = np.maximum(1, np.round(counts * fraction)).astype(int)
    if want.sum() > MAX_HELD_OUT:
        want = np.maximum(1, np.floor(counts * MAX_HELD_OUT / counts.sum())).astype(int)
    want = np.minimum(want, counts - min_train)
    low = int(np.argmin(want))
    if want[low] < 1:
        raise DataError(f"{source}: class {class_names[low]!r} has {int(counts[low])} images, too few to hold one "
                        f"out for the check and keep {min_train} to learn from; add images or turn the check "
                        "off (--no-check, check=False)")
    rng = np.random.default_rng(seed)
    held = np.concatenate([rng.choice(np.flatnonzero(y == k), int(want[k]), replace=False)
                           for k in range(len(class_names))])
    held = np.sort(held)
    train = np.setdiff1d(np.arange(len(y)), held)
    return torch.from_numpy(train.astype(np.int64)), torch.from_numpy(held.astype(np.int64))


@dataclass
class GainCheck:
    """Held-out accuracy of a classifier trained on real images + shifts, without and with the synthetic
    images; ``gain`` in percentage points; ``better``/``worse``: held-out images that only the classifier
    with (without) synthetic images gets right; ``p_value`` of the difference (exact McNemar)."""

    held_out: int
    train: int
    synthetic: int
    synthetic_weight: float
    real_accuracy: float
    augmented_accuracy: float
    gain: float
    better: int
    worse: int
    p_value: float
    helped: bool
    verdict: str
    steps: int
    seconds: float
    note: str = ""

    def to_dict(self) -> dict:
        return {k: round(v, 5) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def __str__(self) -> str:
        return self.verdict


def mcnemar_p(better: int, worse: int) -> float:
    """Two-sided exact McNemar p-value: the chance of a split at least this uneven of the images only one
    classifier gets right, were both equally good."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(better, worse) + 1)) / 2.0 ** n
    return min(1.0, 2 * tail)


def verdict(gain: float, p: float, n: int) -> tuple[bool, str]:
    where = f"on {n} held-out images"
    if gain > 0 and p < SIGNIFICANCE:
        return True, f"synthetic images helped: {gain:+.1f} points {where}"
    if gain > 0:
        return False, (f"synthetic images did not clearly help on your data ({gain:+.1f} points {where} is within "
                       f"chance, p={p:.2f}): real + shifts does as well")
    return False, f"synthetic images did not help on your data ({gain:+.1f} points {where}): use real + shifts"


def _fit(train: ImageSet, synthetic: tuple[torch.Tensor, torch.Tensor] | None, weight: float, steps: int,
         seed: int, tick: Callable[[], None]) -> DomainCNN:
    """The check's classifier; with ``synthetic`` every step adds a synthetic batch at ``weight``. The real
    batches, their shifts and the initial weights depend on ``seed`` alone, so both arms share them."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DomainCNN(train.channels, train.size, CHECK_STAGES, 128, len(train.class_names))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=5e-4)
    real_gen = torch.Generator().manual_seed(seed)
    syn_gen = torch.Generator().manual_seed(seed + 1)
    max_shift, flip = max(1, train.size // 8), train.channels == 3
    x_real, y_real = train.images, train.labels
    warmup = max(1, steps // 20)
    net.train()
    for step in range(steps):
        scale = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * step / steps))
        for g in opt.param_groups:
            g["lr"] = 3e-3 * scale
        idx = torch.randint(len(x_real), (min(CHECK_BATCH, max(2, len(x_real))),), generator=real_gen)
        x = _shift_and_flip(_to_float(x_real[idx]), real_gen, max_shift, flip)
        loss = F.cross_entropy(net.classify(x), y_real[idx])
        if synthetic is not None:
            sidx = torch.randint(len(synthetic[0]), (CHECK_BATCH,), generator=syn_gen)
            xs = _shift_and_flip(_to_float(synthetic[0][sidx]), syn_gen, max_shift, flip)
            loss = (loss + weight * F.cross_entropy(net.classify(xs), synthetic[1][sidx])) / (1 + weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tick()
    images = x_real if synthetic is None else torch.cat([x_real, synthetic[0]])
    _recalibrate_batch_norm(net, images, CHECK_BATCH, contextlib.nullcontext, False, False,
                            torch.Generator().manual_seed(seed))
    return net.eval()


@torch.inference_mode()
def _correct(net: DomainCNN, held: ImageSet) -> torch.Tensor:
    pred = torch.cat([net.classify(_to_float(held.images[i:i + 512])).argmax(1)
                      for i in range(0, len(held), 512)])
    return pred == held.labels


def measure_gain(train: ImageSet, held: ImageSet, synthetic: tuple[torch.Tensor, torch.Tensor], *,
                 synthetic_weight: float = 0.5, steps: int = CHECK_STEPS, seed: int = 0,
                 progress: Callable[[int, int], None] | None = None, note: str = "") -> GainCheck:
    """Train the check's classifier on ``train`` without and with ``synthetic`` (uint8 images like
    ``train``'s, labels indexed like its classes) and score both on ``held``. ``progress(done, total)``
    is called after every classifier step."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"check_steps must be a positive whole number; got {steps!r}")
    if isinstance(synthetic_weight, bool) or not isinstance(synthetic_weight, (int, float)) or not synthetic_weight > 0:
        raise ConfigError(f"synthetic_weight must be a positive number; got {synthetic_weight!r}")
    if len(synthetic[0]) == 0:
        raise DataError("the check has no synthetic images to learn from")
    t0 = time.perf_counter()
    done = 0
    total = 2 * steps

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    log.info("held-out check: a classifier on %d real images, then with %d synthetic ones (weight %g), %d steps "
             "each; scored on %d held-out images", len(train), len(synthetic[0]), synthetic_weight, steps, len(held))
    plain = _correct(_fit(train, None, synthetic_weight, steps, seed, tick), held)
    mixed = _correct(_fit(train, synthetic, float(synthetic_weight), steps, seed, tick), held)
    better, worse = int((mixed & ~plain).sum()), int((plain & ~mixed).sum())
    real_acc, aug_acc = float(plain.float().mean()), float(mixed.float().mean())
    gain = round(100 * (aug_acc - real_acc), 2)
    p = mcnemar_p(better, worse)
    helped, text = verdict(gain, p, len(held))
    check = GainCheck(len(held), len(train), len(synthetic[0]), float(synthetic_weight), real_acc, aug_acc, gain,
                      better, worse, p, helped, text, steps, time.perf_counter() - t0, note)
    log.info("held-out check: real + shifts %.1f%%, + synthetic %.1f%% (%d images better, %d worse): %s",
             100 * real_acc, 100 * aug_acc, better, worse, text)
    return check


__all__ = ["split_holdout", "measure_gain", "GainCheck", "mcnemar_p", "HOLDOUT"]
