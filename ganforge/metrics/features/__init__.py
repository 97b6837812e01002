"""Feature networks for set metrics (FID, KID, precision/recall) and classifier metrics (IS, CAS).

    >>> from ganforge.metrics.features import load_features
    >>> net = load_features("inception", weights="pt_inception-2015-12-05-6726825d.pth")
    >>> feats = net.extract(images_uint8, batch=64)          # float32 [N, 2048]
    >>> net = load_features("runs/mnist-features.safetensors")  # a domain network (train_domain_features)
    >>> net = load_features("pixels")                        # raw 8x8 RGB pixels, for tests and smoke runs

Every extractor takes uint8 images (tensor or array; NHW, NCHW or NHWC; grey or RGB) and gives float32.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ganforge.errors import ConfigError, GanforgeError
from ganforge.metrics.features.domain import TrainedFeatures, train_domain_features
from ganforge.metrics.features.extractor import FeatureExtractor, Progress, to_uint8

__all__ = ["FeatureExtractor", "Progress", "TrainedFeatures", "load_features", "to_uint8", "train_domain_features",
           "INCEPTION_ENV"]

INCEPTION_ENV = "GANFORGE_INCEPTION_WEIGHTS"

# Inference layouts chosen by measurement on the reference CPU (benchmarks/metrics_speed.py): with bf16
# autocast (the default where the CPU has bf16 units), channels_last about doubles the speed of Inception
# and of the domain CNN; folding Inception's batch norms into its convolutions saves a few percent more.
_INCEPTION_CHANNELS_LAST = True
_DOMAIN_CHANNELS_LAST = True


def _resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        if device.type == "cpu":
            from ganforge.engine.runtime import cpu_has_fast_bf16

            return "bf16" if cpu_has_fast_bf16() else "fp32"
        return "fp32"  # GPUs are fast enough in fp32, which keeps scores closest to the references
    if precision not in ("bf16", "fp32"):
        raise ConfigError(f"feature precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
    return precision


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for but no CUDA GPU is available")
    return device


def _inception(weights: str | os.PathLike | None, device: torch.device, precision: str,
               channels_last: bool | None, batch: int | None) -> FeatureExtractor:
    from ganforge.metrics.features import inception

    if weights is None:
        weights = os.environ.get(INCEPTION_ENV) or None
    if weights is None:
        raise GanforgeError(f"Inception weights are needed and ganforge never downloads: pass weights=PATH "
                            f"(--inception-weights PATH) or set {INCEPTION_ENV}=PATH to {inception.STANDARD_FILE}")
    net, digest, standard = inception.build(weights)
    if precision == "bf16":
        net.fuse_()  # exact up to rounding; saves the batch-norm passes
    # fp32 stays the reference computation (pytorch-fid's: NCHW, batch norms as they are)
    cl = (_INCEPTION_CHANNELS_LAST and precision == "bf16") if channels_last is None else channels_last
    return FeatureExtractor(net, name="inception-fid", dim=inception.FEATURE_DIM, input_size=inception.INPUT_SIZE,
                            channels=3, checksum=digest[:16], num_classes=inception.NUM_CLASSES, device=device,
                            precision=precision, channels_last=cl, batch=batch or 32,
                            meta={"weights": str(Path(weights).expanduser()), "standard_weights": standard})


def _pixels(spec: str, device: torch.device, batch: int | None) -> FeatureExtractor:
    from ganforge.metrics.features import pixels

    _, _, arg = spec.partition(":")
    try:
        side = int(arg) if arg else pixels.DEFAULT_SIDE
    except ValueError:
        side = 0
    if not 1 <= side <= 256:
        raise ConfigError(f"feature network {spec!r}: expected 'pixels' or 'pixels:N' with N a side in 1..256")
    return FeatureExtractor(pixels.PixelFeatures(side), name=f"pixels{side}", dim=3 * side * side, input_size=side,
                            channels=3, checksum=pixels.checksum(side), num_classes=None, device=device,
                            precision="fp32", batch=batch or 1024, meta={"side": side})


def _domain(path: Path, device: torch.device, precision: str, channels_last: bool | None,
            batch: int | None) -> FeatureExtractor:
    from ganforge.metrics.features import domain

    net, meta, digest = domain.read(path)
    classifier = meta["mode"] == "classifier"
    cl = _DOMAIN_CHANNELS_LAST if channels_last is None else channels_last
    return FeatureExtractor(net, name=f"domain:{meta['name']}", dim=meta["feature_dim"], input_size=meta["input_size"],
                            channels=meta["channels"], checksum=digest[:16],
                            num_classes=len(meta["classes"]) if classifier else None, device=device,
                            precision=precision, channels_last=cl, batch=batch or 256, meta=meta)


def load_features(spec: str | os.PathLike, weights: str | os.PathLike | None = None, device: str = "cpu", *,
                  precision: str = "auto", channels_last: bool | None = None,
                  batch: int | None = None) -> FeatureExtractor:
    """A ready feature extractor for ``spec``:

    - ``"inception"``: the FID Inception-v3 (2048-d pool3 features, 1008-class logits). Its weights
      (``pt_inception-2015-12-05-6726825d.pth``) come from ``weights`` or the environment variable
      ``GANFORGE_INCEPTION_WEIGHTS``; a path to a ``.pth`` file as ``spec`` means the same.
    - a path to a ``.safetensors`` feature network written by ``train_domain_features``.
    - ``"pixels"`` or ``"pixels:N"``: images shrunk to N x N RGB (default 8), flattened; for tests.

    ``precision``: "auto" (bf16 autocast on CPUs with fast bf16, else fp32), "bf16" or "fp32".
    ``channels_last`` None uses the layout measured fastest. ``batch`` is the default batch of ``extract``.
    """
    dev = _resolve_device(device)
    prec = _resolve_precision(precision, dev)
    text = os.fspath(spec) if isinstance(spec, os.PathLike) else spec
    if not isinstance(text, str) or not text:
        raise ConfigError(f"feature network must be 'inception', 'pixels' or a file path, got {spec!r}")
    key = text.strip().lower()
    if key in ("inception", "inception-v3", "inception-fid"):
        return _inception(weights, dev, prec, channels_last, batch)
    if key == "pixels" or key.startswith("pixels:"):
        return _pixels(key, dev, batch)
    path = Path(text).expanduser()
    if path.suffix == ".pth":
        return _inception(path, dev, prec, channels_last, batch)
    if path.is_file() or path.suffix == ".safetensors":
        return _domain(path, dev, prec, channels_last, batch)
    raise ConfigError(f"unknown feature network {text!r}: expected 'inception', 'pixels[:N]' or the path of a "
                      ".safetensors file written by 'ganforge features train'")

