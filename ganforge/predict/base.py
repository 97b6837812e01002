"""Trained models as people use them: one contract, loaded from a model file with no training machinery.

Every predictor answers the same calls, so the front doors (CLI, studio, Python) never ask what task a
model came from:

- ``sample(n, *, seed=0, condition=None)``: new data. ``condition`` is the model's kind of condition (a
  class name, a ``where`` string of table conditions, a caption, a series label); ``conditions()`` lists
  the choices where there is a fixed set. ``write_samples(result, path)`` writes a result to a file whose
  suffix picks the format (``sample_suffixes``; the first is the preferred one).
- ``apply(x, **options)`` / ``apply_path(input, output, progress=None, **options)``: map inputs to outputs
  (image-to-image, video prediction); ``apply_options`` names the options ``apply`` accepts.
- ``walk(path, *, seed=0, **options)``: an animation through the latent space.
- verbs: task-specific actions, methods marked with :func:`verb`, whose typed keyword parameters are the
  flags of ``ganforge VERB`` and the fields of the studio's form.
- ``export_graph()``: what ``export`` (ONNX / TorchScript, :mod:`ganforge.predict.export`) writes: an
  :class:`ExportGraph`. Predictors that do not override it cannot be exported, and do not offer ``export``.

``.options`` is always the task's options dataclass; ``.nets`` the networks by name. Loading is generic:
format 2 files store each network as ``{"class": ..., **kwargs}`` (:mod:`ganforge.nets.registry`); a
predictor maps format 1 files (ganforge 0.1.0) to such specs in :meth:`Model.format1_nets`.
"""
from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch
import torch.nn as nn

from ..errors import ConfigError


def verb(name: str | None = None, *, help: str | dict[str, str] | None = None, model: str = "required",
         model_flag: str = "--model", output_suffix: str | None = None, needs: str | None = None) -> Callable:
    """Mark a predictor method as a verb (a command ``ganforge NAME`` and a studio action).

    Its parameters after ``self`` must have type hints (str, int, float, bool, Path, or Optional of one).
    In the CLI a parameter without a default is a positional argument, or a required flag when it is
    keyword-only (after ``*``); the others are flags. ``help`` maps parameter names to help texts
    (the method's docstring is the command's help). ``model="optional"``: the verb also runs without a
    model (``self`` is then None) and the model is given with ``model_flag``. ``output_suffix``: the kind of
    file an ``output`` parameter without a default writes (the studio names its file with it).
    ``needs``: a method of :class:`Model` that the predictor must override for the verb to be offered
    (``export`` needs ``export_graph``).
    """
    def deco(fn: Callable) -> Callable:
        fn.__ganforge_verb__ = {"name": name or fn.__name__.replace("_", "-"), "help": help or {},
                                "model": model, "model_flag": model_flag, "output_suffix": output_suffix,
                                "needs": needs}
        return fn
    return deco


class NotSupported(ConfigError):
    """The model cannot do what was asked (a sample from a translator, apply on a table model)."""


@dataclasses.dataclass
class ExportGraph:
    """What a predictor exports: a module taking plain tensors, and its contract.

    ``module(*inputs.values())`` gives the outputs named ``output_names`` (one tensor, or a tuple in that
    order). ``dynamic`` names the dynamic axes of each input (``{"z": {0: "batch"}}``); ``input_info`` and
    ``output_info`` describe each tensor for the JSON contract (``shape`` with the dynamic names, ``dtype``,
    ``range``, ``meaning``). ``make_inputs(batch, seed, dims)`` draws fresh valid inputs (``dims`` sets
    dynamic sizes other than the batch, e.g. ``{"height": 48}``) for the parity check; ``multiple``: dynamic
    height and width must be multiples of it. ``decoding`` documents how outputs become data (tables).
    """

    module: nn.Module
    inputs: dict[str, torch.Tensor]
    output_names: list[str]
    dynamic: dict[str, dict[int, str]]
    input_info: dict[str, dict[str, Any]]
    output_info: dict[str, dict[str, Any]]
    description: str
    make_inputs: Callable[[int, int, dict[str, int]], dict[str, torch.Tensor]]
    multiple: int = 1
    decoding: dict[str, Any] | None = None


class Model:
    """Base of every predictor: networks, options, the model file's metadata and the device it runs on."""

    #: the task's options dataclass (set when the task registers)
    Options: ClassVar[type | None] = None
    #: suffixes ``write_samples`` accepts, preferred first
    sample_suffixes: ClassVar[tuple[str, ...]] = (".png",)
    #: what ``condition`` means for this model, for help texts ("" when it takes none)
    condition_help: ClassVar[str] = ""
    #: options ``apply`` / ``apply_path`` accept besides the input
    apply_options: ClassVar[tuple[str, ...]] = ()
    #: keyword options ``sample`` and ``walk`` accept beyond the contract's (e.g. truncation ``psi``)
    sample_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path: Path | None = None,
                 device: str = "cpu"):
        self.meta = meta
        self.path = Path(path) if path is not None else None
        self.device = torch.device(device)
        self.nets = {k: v.to(self.device).eval() for k, v in nets.items()}
        self.options = self._options(meta)

    @classmethod
    def _options(cls, meta: dict[str, Any]) -> Any:
        if cls.Options is None:
            return meta.get("options")
        from ..config import as_saved, from_dict
        known = {f.name for f in dataclasses.fields(cls.Options)}
        saved = {k: v for k, v in meta.get("options", {}).items() if k in known}
        return from_dict(cls.Options, as_saved(cls.Options, saved), "options")

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: Path | None = None,
                     device: str = "cpu") -> "Model":
        from ..nets import registry

        from .. import artifact
        from ..errors import CheckpointError

        artifact.check_format(meta, path or "model")
        if meta.get("format", 1) >= 2 and "nets" not in meta:
            raise CheckpointError(f"{path or 'model'}: no network specs ('nets') in the metadata; the file is damaged")
        specs = meta["nets"] if meta.get("format", 1) >= 2 else cls.format1_nets(meta, tensors)
        return cls(registry.load(tensors, specs), meta, path, device)

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        """Network specs of a format 1 file (kwargs without the class); each predictor maps its own."""
        raise ConfigError(f"{cls.__name__}: model files of format 1 are not supported")

    @property
    def task(self) -> str:
        return self.meta["task"]

    def info(self) -> dict[str, Any]:
        return dict(self.meta, path=str(self.path) if self.path else None)

    @property
    def G(self) -> nn.Module:
        """The network that makes outputs (the EMA generator where training kept one: it is stored as G)."""
        return self.nets["G"]

    @property
    def D(self) -> nn.Module | None:
        """The discriminator, where the model file kept it."""
        return self.nets.get("D")

    # ----------------------------------------------------------------- the contract
    def sample(self, n: int, *, seed: int = 0, condition: Any = None) -> Any:
        raise NotSupported(f"a {self.task!r} model does not make samples" + self.alternatives("sample"))

    def conditions(self) -> list[str] | None:
        """The fixed set of conditions ``sample`` takes (class names, labels), or None."""
        return None

    def write_samples(self, result: Any, path: str | Path, *, nrow: int | None = None) -> list[Path]:
        """Write ``sample``'s result to ``path`` (a grid image for images); return the written files."""
        from ..imaging import media

        path = Path(path)
        self.check_sample_path(path)
        return [media.save_image(path, media.grid(np.asarray(result), nrow=nrow))]

    def write_each(self, result: Any, folder: str | Path, *, prefix: str = "") -> list[Path]:
        """Write every sample to its own file under ``folder``."""
        from ..imaging import media

        return [media.save_image(Path(folder) / f"{prefix}{i:05d}.png", im) for i, im in enumerate(np.asarray(result))]

    def preview(self, result: Any, path: str | Path) -> list[Path]:
        """A picture (and data files) of a sample result for the studio; images: an enlarged grid."""
        from ..imaging import media

        images = np.asarray(result)
        scale = max(1, min(4, 96 // max(images.shape[1], 1)))
        return [media.save_image(Path(path).with_suffix(".png"), media.upscale(media.grid(images), scale))]

    def apply(self, x: Any, **options: Any) -> Any:
        raise NotSupported(f"a {self.task!r} model cannot be applied to inputs" + self.alternatives("apply"))

    def apply_path(self, input: Path, output: Path, *, progress: Callable[[int, int], None] | None = None,
                   **options: Any) -> list[Path]:
        raise NotSupported(f"a {self.task!r} model cannot be applied to files" + self.alternatives("apply"))

    def walk(self, path: str | Path, *, seed: int = 0, **options: Any) -> Path:
        raise NotSupported(f"a {self.task!r} model has no latent walk" + self.alternatives("walk"))

    def export_graph(self) -> ExportGraph:
        """The module and contract that ``export`` writes (image generators, image-to-image, tables)."""
        raise NotSupported(f"this {self.task!r} model cannot be exported (yet): export covers image generators, "
                           "image-to-image and super-resolution models, and table generators")

    @verb("export", help={"output": "The file to write: .onnx (ONNX, run by onnxruntime) or .pt (TorchScript).",
                          "precision": "fp32, or fp16 (weights and arithmetic in half precision; inputs and "
                                       "outputs stay float32).",
                          "batch": "A fixed batch size (default: dynamic)."},
          output_suffix=".onnx", needs="export_graph")
    def export(self, *, output: Path, precision: str = "fp32", batch: int | None = None) -> str:
        """Export the model to ONNX or TorchScript, check it against PyTorch, and write its contract (JSON)."""
        from .export import export_model

        return str(export_model(self, output, precision=precision, batch=batch))

    # ----------------------------------------------------------------- what it can do
    @classmethod
    def can(cls, action: str) -> bool:
        """Whether the class overrides ``sample``, ``apply`` or ``walk``."""
        return getattr(cls, action) is not getattr(Model, action)

    @classmethod
    def verbs(cls) -> dict[str, Callable]:
        """The verbs (unbound methods) this predictor declares, by name."""
        out = {}
        for _, fn in inspect.getmembers(cls, predicate=inspect.isfunction):
            info = getattr(fn, "__ganforge_verb__", None)
            if info is None:
                continue
            needs = info.get("needs")
            if needs and getattr(cls, needs) is getattr(Model, needs):
                continue
            out[info["name"]] = fn
        return out

    def capabilities(self) -> dict[str, Any]:
        """What front doors may offer for this model."""
        return {"task": self.task, "sample": self.can("sample"), "apply": self.can("apply"), "walk": self.can("walk"),
                "conditions": self.conditions(), "condition_help": self.condition_help,
                "sample_suffixes": list(self.sample_suffixes), "apply_options": list(self.apply_options),
                "sample_options": list(self.sample_options),
                "verbs": sorted(self.verbs()), "step": self.meta.get("step"), "status": self.meta.get("status")}

    def alternatives(self, skip: str) -> str:
        doable = [a for a in ("sample", "apply", "walk") if a != skip and self.can(a)] + sorted(self.verbs())
        return f"; it can: {', '.join(doable)}" if doable else ""

    def check_sample_options(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(self.sample_options))
        if unknown:
            raise ConfigError(f"a {self.task!r} model does not take {unknown[0]!r}"
                              + (f" (it takes {', '.join(self.sample_options)})" if self.sample_options else ""))

    def check_sample_path(self, path: Path) -> None:
        if path.suffix.lower() not in self.sample_suffixes:
            raise ConfigError(f"{path}: a {self.task!r} model writes {', '.join(self.sample_suffixes)} files")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} task={self.task!r} step={self.meta.get('step')} path={self.path}>"
