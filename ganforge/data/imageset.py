"""ImageSet: a whole image data set as one validated uint8 tensor, with labels and provenance."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from ganforge.errors import DataError


@dataclass
class ImageSet:
    """Images of one data source, decoded and normalised to one size and channel count.

    ``images`` is uint8, NCHW, contiguous, with C in {1, 3} and H == W == ``size``.
    ``labels`` (int64, one per image) and ``class_names`` (index -> name) are both set or both None.
    ``source`` is the source string as the user gave it; ``skipped`` lists ``(name, reason)`` for every
    item that could not be read.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] | None = None
    source: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        x = self.images
        where = self.source or "ImageSet"
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4:
            got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataError(f"{where}: images must be a uint8 NCHW tensor, got {got}")
        n, c, h, w = x.shape
        if c not in (1, 3) or h != w or h < 1:
            raise DataError(f"{where}: images must have 1 or 3 channels and square sides, got {tuple(x.shape)}")
        if not x.is_contiguous():
            self.images = x.contiguous()
        if (self.labels is None) != (self.class_names is None):
            raise DataError(f"{where}: labels and class_names must both be given or both be None")
        if self.labels is not None:
            y = self.labels
            if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (n,):
                got = f"{y.dtype} {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
                raise DataError(f"{where}: labels must be int64 of shape ({n},), got {got}")
            k = len(self.class_names)
            if n and (int(y.min()) < 0 or int(y.max()) >= k):
                raise DataError(f"{where}: labels must lie in 0..{k - 1} (one per class name)")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def size(self) -> int:
        return int(self.images.shape[2])

    @property
    def fingerprint(self) -> str:
        """First 16 hex digits of a sha256 over the shape and bytes of the images (and labels)."""
        h = hashlib.sha256()
        h.update(("images:%s;" % ",".join(str(d) for d in self.images.shape)).encode())
        h.update(memoryview(self.images.contiguous().numpy()).cast("B"))
        if self.labels is not None:
            h.update(b"labels:")
            h.update(self.labels.numpy().astype("<i8").tobytes())
        return h.hexdigest()[:16]

    def describe(self) -> dict:
        """A JSON-ready summary; ``classes`` is the class count (None when unlabelled),
        ``skipped`` the number of unreadable items."""
        return {
            "source": self.source,
            "n": len(self),
            "size": self.size,
            "channels": self.channels,
            "classes": None if self.class_names is None else len(self.class_names),
            "fingerprint": self.fingerprint,
            "skipped": len(self.skipped),
        }
