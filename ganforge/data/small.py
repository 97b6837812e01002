"""The warning for a data set too small to train on usefully.

A GAN learns a distribution from samples; with a few dozen of them the discriminator memorises the set
within a few hundred steps and the generator can only copy or collapse (and set metrics such as FID/KID
are too noisy to compare). The thresholds are where that happens in practice, not hard limits: training
still runs, with one warning.
"""
from __future__ import annotations

import logging

log = logging.getLogger("ganforge.data")

MIN_IMAGES = 32   # images, image pairs, video clips, voxel shapes, captioned images
MIN_SERIES = 32   # time series
MIN_ROWS = 50     # table rows (each row is one sample; a mixture per column needs a few dozen values)


def warn_if_small(n: int, what: str, where: str, minimum: int = MIN_IMAGES) -> bool:
    """Log one warning when ``n`` items are fewer than ``minimum``; True when it did."""
    if n >= minimum:
        return False
    log.warning("%s: only %d %s, fewer than %d: too few to train a GAN usefully (the discriminator memorises "
                "them and the generator copies or collapses) or to measure one reliably", where, n, what, minimum)
    return True
