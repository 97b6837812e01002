"""Accuracy, the linear probe / TSTR and the classification accuracy score (CAS)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.errors import ConfigError, DataError
from ganforge.metrics.classifier import accuracy, classification_accuracy_score, train_linear_probe, tstr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blobs(rng: np.random.Generator, n: int, classes: int = 4, d: int = 8, spread: float = 1.0):
    """Class-conditional Gaussians with unit-norm-ish centres 4 apart."""
    centres = 4 * np.eye(classes, d)
    y = rng.integers(0, classes, n)
    return centres[y] + spread * rng.normal(size=(n, d)), y


def test_accuracy_from_scores_or_predicted_labels():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    labels = np.array([0, 1, 1, 0])
    assert accuracy(logits, labels) == 0.75
    assert accuracy(torch.tensor(logits), torch.tensor(labels)) == 0.75
    assert accuracy(np.array([0, 1, 2, 0]), labels) == 0.75
    with pytest.raises(DataError, match="3 labels for 4 samples"):
        accuracy(logits, labels[:3])


def test_tstr_is_high_for_faithful_conditional_samples_and_chance_for_ignored_labels():
    rng = np.random.default_rng(0)
    real_x, real_y = blobs(rng, 400)
    fake_x, fake_y = blobs(rng, 400, spread=1.2)          # a slightly blurrier but faithful generator
    assert tstr(fake_x, fake_y, real_x, real_y) > 0.9
    ignored = rng.permutation(fake_y)                     # a generator that ignores its labels
    assert tstr(fake_x, ignored, real_x, real_y) < 0.45   # chance is 0.25
    probe = train_linear_probe(real_x, real_y)
    assert np.mean(probe.predict(real_x) == real_y) > 0.9
    with pytest.raises(ConfigError, match="feature dimensions differ"):
        tstr(fake_x, fake_y, real_x[:, :5], real_y)
    with pytest.raises(DataError, match="at least 2 classes"):
        train_linear_probe(fake_x, np.zeros(len(fake_x), dtype=int))


def test_classification_accuracy_score_batches_a_callable():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 16, 50)
    images = torch.zeros(50, 1, 4, 4)
    images.view(50, -1)[torch.arange(50), torch.tensor(labels)] = 1.0   # class = brightest pixel
    seen = []

    def classifier(batch: torch.Tensor) -> torch.Tensor:   # "trained on real data": reads the pixel
        seen.append(len(batch))
        assert not torch.is_grad_enabled()
        return batch.flatten(1)

    assert classification_accuracy_score(classifier, images, labels, batch_size=7) == 1.0
    assert seen == [7] * 7 + [1]
    wrong = (labels + 1) % 16
    assert classification_accuracy_score(classifier, images, wrong) == 0.0
    with pytest.raises(DataError, match="returned 1 rows"):
        classification_accuracy_score(lambda b: b[:1].flatten(1), images, labels, batch_size=10)
