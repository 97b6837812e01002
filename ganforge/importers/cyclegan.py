"""pytorch-CycleGAN-and-pix2pix generator files -> ganforge translation models (task ``translate``).

That project saves each network's state dict as ``<epoch>_net_<name>.pth`` (``latest_net_G.pth`` for pix2pix,
``latest_net_G_A.pth`` / ``latest_net_G_B.pth`` for CycleGAN; its released models are ``<name>.pth`` too).
Detected from the keys and shapes:

- ``resnet_Nblocks`` (keys ``model.K...``, a 7x7 first convolution): the blocks from ``model.K.conv_block``, the
  width from the first convolution, dropout from where the second block convolution sits (``conv_block.6``
  with dropout, ``.5`` without);
- ``unet_128`` / ``unet_256`` (nested ``model.model.1.model.3...``): the levels from the nesting depth (7 or 8;
  any depth >= 5 is accepted). Dropout changes no key in a U-Net: it is off at inference anyway.
- the norm: ``batch`` when norm layers have weights, ``instance`` (no affine parameters; running statistics of
  files from PyTorch 0.4 are dropped, as that project does) when the convolutions have biases, else ``none``.

A CycleGAN generator whose twin (``..._net_G_B.pth`` beside ``..._net_G_A.pth``, or the reverse) is in the same
folder is imported with it: ``AtoB`` runs the file given, ``BtoA`` (``--direction BtoA``) its twin.
Models run in eval mode (batch norm uses its running statistics, dropout is off), as that project's ``--eval``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError
from ..nets.cyclegan import CyclePair, ResnetGenerator, UnetGenerator
from ..nets.registry import spec
from . import importer, read_state
from ._build import load_into, package, strip_prefix

_STATS = ("running_mean", "running_var", "num_batches_tracked")
_TWIN = re.compile(r"^(.*net_G_)([AB])(\.[A-Za-z]+)$")


def _norm(state: dict[str, Any], norm_key: str, conv_key: str) -> str:
    if norm_key + ".weight" in state:
        return "batch"
    return "instance" if conv_key + ".bias" in state else "none"


def _drop_stats(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k.rsplit(".", 1)[-1] not in _STATS}


def _resnet(state: dict[str, Any]) -> tuple[ResnetGenerator, dict, str, dict] | None:
    first = state.get("model.1.weight")
    if not isinstance(first, torch.Tensor) or first.ndim != 4 or first.shape[-1] != 7:
        return None
    blocks = sorted({int(m[1]) for m in (re.match(r"model\.(\d+)\.conv_block\.", k) for k in state) if m})
    if not blocks:
        return None
    n_blocks, ngf, input_nc = len(blocks), first.shape[0], first.shape[1]
    sixth = state.get(f"model.{blocks[0]}.conv_block.6.weight")  # the 2nd conv after a dropout, else a norm
    dropout = isinstance(sixth, torch.Tensor) and sixth.ndim == 4
    norm = _norm(state, "model.2", "model.1")
    last = state.get(f"model.{10 + n_blocks + 7}.weight")
    if blocks != list(range(10, 10 + n_blocks)) or last is None:
        raise CheckpointError(f"resnet generator with blocks at model.{blocks[0]}..{blocks[-1]} and no output "
                              f"convolution at model.{17 + n_blocks}: not the layout of resnet_Nblocks")
    net = ResnetGenerator(n_blocks=n_blocks, ngf=ngf, norm=norm, dropout=dropout, input_nc=input_nc,
                          output_nc=last.shape[0])
    detected = f"ResnetGenerator resnet_{n_blocks}blocks: ngf {ngf}, {norm} norm" + (", dropout" if dropout else "")
    options = {"width": ngf, "norm": norm, "dropout": 0.5 if dropout else 0.0, "crop": 256}
    return net, state, detected, options


def _unet(state: dict[str, Any]) -> tuple[UnetGenerator, dict, str, dict] | None:
    first = state.get("model.model.0.weight")
    if not isinstance(first, torch.Tensor) or first.ndim != 4:
        return None
    num_downs = max(k.split(".").count("model") for k in state) - 1
    up = state.get("model.model.3.weight")
    if num_downs < 5 or up is None:
        raise CheckpointError(f"U-Net generator with {num_downs} levels: supported are unet_128 (7), unet_256 (8) "
                              "and any depth from 5")
    ngf, input_nc = first.shape[0], first.shape[1]
    norm = _norm(state, "model.model.1.model.2", "model.model.1.model.1")
    net = UnetGenerator(num_downs=num_downs, ngf=ngf, norm=norm, input_nc=input_nc, output_nc=up.shape[1])
    name = {7: "unet_128", 8: "unet_256"}.get(num_downs, f"U-Net of {num_downs} levels")
    options = {"width": ngf, "norm": norm, "depth": num_downs, "crop": 2 ** num_downs}
    return net, state, f"UnetGenerator {name}: ngf {ngf}, {norm} norm", options


def _detect(state: dict[str, Any], path: Path):
    state = strip_prefix(state)
    found = _resnet(state) or _unet(state)
    if found is None:
        if "net_D" in path.name and isinstance(state.get("model.0.weight"), torch.Tensor) \
                and "model.1.weight" not in state:
            raise CheckpointError(f"{path}: a pix2pix/CycleGAN discriminator (net_D); import the generator "
                                  "(latest_net_G.pth, or *_net_G_A.pth / *_net_G_B.pth)")
        return None
    net, weights, detected, options = found
    if options["norm"] == "instance":
        weights = _drop_stats(weights)
    load_into(net, weights, path, detected.split(":")[0])
    return net, detected, options


@importer("cyclegan", "pytorch-CycleGAN-and-pix2pix generators: resnet_6blocks/resnet_9blocks, unet_128/unet_256, "
          "batch/instance/no norm, with or without dropout (latest_net_G.pth, *_net_G_A.pth + its G_B twin)")
def convert(state: dict[str, Any], path: Path, **options: Any):
    found = _detect(state, path)
    if found is None:
        return None
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise ConfigError(f"{path}: {', '.join(given)} do not apply to a pix2pix/CycleGAN generator")
    net, detected, opts = found
    twin_path = None
    m = _TWIN.match(path.name)
    if m:
        candidate = path.with_name(m[1] + ("B" if m[2] == "A" else "A") + m[3])
        twin_path = candidate if candidate.is_file() else None
    if twin_path is None:
        return package("translate", {**opts, "unpaired": False}, {"G": net}, detected)
    twin = _detect(read_state(twin_path), twin_path)
    if twin is None:
        raise CheckpointError(f"{twin_path}: beside {path.name} but not a pix2pix/CycleGAN generator")
    pair = CyclePair(ab=spec(net), ba=spec(twin[0]))
    pair.ab.load_state_dict(net.state_dict())
    pair.ba.load_state_dict(twin[0].state_dict())
    detected = f"CycleGAN pair: AtoB {path.name} ({detected}); BtoA {twin_path.name} ({twin[1]})"
    return package("translate", {**opts, "unpaired": True}, {"G": pair.eval()}, detected)
