"""Inception-v3 in the layout of the FID reference weights (TF "2015-12-05" graph, ported to PyTorch).

The module names and tensor shapes match the state dict of ``pt_inception-2015-12-05-6726825d.pth``
(the weight file used by pytorch-fid, clean-fid and torch-fidelity), so that file loads with
``strict=True``. Three details differ from an ImageNet Inception-v3 and matter for comparable scores:

- the classifier has 1008 outputs and there is no auxiliary head;
- the average pools inside Mixed_5b..5d, 6b..6e and 7b do not count padded zeros (TF behaviour);
- Mixed_7c pools its last branch with a *max* pool.

Input handling follows pytorch-fid: images in [0, 1] are resized to 299 x 299 (bilinear,
``align_corners=False``, no antialiasing) and then mapped to [-1, 1]. Features are the 2048-d output of
the final average pool ("pool3"). Logits are ``pool3 @ fc.weight.T`` without the bias, as in the original
Inception Score code (torch-fidelity calls them ``logits_unbiased``).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.errors import CheckpointError
from ganforge.metrics.features.extractor import file_sha256

log = logging.getLogger("ganforge.metrics")

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008
STANDARD_FILE = "pt_inception-2015-12-05-6726825d.pth"
STANDARD_SHA256_PREFIX = "6726825d"  # torch.hub convention: the file name carries its hash prefix


class ConvBN(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3, as TF) and ReLU.

    ``fuse_()`` folds the batch norm into the convolution for inference; the module then no longer
    has ``bn`` parameters, so call it only after the weights are loaded.
    """

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)

    @torch.no_grad()
    def fuse_(self) -> None:
        bn = self.bn
        if not isinstance(bn, nn.BatchNorm2d):
            return
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, self.conv.kernel_size,
                          stride=self.conv.stride, padding=self.conv.padding, bias=True)
        fused.weight.copy_(self.conv.weight * scale[:, None, None, None])
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv, self.bn = fused, nn.Identity()


def _pool_branch_input(x: torch.Tensor, kind: str) -> torch.Tensor:
    """3x3 stride-1 pooling in front of a block's pool branch."""
    if kind == "avg_tf":  # TF's average pool ignores the padded zeros
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    if kind == "max":
        return F.max_pool2d(x, 3, stride=1, padding=1)
    raise ValueError(kind)


class BlockA(nn.Module):
    """35 x 35 block (Mixed_5b, 5c, 5d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | pool-1x1."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBN(cin, 64, 1)
        self.branch5x5_1 = ConvBN(cin, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_pool_branch_input(x, "avg_tf"))
        return torch.cat([a, b, c, d], 1)


class ReductionB(nn.Module):
    """35 -> 17 reduction (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, 3, stride=2)
        return torch.cat([a, b, c], 1)


class BlockC(nn.Module):
    """17 x 17 block (Mixed_6b..6e) with factorised 7x7 convolutions."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = ConvBN(cin, 192, 1)
        self.branch7x7_1 = ConvBN(cin, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(cin, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            c = layer(c)
        d = self.branch_pool(_pool_branch_input(x, "avg_tf"))
        return torch.cat([a, b, c, d], 1)


class ReductionD(nn.Module):
    """17 -> 8 reduction (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = ConvBN(cin, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(cin, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b = layer(b)
        c = F.max_pool2d(x, 3, stride=2)
        return torch.cat([a, b, c], 1)


class BlockE(nn.Module):
    """8 x 8 block (Mixed_7b, 7c) with split 1x3/3x1 outputs; ``pool`` is "avg_tf" or "max"."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = ConvBN(cin, 320, 1)
        self.branch3x3_1 = ConvBN(cin, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(cin, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = self.branch_pool(_pool_branch_input(x, self.pool))
        parts = [a, self.branch3x3_2a(b), self.branch3x3_2b(b), self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c), d]
        return torch.cat(parts, 1)


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3. ``forward`` takes float images in [0, 1] (N x 3 x H x W, any size) and
    returns ``(pool3 features [N, 2048], logits [N, 1008])``; the logits omit the fc bias."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = BlockA(192, pool_features=32)
        self.Mixed_5c = BlockA(256, pool_features=64)
        self.Mixed_5d = BlockA(288, pool_features=64)
        self.Mixed_6a = ReductionB(288)
        self.Mixed_6b = BlockC(768, c7=128)
        self.Mixed_6c = BlockC(768, c7=160)
        self.Mixed_6d = BlockC(768, c7=160)
        self.Mixed_6e = BlockC(768, c7=192)
        self.Mixed_7a = ReductionD(768)
        self.Mixed_7b = BlockE(1280, pool="avg_tf")
        self.Mixed_7c = BlockE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)
        self.input_folded = False  # True once fuse_() has moved the [0, 1] -> [-1, 1] mapping into Conv2d_1a

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> pool3 features."""
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        if not self.input_folded:
            x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, f @ self.fc.weight.t().to(f.dtype)

    @torch.no_grad()
    def fuse_(self) -> "FIDInceptionV3":
        """Fold every batch norm into its convolution, and the input mapping x -> 2x - 1 into the first
        one (it has no padding, so this is exact); for inference only, same results up to rounding."""
        for m in self.modules():
            if isinstance(m, ConvBN):
                m.fuse_()
        if not self.input_folded:
            first = self.Conv2d_1a_3x3.conv
            first.bias.sub_(first.weight.sum((1, 2, 3)))
            first.weight.mul_(2)
            self.input_folded = True
        return self


# ------------------------------------------------------------------------------------------------ weights

def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth (read with ``weights_only=True``: no code is unpickled) or .safetensors file."""
    if not path.is_file():
        raise CheckpointError(f"{path}: Inception weight file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise CheckpointError(f"{path}: not a readable Inception weight file ({first})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors (the FID Inception weights, {STANDARD_FILE})")
    return state


def load_weights(model: FIDInceptionV3, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load ``state`` strictly by key name and shape, with a message that says what does not match.

    BatchNorm's ``num_batches_tracked`` counters are not used at inference; files with or without them load.
    """
    state = dict(state)
    expected = model.state_dict()
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    for key in [k for k in state if k.endswith("num_batches_tracked") and k not in expected]:
        del state[key]
    if "AuxLogits.fc.weight" in state or ("fc.weight" in state and state["fc.weight"].shape[0] == 1000):
        raise CheckpointError(
            f"{path}: these look like torchvision's ImageNet Inception-v3 weights (1000 classes); FID needs the "
            f"FID Inception weights ({STANDARD_FILE})")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} of the wrong shape (e.g. {k}: {tuple(state[k].shape)}, "
                         f"expected {tuple(expected[k].shape)})")
        raise CheckpointError(f"{path}: not the FID Inception-v3 layout: {len(expected)} tensors expected, "
                              f"{'; '.join(parts)} (expected {STANDARD_FILE})")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)


def build(path: str | Path) -> tuple[FIDInceptionV3, str, bool]:
    """The network with the weights of ``path`` loaded (eval mode, batch norms unfused), the file's
    sha256 and whether it is the standard FID file (its hash matches the published prefix)."""
    path = Path(path).expanduser()
    state = read_state_dict(path)
    model = FIDInceptionV3()
    load_weights(model, state, path)
    digest = file_sha256(path)
    standard = digest.startswith(STANDARD_SHA256_PREFIX)
    if not standard:
        log.warning("%s: Inception weights in the FID layout but not the standard file (sha256 %s..., expected "
                    "%s...): scores are not comparable with published FIDs", path, digest[:8], STANDARD_SHA256_PREFIX)
    return model.eval().requires_grad_(False), digest, standard
