"""NVIDIA stylegan2-ada-pytorch generators: ``network-snapshot-*.pkl`` (its ``G_ema``, read by the restricted
unpickler, :mod:`._pickle`) or a state dict with that key layout (``mapping.fc0.weight``, ``synthesis.b4.const``
...) in a .pt/.pth/.safetensors file. The tensors load as they are into
:class:`ganforge.nets.stylegan2.StyleGAN2Generator`; the hyper-parameters come from the pickle's constructor
arguments, or for a bare state dict from the shapes.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from . import importer

ABOUT = "stylegan2-ada-pytorch network-snapshot .pkl (G_ema), or its G state dict"


def _generator_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """(tensors, constructor kwargs) of the generator in a snapshot or a state dict; None if there is none."""
    from ._pickle import PersistentObject

    for key in ("G_ema", "G"):
        obj = state.get(key)
        if isinstance(obj, PersistentObject):
            return obj.state_dict(), dict(obj.init_kwargs, _class=obj.class_name)
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    for prefix in ("G_ema.", "g_ema.", "G."):  # a flat dict of several networks
        sub = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if "mapping.fc0.weight" in sub:
            return sub, {}
    if "mapping.fc0.weight" in tensors and "synthesis.b4.const" in tensors:
        return tensors, {}
    return None


def _kwargs_from_shapes(t: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The generator's hyper-parameters read from a stylegan2-ada state dict."""
    layers = sum(1 for k in t if re.fullmatch(r"mapping\.fc\d+\.weight", k))
    w_dim = t[f"mapping.fc{layers - 1}.weight"].shape[0]
    c_dim = t["mapping.embed.weight"].shape[1] if "mapping.embed.weight" in t else 0
    z_dim = t["mapping.fc0.weight"].shape[1] - (w_dim if c_dim else 0)
    res = sorted(int(m.group(1)) for k in t if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k)))
    channels = {r: t[f"synthesis.b{r}.conv1.weight"].shape[0] for r in res}
    return {"z_dim": z_dim, "c_dim": c_dim, "w_dim": w_dim, "img_resolution": res[-1],
            "img_channels": t[f"synthesis.b{res[-1]}.torgb.weight"].shape[0], "mapping_kwargs": {"num_layers": layers},
            "synthesis_kwargs": {}, "_channels": channels}


def _channel_rule(channels: dict[int, int]) -> tuple[int, int]:
    """(channel_base, channel_max) that give ``channels`` per resolution by ``min(base // res, max)``."""
    cmax = max(channels.values())
    for base in sorted({c * r for r, c in channels.items()} | {32768, 16384}):
        if all(min(base // r, cmax) == c for r, c in channels.items()):
            return base, cmax
    raise CheckpointError(f"channel counts {channels} do not follow min(channel_base // resolution, channel_max)")


@importer("stylegan2", ABOUT)
def convert(state: dict[str, Any], path: Path, **options: Any):
    found = _generator_state(state)
    if found is None:
        return None
    tensors, kw = found
    required = ("z_dim", "w_dim", "img_resolution", "img_channels")
    if not all(k in kw for k in required):
        if "mapping.fc0.weight" not in tensors or "synthesis.b4.const" not in tensors:
            raise CheckpointError(f"{path}: a pickled {kw.get('_class', 'network')} without the StyleGAN2 generator's "
                                  f"arguments or weights (found {', '.join(sorted(tensors)[:4]) or 'no tensors'})")
        try:
            kw = dict(_kwargs_from_shapes(tensors), _class=kw.get("_class", "Generator"))
        except (KeyError, IndexError) as e:
            raise CheckpointError(f"{path}: StyleGAN2 key names but not its whole generator (no {e})") from None
    syn = dict(kw.get("synthesis_kwargs") or {})
    mapping = dict(kw.get("mapping_kwargs") or {})
    arch = syn.get("architecture", "skip")
    if arch != "skip":
        raise CheckpointError(f"{path}: a StyleGAN2 generator of architecture {arch!r}; ganforge reads the "
                              "'skip' generator (the one stylegan2-ada-pytorch trains)")
    if mapping.get("embed_features") not in (None, kw.get("w_dim")) or mapping.get("layer_features") not in (
            None, kw.get("w_dim")):
        raise CheckpointError(f"{path}: a mapping network with embed/layer features other than w_dim is not supported")
    size, img_channels = int(kw["img_resolution"]), int(kw["img_channels"])
    if "_channels" in kw:
        base, cmax = _channel_rule(kw["_channels"])
    else:
        base, cmax = int(syn.get("channel_base", 32768)), int(syn.get("channel_max", 512))
    c_dim = int(kw.get("c_dim") or 0)
    g_kwargs = dict(z_dim=int(kw["z_dim"]), size=size, channels=img_channels, num_classes=c_dim,
                    w_dim=int(kw["w_dim"]), channel_base=base, channel_max=cmax,
                    mapping_layers=int(mapping.get("num_layers", 8)),
                    lr_multiplier=float(mapping.get("lr_multiplier", 0.01)),
                    w_avg_beta=float(mapping.get("w_avg_beta", 0.995)),
                    conv_clamp=syn.get("conv_clamp"))
    if g_kwargs["conv_clamp"] is not None:
        g_kwargs["conv_clamp"] = float(g_kwargs["conv_clamp"])

    from .. import nets
    from ..nets.stylegan2 import StyleGAN2Generator

    G = StyleGAN2Generator(**g_kwargs)
    mine = G.state_dict()
    missing = sorted(set(mine) - set(tensors))
    extra = sorted(set(tensors) - set(mine))
    if missing or extra:
        raise CheckpointError(f"{path}: not the stylegan2-ada generator layout (missing {missing[:4]}, "
                              f"unexpected {extra[:4]})")
    bad = [k for k in mine if tuple(mine[k].shape) != tuple(tensors[k].shape)]
    if bad:
        k = bad[0]
        raise CheckpointError(f"{path}: {k} has shape {tuple(tensors[k].shape)}, expected {tuple(mine[k].shape)} "
                              f"({len(bad)} such tensors)")
    G.load_state_dict({k: v.float() for k, v in tensors.items()})
    out, specs = nets.export({"G": G})
    width = max(1, base // size)
    from .. import artifact

    meta = {"format": artifact.FORMAT, "task": "image", "nets": specs,
            "options": {"size": size, "channels": img_channels, "arch": "style", "z_dim": int(kw["z_dim"]),
                        "width": width, "conditional": bool(c_dim)},
            "imported": {"class": kw.get("_class", "Generator"), "w_dim": int(kw["w_dim"]), "num_ws": G.num_ws}}
    if c_dim:
        meta["classes"] = [str(i) for i in range(c_dim)]
    return out, meta
