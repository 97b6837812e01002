"""Evaluation metrics: set metrics on features (sets.py), per-image restoration metrics (quality.py),
classifier-based metrics (classifier.py).

Feature networks live in features/ and the orchestration (fid, evaluate, the CLI's entry) in
evaluate.py; their exports are added below this block.
"""
from .classifier import accuracy, classification_accuracy_score, train_linear_probe, tstr
from .quality import psnr, rgb_to_y, ssim
from .sets import FeatureStats, density_coverage, frechet_distance, inception_score, kid, memorization, precision_recall

__all__ = [
    "FeatureStats", "frechet_distance", "kid", "precision_recall", "density_coverage",
    "inception_score", "memorization",
    "psnr", "ssim", "rgb_to_y",
    "accuracy", "train_linear_probe", "tstr", "classification_accuracy_score",
]
