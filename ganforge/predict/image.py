"""The shared front of image-to-image predictors (translation, restoration): ``apply`` and ``apply_path``.

``apply(image_or_array, **options)`` takes a path, a PIL image or a uint8 array (HW or HWC) of any size
and returns the result in the same kind (PIL in, PIL out; otherwise a uint8 HWC array). Large images
run in overlapping tiles blended without seams (``tile``).

``apply_path(input, output, *, progress=None, **options)`` is what ``ganforge apply`` calls: ``input`` is
an image or a folder (every image below it, written under ``output`` with the same relative path as
PNG); ``progress(done, total)`` is called after each image; options the model does not know raise a
ConfigError. It returns the written paths.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from ..data.pairs import list_images, read_image
from ..errors import ConfigError, DataError
from .base import ExportGraph, Model
from ..imaging.tiling import run_tiled

DEFAULT_TILE = 512


def as_array(image: Any, channels: int | None = 3) -> np.ndarray:
    """A path, PIL image or array -> uint8 HWC array (float arrays are taken on the 0..255 scale)."""
    if isinstance(image, (str, Path)):
        return read_image(image, channels)
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise DataError(f"an image must be HW or HWC with 1, 3 or 4 channels; got shape {a.shape}")
    if a.shape[2] == 4:
        a = a[..., :3]
    if a.dtype != np.uint8:
        a = np.clip(np.rint(a.astype(np.float32)), 0, 255).astype(np.uint8)
    if channels == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return a


def to_tensor(a: np.ndarray, device) -> torch.Tensor:
    """A uint8 HWC array -> a float NCHW batch of one in [-1, 1] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float().div(127.5).sub(1.0)[None].to(device)


def read_mask(path: Any, shape: tuple[int, int], where: str = "mask") -> np.ndarray:
    """A mask image (white = missing, to fill in) as float32 HW in {0, 1}, checked against ``shape``."""
    m = as_array(path, channels=1)[..., 0] if not isinstance(path, np.ndarray) else np.asarray(path)
    if m.ndim == 3:
        m = m[..., 0]
    if m.shape != tuple(shape):
        name = path if isinstance(path, (str, Path)) else where
        raise DataError(f"{name}: mask is {m.shape[1]}x{m.shape[0]} but the image is {shape[1]}x{shape[0]}")
    return (m > (0.5 if m.dtype.kind == "f" and m.max() <= 1 else 127)).astype(np.float32)


class ImageToImage(Model):
    """Base of predictors that map an image to an image; subclasses implement ``_apply_array``.

    Built as every :class:`Model` (``nets``, ``meta``, ``path``, ``device``); ``apply_options`` names the
    options ``apply``/``apply_path`` accept besides the image (the CLI passes only those the user gave).
    """

    apply_options: tuple[str, ...] = ("tile", "compare")

    def _apply_array(self, a: np.ndarray, **options: Any) -> np.ndarray:
        raise NotImplementedError

    def _check_options(self, options: dict[str, Any]) -> None:
        for key in options:
            if key not in self.apply_options:
                raise ConfigError(f"option {key!r} is not known to a model of task {self.task!r} "
                                  f"(known: {', '.join(self.apply_options)})")

    def _tiled(self, net: Callable, x: torch.Tensor, tile: int | None, scale: int = 1, multiple: int = 1
               ) -> torch.Tensor:
        if tile is not None and tile < 8:
            raise ConfigError(f"tile must be at least 8 pixels; got {tile}")
        tile = DEFAULT_TILE if tile is None else tile
        with torch.no_grad():
            return run_tiled(net, x, tile, scale=scale, multiple=multiple)

    def _export_net(self) -> tuple[nn.Module, dict[str, int], int, str]:
        """What ``export`` writes: (a module on plain NCHW tensors in [-1, 1], the channels of each input by
        name, the size multiple its sides need, a note on what the file leaves to the caller)."""
        return self.G, {"image": 3}, self.G.multiple, ""

    def export_graph(self) -> ExportGraph:
        """image(s) [N, C, H, W] in [-1, 1] -> output [N, C', H * scale, W * scale] in [-1, 1]; batch, height and
        width are dynamic (sides multiples of the network's ``multiple``); no tiling: large images are the
        caller's to tile."""
        net, channels, multiple, note = self._export_net()
        side = multiple * math.ceil(32 / multiple)

        def make_inputs(n: int, seed: int, dims: dict[str, int]) -> dict[str, torch.Tensor]:
            gen = torch.Generator().manual_seed(seed)
            h, w = dims.get("height", side), dims.get("width", side)
            out = {}
            for name, c in channels.items():
                if name == "mask":  # 1 = missing, to fill in
                    out[name] = (torch.rand(n, c, h, w, generator=gen) > 0.7).float()
                else:
                    out[name] = torch.rand(n, c, h, w, generator=gen) * 2 - 1
            return out

        module = _Clamped(net)
        inputs = make_inputs(2, 0, {})
        with torch.no_grad():
            _, c, h, _ = module(*(v.to(self.device) for v in inputs.values())).shape
        scale = int(h) // side
        axes = {0: "batch", 2: "height", 3: "width"}
        info = {name: {"shape": ["batch", c_in, "height", "width"], "dtype": "float32",
                       "range": [0, 1] if name == "mask" else [-1, 1],
                       "meaning": "1 where pixels are missing (to fill in), else 0" if name == "mask" else
                       "NCHW images; from 8 bits: x / 127.5 - 1" + (" (luma, ITU-R 601)" if c_in == 1 else "")}
                for name, c_in in channels.items()}
        dim = (lambda d: d) if scale == 1 else (lambda d: f"{d}*{scale}")
        out = {"output": {"shape": ["batch", int(c), dim("height"), dim("width")], "dtype": "float32", "range": [-1, 1],
                         "meaning": "NCHW images; to 8 bits: clip((x + 1) * 127.5 + 0.5, 0, 255)" + (note and "; " + note)}}
        what = f"{self.task} model: image -> image" + (f", {scale}x larger" if scale > 1 else "")
        return ExportGraph(module, inputs, ["output"], {name: dict(axes) for name in channels}, info, out,
                           f"{what}; height and width multiples of {multiple}; no tiling (tile large images yourself)",
                           make_inputs, multiple=multiple)

    def apply(self, image: Any, **options: Any):
        """The model's output for one image of any size (same kind as given: PIL -> PIL, else array)."""
        options.pop("compare", None)
        self._check_options(options)
        out = self._apply_array(as_array(image), **options)
        try:
            from PIL import Image
            if isinstance(image, Image.Image) or isinstance(image, (str, Path)):
                return Image.fromarray(out[..., 0] if out.shape[2] == 1 else out)
        except ImportError:
            pass
        return out

    def apply_path(self, input: Path, output: Path, *, progress: Callable[[int, int], None] | None = None,
                   **options: Any) -> list[Path]:
        """Apply to an image file or every image below a folder; write PNGs; return the written paths."""
        from ..imaging.media import save_image

        self._check_options(options)
        input, output = Path(input), Path(output)
        compare = bool(options.pop("compare", False))
        mask = options.pop("mask", None)
        if input.is_dir():
            files = list_images(input)
            if output.exists() and not output.is_dir():
                raise ConfigError(f"{output}: the input is a folder, so the output must be a folder too")
            targets = [output / f.relative_to(input).with_suffix(".png") for f in files]
        elif input.exists():
            files = [input]
            is_dir = output.is_dir() or (not output.suffix and not output.exists())
            targets = [output / (input.stem + ".png") if is_dir else output]
        else:
            raise DataError(f"{input}: no such image or folder")
        masks: list[Any] = [None] * len(files)
        if mask is not None:
            mask = Path(mask)
            if mask.is_dir():
                by_stem = {m.stem: m for m in list_images(mask)}
                for i, f in enumerate(files):
                    if f.stem not in by_stem:
                        raise DataError(f"{f}: no mask of the same name in {mask}")
                    masks[i] = by_stem[f.stem]
            elif mask.exists():
                masks = [mask] * len(files)
            else:
                raise DataError(f"{mask}: no such mask file or folder")
        written = []
        for i, (f, target) in enumerate(zip(files, targets)):
            a = read_image(f)
            kw = dict(options)
            if masks[i] is not None:
                kw["mask"] = masks[i]
            out = self._apply_array(a, **kw)
            if compare:
                out = side_by_side(self._comparison_input(a, kw), out)
            written.append(save_image(target, out))
            if progress is not None:
                progress(i + 1, len(files))
        return written

    def _comparison_input(self, a: np.ndarray, options: dict[str, Any]) -> np.ndarray:
        """What the left panel of a comparison shows: the input, as the model saw it."""
        return a


class _Clamped(nn.Module):
    """An image-to-image network whose output is clipped to [-1, 1] (as ``apply`` does before 8 bits)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.net(*xs).clamp(-1.0, 1.0)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 4) -> np.ndarray:
    """Two uint8 HWC images next to each other; the left one is enlarged (nearest) to the right one's height."""
    from PIL import Image

    if left.shape[2] != right.shape[2]:
        left = np.repeat(left, 3, 2) if left.shape[2] == 1 else left
        right = np.repeat(right, 3, 2) if right.shape[2] == 1 else right
    if left.shape[:2] != right.shape[:2]:
        im = Image.fromarray(left[..., 0] if left.shape[2] == 1 else left)
        left = np.asarray(im.resize((right.shape[1], right.shape[0]), Image.Resampling.NEAREST))
        left = left[..., None] if left.ndim == 2 else left
    h = right.shape[0]
    out = np.full((h, left.shape[1] + gap + right.shape[1], right.shape[2]), 255, np.uint8)
    out[:, : left.shape[1]] = left
    out[:, left.shape[1] + gap:] = right
    return out
