"""Models out: ONNX (``.onnx``, run by onnxruntime) or TorchScript (``.pt``), checked against PyTorch.

``export_model(model, "g.onnx")`` takes what the predictor declares (:meth:`Model.export_graph`: a module
on plain tensors and its contract), writes one self-contained file, runs the written file on fresh random
inputs beside eager PyTorch (onnxruntime for ONNX, the reloaded TorchScript for ``.pt``) and writes
``<file>.json``: the inputs and outputs (names, shapes with their dynamic dimensions, dtypes, value
ranges), the decoding of table rows, the source model, the ganforge version and the parity figure (the
largest absolute difference between the exported file and eager PyTorch).

ONNX uses torch's dynamo exporter (it needs ``onnxscript``) with all weights inside the file
(``external_data=False``): ``pip install 'ganforge[export]'``.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..version import __version__

if TYPE_CHECKING:  # annotations only: base.py calls this module from its export verb
    from .base import ExportGraph, Model

log = logging.getLogger("ganforge.predict.export")

FORMATS = {".onnx": "onnx", ".pt": "torchscript"}
PRECISIONS = ("fp32", "fp16")
#: the parity a written file should reach; above it the export warns (the tests require it in fp32)
TOLERANCE = {"fp32": 1e-3, "fp16": 5e-2}
PARITY_SEED = 12345


@dataclasses.dataclass
class ExportReport:
    """What an export wrote and how close the file is to eager PyTorch."""

    path: Path
    contract_path: Path
    max_abs_diff: float
    contract: dict[str, Any]

    def __str__(self) -> str:
        p = self.contract["parity"]
        return (f"wrote {self.path} ({self.contract['format']}, {self.contract['precision']}) and {self.contract_path.name}; "
                f"parity with PyTorch on {p['checked']}: max abs difference {self.max_abs_diff:.2e}")


class _Cast(nn.Module):
    """Runs ``inner`` in half precision; inputs and outputs stay float32 (integer inputs pass unchanged)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner.half()

    def forward(self, *xs: torch.Tensor):
        out = self.inner(*[x.half() if x.is_floating_point() else x for x in xs])
        return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()


class _One(nn.Module):
    """Fixed arity for the exporters (graph modules take ``*inputs``; torch.export wants named parameters)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, a: torch.Tensor):
        return self.inner(a)


class _Two(_One):
    def forward(self, a: torch.Tensor, b: torch.Tensor):
        return self.inner(a, b)


class _Three(_One):
    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor):
        return self.inner(a, b, c)


ARITY = {1: _One, 2: _Two, 3: _Three}


def export_model(model: Model, output: str | Path, *, precision: str = "fp32", batch: int | None = None,
                 opset: int | None = None) -> ExportReport:
    """Write ``model`` to ``output`` (.onnx or .pt) with its JSON contract beside it; return the report.

    ``precision``: fp32, or fp16 (half-precision weights and arithmetic; the file's inputs and outputs stay
    float32). ``batch``: a fixed batch size (default: dynamic). ``opset``: the ONNX opset (default: the
    exporter's). Raises NotSupported (one line) for models that cannot be exported.
    """
    output = Path(output)
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{output}: export writes .onnx (ONNX) or .pt (TorchScript) files")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if batch is not None and batch < 1:
        raise ConfigError(f"batch must be a positive number; got {batch}")
    if opset is not None and fmt != "onnx":
        raise ConfigError("opset applies to ONNX files only")
    if fmt == "onnx":
        _need_onnx()
    graph = model.export_graph()
    module = copy.deepcopy(graph.module).cpu().eval().requires_grad_(False)
    if precision == "fp16":
        module = _Cast(module).eval()
    if len(graph.inputs) not in ARITY:
        raise ConfigError(f"export: {len(graph.inputs)} inputs; at most {max(ARITY)} are supported")
    module = ARITY[len(graph.inputs)](module).eval()
    dynamic = {name: {a: d for a, d in axes.items() if not (batch is not None and d == "batch")}
               for name, axes in graph.dynamic.items()}
    example = graph.make_inputs(batch or _batch_of(graph), 0, {}) if batch is not None else graph.inputs
    example = {k: v.cpu() for k, v in example.items()}
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        if fmt == "onnx":
            _write_onnx(module, example, graph.output_names, dynamic, tmp, opset)
        else:
            _write_torchscript(module, example, tmp)
        parity, checked = _parity(fmt, tmp, module, graph, dynamic, batch)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    contract = _contract(model, graph, fmt, output, precision, batch, dynamic, opset, parity, checked)
    contract_path = output.with_name(output.name + ".json")
    from ..fileio import write_json
    write_json(contract_path, contract)
    report = ExportReport(output, contract_path, parity, contract)
    if parity > TOLERANCE[precision]:
        log.warning("export: %s differs from PyTorch by up to %.2e (more than %.0e)", output, parity,
                    TOLERANCE[precision])
    log.info("%s", report)
    return report


# ----------------------------------------------------------------------------------------------- writing
def _need_onnx() -> None:
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(f"ONNX export needs {', '.join(missing)}: pip install 'ganforge[export]' "
                          "(or write TorchScript: -o model.pt)")


@contextlib.contextmanager
def _quiet():
    """The dynamo exporter prints its progress and warns about torchvision ops; keep ganforge's output clean."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _write_onnx(module: nn.Module, example: dict[str, torch.Tensor], output_names: list[str],
                dynamic: dict[str, dict[int, str]], path: Path, opset: int | None) -> None:
    names = list(example)
    shapes = tuple(dynamic.get(n) or None for n in names)
    kwargs: dict[str, Any] = {"input_names": names, "output_names": output_names, "external_data": False,
                              "dynamo": True, "verbose": False}
    if any(s for s in shapes):
        kwargs["dynamic_shapes"] = shapes
    if opset is not None:
        kwargs["opset_version"] = opset
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(module, tuple(example.values()), str(path), **kwargs)
    except Exception as e:  # the exporter's errors are pages long: say what failed, keep the cause for --debug
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        summary = [i for i, line in enumerate(lines) if line.startswith("## Exception summary")]
        first = lines[summary[0] + 1] if summary and summary[0] + 1 < len(lines) else (lines or [type(e).__name__])[0]
        raise ConfigError(f"ONNX export failed: {first[:300]}") from e


def _write_torchscript(module: nn.Module, example: dict[str, torch.Tensor], path: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings about shape arithmetic, jit's deprecation notice
        traced = torch.jit.trace(module, tuple(example.values()), check_trace=False)
        torch.jit.save(traced, str(path))


# ----------------------------------------------------------------------------------------------- parity
def _batch_of(graph: ExportGraph) -> int:
    return int(next(iter(graph.inputs.values())).shape[0])


def _parity(fmt: str, path: Path, module: nn.Module, graph: ExportGraph, dynamic: dict[str, dict[int, str]],
            batch: int | None) -> tuple[float, str]:
    """Largest |file - eager| on fresh inputs: another batch size and other sizes where those are dynamic."""
    n = batch if batch is not None else _batch_of(graph) + 1
    dims: dict[str, int] = {}
    for name, axes in dynamic.items():
        for axis, dim in axes.items():
            if dim != "batch":
                if dim not in dims:  # height grows by one multiple, width by two: not square, not the example
                    dims[dim] = int(graph.inputs[name].shape[axis]) + graph.multiple * (1 + len(dims))
    inputs = {k: v.cpu() for k, v in graph.make_inputs(n, PARITY_SEED, dims).items()}
    with torch.no_grad():
        expected = module(*inputs.values())
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    if fmt == "onnx":
        got = _run_onnx(path, inputs)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's notice: TorchScript still loads
            loaded = torch.jit.load(str(path))
        with torch.no_grad():
            out = loaded(*inputs.values())
        got = [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]
    diff = max(float(abs(torch.as_tensor(g) - e.float()).max()) if e.numel() else 0.0 for g, e in zip(got, expected))
    shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in inputs.items())
    return diff, f"fresh random inputs ({shapes})"


def ort_session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session for ``path`` (``threads``: intra-op threads; default: onnxruntime's)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _run_onnx(path: Path, inputs: dict[str, torch.Tensor]) -> list:
    session = ort_session(path)
    names = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v.numpy() for k, v in inputs.items() if k in names})


# ----------------------------------------------------------------------------------------------- contract
def _shape(info: dict[str, Any], dynamic_axes: dict[int, str], batch: int | None) -> list:
    shape = list(info["shape"])
    if batch is not None:
        shape = [batch if d == "batch" else d for d in shape]
    return shape


def _contract(model: Model, graph: ExportGraph, fmt: str, output: Path, precision: str, batch: int | None,
              dynamic: dict[str, dict[int, str]], opset: int | None, parity: float, checked: str) -> dict[str, Any]:
    def tensors(infos: dict[str, dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
        out = []
        for name in names:
            info = dict(infos[name])
            info["shape"] = _shape(info, dynamic.get(name, {}), batch)
            out.append({"name": name, **info})
        return out

    meta = model.meta
    contract: dict[str, Any] = {
        "format": fmt, "file": output.name, "precision": precision,
        "description": graph.description,
        "inputs": tensors(graph.input_info, list(graph.inputs)),
        "outputs": tensors(graph.output_info, graph.output_names),
        "dynamic": sorted({d for axes in dynamic.values() for d in axes.values()}),
    }
    if graph.multiple > 1 and any(d in ("height", "width") for d in contract["dynamic"]):
        contract["multiple"] = graph.multiple
    if graph.decoding is not None:
        contract["decoding"] = graph.decoding
    if fmt == "onnx":
        import onnx
        contract["opset"] = opset or max((o.version for o in onnx.load(str(output), load_external_data=False)
                                          .opset_import if o.domain in ("", "ai.onnx")), default=None)
    contract["parity"] = {"max_abs_diff": parity, "tolerance": TOLERANCE[precision], "checked": checked,
                          "against": "eager PyTorch", "runtime": _runtime(fmt)}
    contract["ganforge_version"] = __version__
    contract["source"] = {"path": str(model.path) if model.path else None, "task": meta.get("task"),
                          "step": meta.get("step"), "ganforge_version": meta.get("ganforge_version")}
    return contract


def _runtime(fmt: str) -> str:
    if fmt == "onnx":
        import onnxruntime
        return f"onnxruntime {onnxruntime.__version__}"
    return f"torch.jit (torch {torch.__version__})"
