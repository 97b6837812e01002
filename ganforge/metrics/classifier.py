"""Classifier-based metrics: accuracy, a linear probe, "train on synthetic, test on real" (TSTR) and
the classification accuracy score (CAS, Ravuri & Vinyals 2019).

TSTR fits a logistic-regression probe on features of generated samples with the labels they were
conditioned on, and reports its accuracy on features of real held-out data. CAS is the accuracy of a
classifier trained on real data when it labels conditional samples: pass that classifier as a callable.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import torch

from ganforge.errors import ConfigError, DataError


def _array(x: Any, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim not in ndim:
        raise DataError(f"{name}: expected {' or '.join(f'{d}-D' for d in ndim)} array, got shape {a.shape}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DataError(f"{name}: contains NaN or inf")
    return a


def _labels(y: Any, name: str, n: int) -> np.ndarray:
    a = _array(y, name, (1,))
    if len(a) != n:
        raise DataError(f"{name}: {len(a)} labels for {n} samples")
    if a.dtype.kind == "f":
        if not np.array_equal(a, np.round(a)):
            raise DataError(f"{name}: labels must be integers")
        a = a.astype(np.int64)
    return a


def accuracy(logits: Any, labels: Any) -> float:
    """Fraction of correct predictions. ``logits`` are [N, C] scores (logits or probabilities) or
    [N] predicted labels."""
    scores = _array(logits, "accuracy(logits)", (1, 2))
    y = _labels(labels, "accuracy(labels)", len(scores))
    if len(y) == 0:
        raise DataError("accuracy: no samples")
    pred = scores.argmax(axis=1) if scores.ndim == 2 else scores
    return float(np.mean(pred == y))


def train_linear_probe(features: Any, labels: Any, *, C: float = 1.0, max_iter: int = 1000,
                       standardize: bool = True, seed: int = 0):
    """Fit a multinomial logistic regression on [N, D] features; returns the fitted scikit-learn
    estimator (a pipeline with a standard scaler when ``standardize``)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _array(features, "train_linear_probe(features)", (2,)).astype(np.float64, copy=False)
    y = _labels(labels, "train_linear_probe(labels)", len(x))
    if len(np.unique(y)) < 2:
        raise DataError(f"train_linear_probe: needs at least 2 classes, got {len(np.unique(y))}")
    if not C > 0:
        raise ConfigError(f"train_linear_probe: C must be > 0, got {C!r}")
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    model = make_pipeline(StandardScaler(), clf) if standardize else clf
    with warnings.catch_warnings():
        # an unconverged probe still gives a usable (if slightly pessimistic) accuracy
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return model


def tstr(train_x: Any, train_y: Any, test_x: Any, test_y: Any, **probe_options: Any) -> float:
    """Train on synthetic, test on real: fit :func:`train_linear_probe` on (generated features, their
    conditioning labels) and return its accuracy on (real features, true labels). Swap the sets for TRTS.
    """
    tx = _array(train_x, "tstr(train_x)", (2,))
    ex = _array(test_x, "tstr(test_x)", (2,))
    if tx.shape[1] != ex.shape[1]:
        raise ConfigError(f"tstr: feature dimensions differ (train {tx.shape[1]}, test {ex.shape[1]})")
    model = train_linear_probe(tx, train_y, **probe_options)
    ey = _labels(test_y, "tstr(test_y)", len(ex))
    if len(ey) == 0:
        raise DataError("tstr: no test samples")
    return float(np.mean(model.predict(ex.astype(np.float64, copy=False)) == ey))


def classification_accuracy_score(classifier_fn: Callable[[Any], Any], images: Any, labels: Any,
                                  batch_size: int = 256) -> float:
    """CAS: the accuracy of ``classifier_fn`` (trained on real data; maps a batch of images to [B, C]
    scores or [B] labels) on conditional samples ``images`` generated for ``labels``.
    Batches are sliced along the first axis and passed as they are, under ``torch.no_grad()``."""
    if not callable(classifier_fn):
        raise ConfigError("classification_accuracy_score: classifier_fn must be callable")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"classification_accuracy_score: batch_size must be an integer >= 1, got {batch_size!r}")
    n = len(images)
    y = _labels(labels, "classification_accuracy_score(labels)", n)
    if n == 0:
        raise DataError("classification_accuracy_score: no images")
    preds = []
    with torch.no_grad():
        for s in range(0, n, batch_size):
            out = _array(classifier_fn(images[s:s + batch_size]), "classifier_fn output", (1, 2))
            if len(out) != min(batch_size, n - s):
                raise DataError(f"classifier_fn returned {len(out)} rows for a batch of {min(batch_size, n - s)}")
            preds.append(out.argmax(axis=1) if out.ndim == 2 else out)
    return float(np.mean(np.concatenate(preds) == y))
