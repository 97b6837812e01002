"""Every network class, registered once by name, rebuilt from ``{"class": name, **kwargs}``.

``@register`` records the keyword arguments a network was built with, so a model file can store each
network as a small JSON spec beside its weights and :func:`build` rebuilds it with no per-task code
(the idea of BasicSR's ``ARCH_REGISTRY`` and stylegan2-ada's ``construct_class_by_name``).
Names are the module path below ``ganforge.nets`` (or below ``ganforge``) and the class name:
``"unet.UNet"``, ``"tasks.translate.CycleGenerators"``.
"""
from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any, TypeVar

import torch
import torch.nn as nn

from ..errors import CheckpointError

_NETS: dict[str, type[nn.Module]] = {}
N = TypeVar("N", bound=type)


def name_of(cls: type) -> str:
    module = cls.__module__
    for prefix in ("ganforge.nets.", "ganforge."):
        if module.startswith(prefix):
            module = module[len(prefix):]
            break
    return f"{module}.{cls.__qualname__}"


def _plain(value: Any) -> Any:
    """JSON-ready: tuples become lists (the spec is stored as JSON)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def register(cls: N) -> N:
    """Class decorator: register a network and record the keyword arguments of each instance."""
    name = name_of(cls)
    _NETS[name] = cls
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        given = {k: v for k, v in list(bound.arguments.items())[1:]}
        var_kw = next((p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD), None)
        if var_kw in given:
            given.update(given.pop(var_kw))
        # the outermost registered class finishes its __init__ last, so its spec is the one kept
        object.__setattr__(self, "_ganforge_spec", {"class": name, **_plain(given)})

    cls.__init__ = __init__
    return cls


def spec(module: nn.Module) -> dict[str, Any]:
    """``{"class": name, **kwargs}`` of a registered network (unwrapped from DDP/compile first)."""
    module = getattr(module, "_orig_mod", module)
    module = getattr(module, "module", module) if not hasattr(module, "_ganforge_spec") else module
    if not hasattr(module, "_ganforge_spec"):
        raise TypeError(f"{type(module).__name__} is not a registered network (decorate it with @nets.register)")
    return dict(module._ganforge_spec)


def get(name: str) -> type[nn.Module]:
    if not isinstance(name, str):
        raise CheckpointError(f"network class {name!r} is not a name")
    if name not in _NETS:
        module = name.rsplit(".", 1)[0]
        for prefix in ("ganforge.nets.", "ganforge."):
            try:
                importlib.import_module(prefix + module)
                break
            except ImportError:
                continue
    if name not in _NETS:
        raise CheckpointError(f"unknown network class {name!r} (a model file from a newer ganforge?)")
    return _NETS[name]


def build(net_spec: dict[str, Any]) -> nn.Module:
    """The network a spec describes; a spec that is not ``{"class": registered name, **kwargs}`` or whose
    keyword arguments the class refuses is a :class:`CheckpointError`."""
    if not isinstance(net_spec, dict) or "class" not in net_spec:
        raise CheckpointError(f"network spec {str(net_spec)[:80]!r} is not {{\"class\": ..., **kwargs}}")
    kwargs = dict(net_spec)
    cls = get(kwargs.pop("class"))
    try:
        return cls(**kwargs)
    except Exception as e:  # the kwargs come from a file: any constructor error means a damaged spec
        text = (str(e).strip().splitlines() or [""])[0][:160]
        raise CheckpointError(f"network {net_spec['class']!r} cannot be built from its spec "
                              f"({type(e).__name__}: {text})") from None


def export(modules: dict[str, nn.Module]) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]]]:
    """Tensors (``"G.layer.weight"``) and specs of named networks, for a model file."""
    tensors: dict[str, torch.Tensor] = {}
    specs = {}
    for name, module in modules.items():
        specs[name] = spec(module)
        tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
    return tensors, specs


def load(tensors: dict[str, torch.Tensor], specs: dict[str, dict[str, Any]]) -> dict[str, nn.Module]:
    """Rebuild the named networks of a model file and load their weights."""
    if not isinstance(specs, dict) or not specs:
        raise CheckpointError("no network specs (expected {name: {\"class\": ..., **kwargs}})")
    out = {}
    for name, net_spec in specs.items():
        net = build(net_spec)
        prefix = name + "."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            net.load_state_dict(state)
        except (RuntimeError, ValueError, TypeError) as e:
            raise CheckpointError(f"network {name!r} does not match its weights ({str(e).splitlines()[0]})") from None
        out[name] = net
    return out


def names() -> list[str]:
    return sorted(_NETS)
