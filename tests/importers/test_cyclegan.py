"""pix2pix / CycleGAN import: the generators against a functional re-implementation of the project's published
architecture (models/networks.py: ResnetGenerator, UnetGenerator / UnetSkipConnectionBlock) that reads the
weights by their published names, on random weights; detection; errors; the front doors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import ganforge
from ganforge import importers
from ganforge.cli.app import app
from ganforge.errors import CheckpointError, ConfigError
from ganforge.nets.cyclegan import ResnetGenerator, UnetGenerator


class Weights(dict):
    """A state dict that remembers which keys the reference read (so extra keys are caught too)."""

    def __init__(self, *a):
        super().__init__(*a)
        self.read = set()

    def __getitem__(self, k):
        self.read.add(k)
        return super().__getitem__(k)

    def get(self, k, default=None):
        return self[k] if k in self else default


def _norm(w, p, x, norm):
    if norm == "batch":
        return F.batch_norm(x, w[p + ".running_mean"], w[p + ".running_var"], w[p + ".weight"], w[p + ".bias"],
                            False, 0.0, 1e-5)
    return F.instance_norm(x, eps=1e-5) if norm == "instance" else x


def ref_resnet(w, x, n_blocks, norm, dropout):
    """ResnetGenerator: model.1 7x7 conv, model.4 / model.7 stride-2 convs, model.10.. blocks (conv_block.1 and
    .5, or .6 after a dropout at .4), model.{10+n} / {13+n} transposed convs, model.{17+n} 7x7 conv, tanh."""
    def conv(p, h, **kw):
        return F.conv2d(h, w[p + ".weight"], w.get(p + ".bias"), **kw)
    h = F.relu(_norm(w, "model.2", conv("model.1", F.pad(x, (3,) * 4, mode="reflect")), norm))
    for i in (4, 7):
        h = F.relu(_norm(w, f"model.{i + 1}", conv(f"model.{i}", h, stride=2, padding=1), norm))
    for b in range(10, 10 + n_blocks):
        p = f"model.{b}.conv_block"
        second = 6 if dropout else 5
        t = F.relu(_norm(w, f"{p}.2", conv(f"{p}.1", F.pad(h, (1,) * 4, mode="reflect")), norm))
        h = h + _norm(w, f"{p}.{second + 1}", conv(f"{p}.{second}", F.pad(t, (1,) * 4, mode="reflect")), norm)
    for i in (10 + n_blocks, 13 + n_blocks):
        h = F.conv_transpose2d(h, w[f"model.{i}.weight"], w.get(f"model.{i}.bias"), stride=2, padding=1,
                               output_padding=1)
        h = F.relu(_norm(w, f"model.{i + 1}", h, norm))
    return torch.tanh(conv(f"model.{17 + n_blocks}", F.pad(h, (3,) * 4, mode="reflect")))


def ref_unet(w, x, num_downs, norm, prefix="model", level=1):
    """UnetSkipConnectionBlock, level by level: outermost [down conv 0, inner 1, relu, up conv 3, tanh];
    middle [lrelu, down conv 1, norm 2, inner 3, relu, up conv 5, norm 6]; innermost [lrelu, down conv 1,
    relu, up conv 3, norm 4]; every level but the outermost concatenates its input to its output."""
    p = prefix + ".model"

    def down(i, h):
        return F.conv2d(h, w[f"{p}.{i}.weight"], w.get(f"{p}.{i}.bias"), stride=2, padding=1)

    def up(i, h):
        return F.conv_transpose2d(h, w[f"{p}.{i}.weight"], w.get(f"{p}.{i}.bias"), stride=2, padding=1)
    if level == 1:
        inner = ref_unet(w, down(0, x), num_downs, norm, f"{p}.1", 2)
        return torch.tanh(up(3, F.relu(inner)))
    h = down(1, F.leaky_relu(x, 0.2))
    if level == num_downs:
        y = _norm(w, f"{p}.4", up(3, F.relu(h)), norm)
    else:
        inner = ref_unet(w, _norm(w, f"{p}.2", h, norm), num_downs, norm, f"{p}.3", level + 1)
        y = _norm(w, f"{p}.6", up(5, F.relu(inner)), norm)
    return torch.cat([x, y], 1)


def random_state(net: torch.nn.Module, old_instance_stats: bool = False) -> dict[str, torch.Tensor]:
    """Random weights for every parameter and statistic (shapes from a network of the layout under test)."""
    state = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue                     # files from PyTorch < 0.4 have none: the import fills it in
        if k.endswith("running_var"):
            state[k] = torch.rand_like(v) + 0.5
        elif v.ndim == 1:
            state[k] = torch.randn_like(v) * 0.2 + (1.0 if k.endswith("weight") else 0.0)
        else:
            state[k] = torch.randn_like(v) * (1.0 / v[0].numel()) ** 0.5
    if old_instance_stats:               # InstanceNorm buffers saved by PyTorch 0.4 (the project drops them)
        for k in [k for k in state if k.endswith("conv_block.1.bias")]:
            base = k.replace("conv_block.1.bias", "conv_block.2")
            state[base + ".running_mean"] = torch.zeros_like(state[k])
            state[base + ".running_var"] = torch.ones_like(state[k])
    return state


CASES = [("resnet", 6, "instance", False), ("resnet", 9, "instance", True), ("resnet", 6, "batch", False),
         ("resnet", 9, "batch", True), ("resnet", 6, "none", False), ("unet", 7, "batch", False),
         ("unet", 8, "batch", True), ("unet", 7, "instance", True), ("unet", 8, "instance", False)]


@pytest.mark.parametrize("kind,depth,norm,dropout", CASES)
def test_generators_match_the_published_architecture(tmp_path, kind, depth, norm, dropout):
    torch.manual_seed(0)
    ngf = 4 if kind == "unet" else 6
    layout = (ResnetGenerator(n_blocks=depth, ngf=ngf, norm=norm, dropout=dropout) if kind == "resnet" else
              UnetGenerator(num_downs=depth, ngf=ngf, norm=norm, dropout=dropout))
    state = random_state(layout, old_instance_stats=kind == "resnet" and norm == "instance" and dropout)
    torch.save(state, tmp_path / "latest_net_G.pth")
    model = ganforge.load(tmp_path / "latest_net_G.pth")
    size = 2 ** depth if kind == "unet" else 36
    x = torch.rand(2, 3, size, size) * 2 - 1
    w = Weights(state)
    with torch.no_grad():
        expected = (ref_resnet(w, x, depth, norm, dropout) if kind == "resnet" else ref_unet(w, x, depth, norm))
        got = model.G(x)
    diff = (got - expected).abs().max().item()
    print(f"{kind} {depth} {norm} dropout={dropout}: max abs diff {diff:.2e}")
    assert diff < 1e-5 and expected.std() > 0.05
    stats = {k for k in state if k.rsplit(".", 1)[1] in ("running_mean", "running_var")}
    assert set(state) - w.read <= (stats if norm == "instance" else set())  # every weight used by the reference
    name = f"resnet_{depth}blocks" if kind == "resnet" else f"unet_{2 ** depth}"
    detected = model.meta["imported"]["detected"]
    assert name in detected and f"ngf {ngf}, {norm} norm" in detected
    if kind == "resnet":
        assert detected.endswith(", dropout") == dropout
    assert model.options.norm == norm and model.options.width == ngf and not model.options.unpaired


def test_cyclegan_pair_and_both_directions(tmp_path):
    torch.manual_seed(0)
    a = random_state(ResnetGenerator(n_blocks=6, ngf=4))
    b = random_state(ResnetGenerator(n_blocks=6, ngf=4))
    torch.save(a, tmp_path / "latest_net_G_A.pth")
    torch.save(b, tmp_path / "latest_net_G_B.pth")
    torch.save({"model.0.weight": torch.zeros(4, 3, 4, 4), "model.0.bias": torch.zeros(4)},
               tmp_path / "latest_net_D_A.pth")
    model = ganforge.load(tmp_path / "latest_net_G_A.pth")
    assert model.options.unpaired and "BtoA latest_net_G_B.pth" in model.meta["imported"]["detected"]
    image = np.random.default_rng(0).integers(0, 255, (40, 36, 3), dtype=np.uint8)
    x = torch.from_numpy(image.transpose(2, 0, 1)).float()[None] / 127.5 - 1
    for direction, state in (("AtoB", a), ("BtoA", b)):
        out = model.apply(image, direction=direction)
        with torch.no_grad():
            ref = ref_resnet(Weights(state), x, 6, "instance", False)
        expected = np.clip(np.rint((ref[0].numpy().transpose(1, 2, 0) + 1) * 127.5), 0, 255)
        assert np.abs(out.astype(float) - expected).max() <= 1
    with pytest.raises(CheckpointError, match="discriminator") as e:
        importers.convert(tmp_path / "latest_net_D_A.pth")
    assert "\n" not in str(e.value)


def test_unknown_layouts_and_options_are_one_line(tmp_path):
    state = random_state(UnetGenerator(num_downs=7, ngf=4))
    state["model.model.1.model.2.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match="latest_net_G.pth: looks like UnetGenerator unet_128 .*do not fit"):
        importers.convert(tmp_path / "latest_net_G.pth")
    torch.save(random_state(UnetGenerator(num_downs=7, ngf=4)), tmp_path / "g.pth")
    with pytest.raises(ConfigError, match="wdn do not apply"):
        importers.convert(tmp_path / "g.pth", wdn="x.pth")
    with pytest.raises(CheckpointError, match="not a esrgan weight file"):
        importers.convert(tmp_path / "g.pth", arch="esrgan")


def test_import_then_apply_from_the_cli(tmp_path):
    torch.manual_seed(0)
    torch.save(random_state(ResnetGenerator(n_blocks=6, ngf=4, norm="batch")), tmp_path / "facades_net_G.pth")
    from PIL import Image
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    runner = CliRunner()
    r = runner.invoke(app, ["import", str(tmp_path / "facades_net_G.pth"), "-o", str(tmp_path / "t.safetensors")])
    assert r.exit_code == 0 and "translate model, cyclegan" in r.output, r.output
    r = runner.invoke(app, ["apply", str(tmp_path / "t.safetensors"), str(tmp_path / "in.png"),
                            "-o", str(tmp_path / "out.png"), "--compare"])
    assert r.exit_code == 0, r.output
    assert np.asarray(Image.open(tmp_path / "out.png")).shape == (50, 70 + 4 + 70, 3)
    direct = ganforge.load(tmp_path / "facades_net_G.pth").apply(tmp_path / "in.png")
    assert direct.size == (70, 50)
