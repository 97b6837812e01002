"""FeatureExtractor: uint8 images in, float32 feature vectors (and, for classifiers, logits) out.

One wrapper serves every feature network (the FID Inception, trained domain networks, raw pixels): it
turns whatever images the caller has (tensor or array, NCHW or NHWC, grey or RGB) into the float [0, 1]
NCHW tensor with the channel count the network expects, runs the network in batches at the chosen
precision, and hands back float32. A network module takes that [0, 1] tensor at any size (it resizes
itself) and returns ``(features, logits or None)``.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn

from ganforge.errors import ConfigError, DataError, GanforgeError

Progress = Callable[[int, "int | None"], None]
"""``progress(done, total)``: images done so far; ``total`` is None when the input is an iterable of unknown length."""

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's RGB -> "L"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (``FeatureExtractor.checksum`` is its first 16 digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] (ganforge's convention inside networks) -> uint8 in 0..255, same layout."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def as_nchw_uint8(images: Any, where: str = "images") -> torch.Tensor:
    """A uint8 NCHW tensor (C in 1, 3) from a uint8 tensor or array shaped NHW, NCHW or NHWC.

    A 4-D shape whose second and last axes could both be channels is read as NCHW for tensors and as
    NHWC for arrays (ganforge's own conventions for each).
    """
    if isinstance(images, np.ndarray):
        is_array = True
        x = torch.from_numpy(np.ascontiguousarray(images))
    elif isinstance(images, torch.Tensor):
        is_array = False
        x = images.detach()
    else:
        raise DataError(f"{where}: expected a uint8 tensor or numpy array, got {type(images).__name__}")
    if x.dtype != torch.uint8:
        raise DataError(f"{where}: images must be uint8 (0..255), got {str(x.dtype).replace('torch.', '')}; "
                        "for float images in [-1, 1] use ganforge.metrics.features.to_uint8")
    if x.dim() == 3:
        return x[:, None]
    if x.dim() != 4:
        raise DataError(f"{where}: expected images shaped NHW, NCHW or NHWC, got shape {tuple(x.shape)}")
    first, last = x.shape[1] in (1, 3), x.shape[3] in (1, 3)
    if last and (is_array or not first):
        return x.permute(0, 3, 1, 2)
    if first:
        return x
    raise DataError(f"{where}: no channel axis of size 1 or 3 in shape {tuple(x.shape)} (NCHW or NHWC)")


def adapt_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Float NCHW with 1 or 3 channels -> ``channels`` channels: grey is repeated, colour becomes luma."""
    c = x.shape[1]
    if c == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1)
    weights = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


class FeatureExtractor:
    """A feature network ready to use: ``extractor(images)`` -> float32 ``[N, dim]``.

    Attributes: ``name`` (e.g. "inception-fid", "domain:mnist", "pixels8"), ``dim`` (feature length),
    ``input_size`` (the side the network sees), ``channels`` (1 or 3, what the network takes; other
    inputs are converted), ``checksum`` (sha256 prefix of the weight file, or of the configuration),
    ``num_classes`` (None when it is not a classifier), ``precision`` ("bf16" or "fp32"), ``meta``
    (what the weight file says about itself).
    """

    def __init__(self, network: nn.Module, *, name: str, dim: int, input_size: int, channels: int, checksum: str,
                 num_classes: int | None = None, device: str | torch.device = "cpu", precision: str = "fp32",
                 channels_last: bool = False, batch: int = 64, meta: dict | None = None):
        if precision not in ("bf16", "fp32"):
            raise ConfigError(f"feature precision must be 'bf16' or 'fp32', got {precision!r}")
        self.name = name
        self.dim = int(dim)
        self.input_size = int(input_size)
        self.channels = int(channels)
        self.checksum = checksum
        self.num_classes = num_classes
        self.device = torch.device(device)
        self.precision = precision
        self.channels_last = channels_last
        self.batch = int(batch)
        self.meta = dict(meta or {})
        network = network.eval().requires_grad_(False).to(self.device)
        if channels_last:
            network = network.to(memory_format=torch.channels_last)
        self.network = network

    def __repr__(self) -> str:
        side = self.input_size
        return (f"<FeatureExtractor {self.name} dim={self.dim} input={self.channels}x{side}x{side} "
                f"classes={self.num_classes} {self.precision}{' channels_last' if self.channels_last else ''} "
                f"sha256={self.checksum}>")

    def describe(self) -> dict:
        """A JSON-ready record of what produced the features (for metric reports)."""
        return {"name": self.name, "dim": self.dim, "input_size": self.input_size, "channels": self.channels,
                "checksum": self.checksum, "num_classes": self.num_classes, "precision": self.precision}

    # ------------------------------------------------------------------------------------------ running
    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _run(self, images: Any, batch: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = as_nchw_uint8(images)
        batch = batch or self.batch
        feats, logits = [], []
        with torch.inference_mode():
            for start in range(0, x.shape[0], batch):
                chunk = x[start:start + batch].to(self.device, non_blocking=True).float().div_(255)
                chunk = adapt_channels(chunk, self.channels)
                chunk = chunk.contiguous(memory_format=torch.channels_last if self.channels_last
                                         else torch.contiguous_format)
                with self._autocast():
                    f, lg = self.network(chunk)
                feats.append(f.float().cpu())
                if lg is not None:
                    logits.append(lg.float().cpu())
        if not feats:
            empty = torch.zeros(0, self.dim)
            return empty, (torch.zeros(0, self.num_classes) if self.num_classes else None)
        return torch.cat(feats), (torch.cat(logits) if logits else None)

    def __call__(self, images: Any) -> torch.Tensor:
        """Features of uint8 images (tensor or array; NHW, NCHW or NHWC; grey or RGB): float32 ``[N, dim]``,
        on the CPU."""
        return self._run(images)[0]

    def logits(self, images: Any) -> torch.Tensor:
        """Class logits, float32 ``[N, num_classes]`` (for Inception Score and classification metrics)."""
        self._need_classifier()
        return self._run(images)[1]

    def _need_classifier(self) -> None:
        if self.num_classes is None:
            raise GanforgeError(f"feature network {self.name} is not a classifier: it has no class logits "
                                "(use 'inception' or a domain network trained on labelled data)")

    def extract(self, images: Any, batch: int | None = None, progress: Progress | None = None,
                what: Literal["features", "logits", "both"] = "features"):
        """Features (or logits, or both as a pair) of many images as float32 numpy arrays.

        ``images`` is one uint8 tensor/array, an ``ImageSet``, or an iterable of such batches (e.g. a
        generator that samples a GAN chunk by chunk); it is processed ``batch`` images at a time.
        ``progress(done, total)`` is called after every batch.
        """
        if what not in ("features", "logits", "both"):
            raise ConfigError(f"what must be 'features', 'logits' or 'both', got {what!r}")
        if what != "features":
            self._need_classifier()
        batch = int(batch or self.batch)
        if batch < 1:
            raise ConfigError(f"batch must be a positive integer, got {batch}")
        if hasattr(images, "images") and isinstance(images.images, torch.Tensor):  # an ImageSet
            images = images.images
        if isinstance(images, (torch.Tensor, np.ndarray)):
            x = as_nchw_uint8(images)
            total: int | None = int(x.shape[0])
            chunks: Iterable = (x[i:i + batch] for i in range(0, x.shape[0], batch))
        else:
            try:
                chunks = iter(images)
            except TypeError:
                raise DataError(f"images: expected a uint8 tensor, array, ImageSet or an iterable of them, "
                                f"got {type(images).__name__}") from None
            total = None
        feats: list[np.ndarray] = []
        logits: list[np.ndarray] = []
        done = 0
        for chunk in chunks:
            f, lg = self._run(chunk, batch)
            feats.append(f.numpy())
            if lg is not None:
                logits.append(lg.numpy())
            done += f.shape[0]
            if progress is not None:
                progress(done, total)
        f_all = np.concatenate(feats) if feats else np.zeros((0, self.dim), np.float32)
        if what == "features":
            return f_all
        lg_all = np.concatenate(logits) if logits else np.zeros((0, self.num_classes), np.float32)
        return lg_all if what == "logits" else (f_all, lg_all)
