"""Saliency prediction: a pix2pix preset that maps an RGB image to a grey saliency (attention) map.

The networks and losses are those of paired translation (``translate.py``: U-Net G, PatchGAN D on
(image, map) pairs, adversarial + ``lambda_l1`` * L1), with a one-channel output and defaults for small
scenes. Data: ``images`` + ``maps`` (two folders matched by file name), ``pairs`` (image|map
side-by-side files) or ``data="builtin:saliency"`` (synthetic scenes whose map is known). The model
file's predictor returns grey maps (``apply``) and scores itself against ground truth with CC, NSS,
KL, AUC-Judd and SIM (``evaluate``; :mod:`ganforge.metrics.saliency`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import option
from ..data.saliency import read_fixations, read_saliency_data
from ..errors import ConfigError
from ..nets import unet
from ..predict.base import verb
from . import register
from .translate import Pix2PixOptions, Translation, Translator


@dataclass
class SaliencyOptions(Pix2PixOptions):
    """pix2pix's options with the saliency sources: images and maps, pairs (image|map) or synthetic scenes."""

    data: str | None = option(None, "builtin:saliency[?n=1000&size=64&seed=0]: synthetic scenes with known maps.")
    images: str | None = option(None, "Folder of images (with maps; matched by name).")
    maps: str | None = option(None, "Folder of grey saliency maps, one per image, same size.")
    pairs: str | None = option(None, "Folder of image|map side-by-side files.")
    crop: int = option(64, "Training crop side.")
    width: int = option(32, "Base channel count of G and D.")
    sample_grid: int = option(6, "Rows in each sample grid.")

    # a saliency model is always paired translation from the image to its map (read by the Translation task)
    a = b = None
    unpaired = False
    direction = "AtoB"

    def validate(self) -> None:
        given = [name for name, v in (("data", self.data), ("pairs", self.pairs), ("images", self.images),
                                      ("maps", self.maps)) if v is not None]
        if not given:
            raise ConfigError("give the data: images and maps (two folders matched by name), pairs (image|map "
                              "side-by-side files) or data=builtin:saliency")
        if (self.images is None) != (self.maps is None):
            raise ConfigError("images and maps go together: give both folders")
        if len(set(given) - {"maps"}) > 1:
            raise ConfigError(f"give one data source, not {' and '.join(g for g in given if g != 'maps')}")
        self.check_network()


@register("saliency")
class SaliencyPrediction(Translation):
    Options = SaliencyOptions
    primary = False  # a pairs data set is most often for translation
    # what the old CLI's `train saliency` used: pix2pix's Adam (0.5, 0.999), 16 pairs a step, grids every 200
    run_defaults: dict[str, Any] = {"batch": 16, "beta1": 0.5, "beta2": 0.999, "eval_every": 200}

    def __init__(self, options: SaliencyOptions, data=None, seed: int = 0, progress=None):
        options.validate()
        if data is None:
            data = read_saliency_data(options.data, options.images, options.maps, options.pairs, options.limit,
                                      options.load_size)
        super().__init__(options, data=data, seed=seed, progress=progress)
        # the same networks as pix2pix, with a one-channel output (D sees image + map: 4 channels)
        self.g_kwargs = dict(self.g_kwargs, in_channels=3, out_channels=1)
        self.d_kwargs = dict(self.d_kwargs, in_channels=4)
        self.modules = {"G": unet.UNet(**self.g_kwargs), "D": unet.PatchDiscriminator(**self.d_kwargs)}


class SaliencyPredictor(Translator):
    """A trained saliency model: ``apply(image)`` gives the grey map (a float HW array in [0, 1] for an
    array; a grey PIL image for a PIL image or a path); ``apply_path`` writes grey PNGs; ``evaluate(...)``
    (verb ``eval-saliency``) scores it with the five saliency metrics."""

    Options = SaliencyOptions

    def apply(self, image: Any, **options: Any):
        """The saliency map of one image of any size (float32 HW in [0, 1]; PIL in, grey PIL out)."""
        out = super().apply(image, **options)
        return out[..., 0].astype(np.float32) / 255.0 if isinstance(out, np.ndarray) else out

    def predict(self, image: Any, tile: int | None = None) -> np.ndarray:
        """The saliency map of one image as a float32 HW array in [0, 1], whatever the input's kind."""
        from ..predict.image import as_array

        return self._apply_array(as_array(image), tile=tile)[..., 0].astype(np.float32) / 255.0

    def evaluate(self, images: Any = None, maps: str | None = None, *, data: str | None = None,
                 pairs: str | None = None, fixations: str | None = None, limit: int | None = None,
                 level: float = 0.5) -> dict[str, float]:
        """Mean CC, NSS, KL, AUC-Judd and SIM of this model's maps against ground truth.

        Ground truth: ``images`` + ``maps`` folders, ``pairs`` or ``data="builtin:saliency?..."``.
        Fixations for NSS/AUC-Judd: a folder of fixation images matched by name, or (default) the pixels
        at or above ``level`` of each true map's maximum.
        """
        from ..metrics import saliency as sal

        if images is None and maps is None and pairs is None and data is None:
            raise ConfigError("give the ground truth: images and maps, pairs or data=builtin:saliency")
        if (images is None) != (maps is None):
            raise ConfigError("images and maps go together: give both folders")
        gt = read_saliency_data(data, images, maps, pairs, limit)
        preds = [self.predict(a) for a in gt.a.images]
        truths = [m[..., 0] for m in gt.b.images]
        fix = None
        if fixations is not None:
            fix = read_fixations(fixations, gt.a.names, [t.shape for t in truths])
        return sal.evaluate(preds, truths, fix, level)

    @verb("eval-saliency", help={
        "images": "Folder of images (with --maps).",
        "maps": "Folder of true saliency maps matched by name.",
        "pairs": "Folder of image|map side-by-side files.",
        "data": "builtin:saliency?n=200&seed=1 (use another seed than training's).",
        "fixations": "Folder of fixation images matched by name (non-zero = fixation); default: pixels >= "
                     "--level of each map's peak.",
        "level": "Pseudo-fixations: fraction of the true map's maximum.",
        "limit": "Score only the first N pairs.",
        "output": "Also write the scores as JSON."})
    def eval_saliency(self, images: str | None = None, maps: str | None = None, pairs: str | None = None,
                      data: str | None = None, fixations: str | None = None, level: float = 0.5,
                      limit: int | None = None, output: Path | None = None) -> str:
        """Score a saliency model against true maps: CC, NSS, KL, AUC-Judd, SIM (means over the images)."""
        from ..fileio import write_json

        scores = self.evaluate(images, maps, data=data, pairs=pairs, fixations=fixations, limit=limit, level=level)
        line = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in scores.items())
        if output is not None:
            write_json(output, scores)
            line += f" -> {output}"
        return line


SaliencyPrediction.Predictor = SaliencyPredictor
