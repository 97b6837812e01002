"""ESRGAN / Real-ESRGAN weight files -> ganforge super-resolution models (task ``restore``).

Detected from the keys and shapes:

- RRDBNet in BasicSR's names (Real-ESRGAN x4plus, x2plus, x4plus_anime_6B: ``conv_first``, ``body.N.rdbK``,
  ``conv_body``, ``conv_upN``, ``conv_hr``, ``conv_last``), in BSRGAN/RealSR's (``RRDB_trunk``, ``trunk_conv``,
  ``upconvN``, ``HRconv``) and in the original ESRGAN's (``model.0``, ``model.1.sub.N.RDBK.convM.0``, ...):
  the blocks from the highest block index, the width from ``conv_first``, the growth channels from the
  first dense convolution, the x2 stages from the up convolutions, the pixel unshuffle (x2plus: 12 = 3 x 4
  input channels) from ``conv_first``'s input channels against ``conv_last``'s output channels.
- SRVGGNetCompact (general-x4v3, animevideov3: ``body.N`` only): the convolutions from the highest index,
  the scale from the last convolution's output channels (3 x scale^2), PReLU from its weights.

Options: ``wdn`` (a second weight file of the same architecture, Real-ESRGAN's ``-wdn`` weak-denoise model)
and ``denoise`` (0..1, default 0.5): the weights become ``denoise * file + (1 - denoise) * wdn``, Real-ESRGAN's
``--denoise_strength``. ``act_type`` forces the activation of a Compact model without PReLU weights.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError
from ..nets.esrgan import ACTIVATIONS, RRDBNet, SRVGGNetCompact
from . import importer, read_state
from ._build import load_into, package, strip_prefix

_BLOCK_NEW = re.compile(r"body\.(\d+)\.rdb([123])\.conv([1-5])\.(weight|bias)$")
_BLOCK_BSR = re.compile(r"RRDB_trunk\.(\d+)\.RDB([123])\.conv([1-5])\.(weight|bias)$")
_BLOCK_OLD = re.compile(r"model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_COMPACT = re.compile(r"body\.(\d+)\.(weight|bias)$")


def _rename_bsrgan(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in state.items():
        m = _BLOCK_BSR.match(k)
        if m:
            k = f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"
        else:
            k = re.sub(r"^trunk_conv\.", "conv_body.", k)
            k = re.sub(r"^upconv(\d)\.", r"conv_up\1.", k)
            k = re.sub(r"^HRconv\.", "conv_hr.", k)
        out[k] = v
    return out


def _rename_old(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The original ESRGAN Sequential (``model.0``: first conv, ``model.1.sub``: the blocks then the trunk conv,
    ``(upsample, conv, lrelu)`` per x2 stage, HR conv, lrelu, last conv) -> BasicSR's names."""
    blocks = [int(m[1]) for m in map(_BLOCK_OLD.match, state) if m]
    nb = max(blocks) + 1
    tops = sorted({int(k.split(".")[1]) for k in state if re.match(r"model\.\d+\.(weight|bias)$", k)})
    if not tops or tops[0] != 0 or len(tops) < 3:
        raise CheckpointError(f"{path}: an ESRGAN file (old names) without its up-sampling and output layers")
    ups, hr, last = tops[1:-2], tops[-2], tops[-1]
    names = {0: "conv_first", hr: "conv_hr", last: "conv_last", **{j: f"conv_up{i + 1}" for i, j in enumerate(ups)}}
    out = {}
    for k, v in state.items():
        m = _BLOCK_OLD.match(k)
        if m:
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = v
        elif k.startswith(f"model.1.sub.{nb}."):
            out["conv_body." + k.rsplit(".", 1)[1]] = v
        elif re.match(r"model\.\d+\.(weight|bias)$", k):
            out[f"{names[int(k.split('.')[1])]}.{k.rsplit('.', 1)[1]}"] = v
        else:
            out[k] = v  # unexpected: the strict load names it
    return out


def _rrdb(state: dict[str, Any], path: Path) -> tuple[RRDBNet, dict[str, Any], str] | None:
    if any(".conv1x1." in k for k in state):
        raise CheckpointError(f"{path}: an ESRGAN+ file (RRDB blocks with 1x1 convolutions); supported: ESRGAN and "
                              "Real-ESRGAN RRDBNet, Real-ESRGAN SRVGGNetCompact")
    if "model.0.weight" in state and any(map(_BLOCK_OLD.match, state)):
        state, names = _rename_old(state, path), "ESRGAN (old names)"
    elif "RRDB_trunk.0.RDB1.conv1.weight" in state:
        state, names = _rename_bsrgan(state), "BSRGAN/RealSR names"
    elif "conv_first.weight" in state and "body.0.rdb1.conv1.weight" in state:
        names = "BasicSR names"
    else:
        return None
    for key in ("conv_first.weight", "conv_last.weight", "body.0.rdb1.conv1.weight"):
        if key not in state:
            raise CheckpointError(f"{path}: an RRDBNet (ESRGAN) file without {key}")
    first, last = state["conv_first.weight"], state["conv_last.weight"]
    in_ch, out_ch, num_feat = first.shape[1], last.shape[0], first.shape[0]
    num_block = max(int(m[1]) for m in map(_BLOCK_NEW.match, state) if m) + 1
    num_grow = state["body.0.rdb1.conv1.weight"].shape[0]
    num_up = len([k for k in state if re.match(r"conv_up\d\.weight$", k)])
    ratio = in_ch // out_ch if out_ch and in_ch % out_ch == 0 else 0
    unshuffle = {1: 1, 4: 2, 16: 4}.get(ratio)
    if unshuffle is None or 2 ** num_up % unshuffle:
        raise CheckpointError(f"{path}: an RRDBNet with {in_ch} input and {out_ch} output channels and {num_up} "
                              f"up-sampling stages: no known scale (supported: x1, x2, x4 and x8 RGB or grey models)")
    scale = 2 ** num_up // unshuffle
    net = RRDBNet(scale=scale, num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow,
                  num_in_ch=out_ch, num_out_ch=out_ch, num_up=num_up)
    detected = (f"RRDBNet x{scale} ({names}): {num_block} blocks, {num_feat} features, {num_grow} growth channels"
                + (f", pixel-unshuffle /{unshuffle} input" if unshuffle > 1 else ""))
    return net, state, detected


def _compact(state: dict[str, Any], path: Path, act_type: str | None) -> tuple[SRVGGNetCompact, dict, str] | None:
    if "body.0.weight" not in state or not all(_COMPACT.match(k) for k in state):
        return None
    first = state["body.0.weight"]
    if not isinstance(first, torch.Tensor) or first.ndim != 4:
        return None
    last_index = max(int(_COMPACT.match(k)[1]) for k in state)
    num_conv = (last_index - 2) // 2
    in_ch, num_feat = first.shape[1], first.shape[0]
    last = state.get(f"body.{last_index}.weight")
    if last is None or last.ndim != 4 or last_index % 2 or num_conv < 0:
        raise CheckpointError(f"{path}: looks like an SRVGGNetCompact file but its last layer body.{last_index} is "
                              "not a convolution")
    upscale = math.isqrt(last.shape[0] // in_ch)
    if upscale < 1 or in_ch * upscale ** 2 != last.shape[0]:
        raise CheckpointError(f"{path}: an SRVGGNetCompact whose last convolution has {last.shape[0]} outputs, not "
                              f"{in_ch} x scale^2")
    if "body.1.weight" in state:
        act = "prelu"
    elif act_type is not None:
        act = act_type
    else:
        raise CheckpointError(f"{path}: an SRVGGNetCompact without PReLU weights: its activation (relu or leakyrelu) "
                              "cannot be told from the file; give act_type")
    if act not in ACTIVATIONS:
        raise ConfigError(f"act_type must be one of {', '.join(ACTIVATIONS)}; got {act!r}")
    net = SRVGGNetCompact(upscale=upscale, num_feat=num_feat, num_conv=num_conv, act_type=act, num_in_ch=in_ch,
                          num_out_ch=in_ch)
    return net, state, f"SRVGGNetCompact x{upscale}: {num_conv} convolutions, {num_feat} features, {act}"


def _detect(state: dict[str, Any], path: Path, act_type: str | None):
    state = strip_prefix(state)
    return _rrdb(state, path) or _compact(state, path, act_type)


@importer("esrgan", "ESRGAN / Real-ESRGAN RRDBNet x1/x2/x4/x8 (new, BSRGAN or old key names) and Real-ESRGAN "
          "SRVGGNetCompact (general-x4v3, animevideov3); --wdn FILE --denoise S for the -wdn interpolation")
def convert(state: dict[str, Any], path: Path, wdn: str | Path | None = None, denoise: float | None = None,
            act_type: str | None = None, **_: Any):
    found = _detect(state, path, act_type)
    if found is None:
        return None
    net, weights, detected = found
    if denoise is not None and wdn is None:
        raise ConfigError("denoise needs wdn: the weak-denoise weight file to interpolate with "
                          "(e.g. realesr-general-wdn-x4v3.pth)")
    if wdn is not None:
        strength = 0.5 if denoise is None else float(denoise)
        if not 0 <= strength <= 1:
            raise ConfigError(f"denoise must be in [0, 1]; got {strength}")
        other = _detect(read_state(wdn), Path(wdn), act_type)
        if other is None or type(other[0]) is not type(net) or other[0]._ganforge_spec != net._ganforge_spec:
            raise CheckpointError(f"{wdn}: not the same architecture as {path} ({detected}); the -wdn file must be "
                                  "its weak-denoise twin")
        weights = {k: strength * v.float() + (1 - strength) * other[1][k].float() for k, v in weights.items()}
        detected += f", denoise {strength:g} with {Path(wdn).name}"
    load_into(net, weights, path, detected.split(":")[0])
    return package("restore", {"kind": "superres", "scale": net.scale}, {"G": net}, detected)
