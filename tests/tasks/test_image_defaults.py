"""The image task's budget-aware defaults (tasks/image_defaults.py): the documented choice for a few inputs (the
table in README's "Budget-aware defaults"), given options kept, and the one info line through the API."""
from __future__ import annotations

import logging

import pytest

import ganforge
from ganforge.tasks.generate import ImageOptions
from ganforge.tasks.image_defaults import Facts, choose


def chosen(facts: Facts, **given) -> dict:
    opt = ImageOptions(size=facts.size, **given)
    choose(opt, facts)
    out = {k: getattr(opt, k) for k in ("arch", "loss", "width", "augment", "r1_gamma")}
    if opt.arch == "r3":
        out["blocks"] = opt.blocks
    if opt.augment == "ada":
        out["ada_kimg"] = opt.ada_kimg
    return out


@pytest.mark.parametrize("facts, expected", [
    # CPU, 32 px: today's measured default (DCGAN, ns, R1 0.1), DiffAugment below 10k images, none above
    (Facts(60_000, 32, "cpu", minutes=10), dict(arch="dcgan", loss="ns", width=64, augment="off", r1_gamma=0.1)),
    (Facts(5_000, 32, "cpu"), dict(arch="dcgan", loss="ns", width=64, augment="diff", r1_gamma=0.1)),
    # CPU, 64 px and larger on 10k+ images: SNGAN-ResNet
    (Facts(50_000, 64, "cpu"), dict(arch="resnet", loss="ns", width=64, augment="off", r1_gamma=0.1)),
    # few-shot at 64 px and larger: light (FastGAN class) with its hinge loss on CUDA; on CPU the measured DCGAN
    (Facts(400, 64, "cpu", minutes=20), dict(arch="dcgan", loss="ns", width=64, augment="diff", r1_gamma=0.1)),
    (Facts(1_500, 128, "cuda"), dict(arch="light", loss="hinge", width=64, augment="ada", r1_gamma=0.1,
                                     ada_kimg=500.0)),
    # CUDA: r3 + rpgan, gamma from size and batch, two blocks per resolution, ADA
    (Facts(70_000, 256, "cuda", minutes=60, batch=64), dict(arch="r3", loss="rpgan", width=64, augment="ada",
                                                            r1_gamma=100.0, blocks=2, ada_kimg=500.0)),
    (Facts(50_000, 32, "cuda", steps=1000, batch=64), dict(arch="r3", loss="rpgan", width=128, augment="ada",
                                                           r1_gamma=0.072, blocks=2, ada_kimg=12.8)),
])
def test_the_documented_choices(facts, expected):
    assert chosen(facts) == expected


def test_given_options_are_kept_and_the_later_choices_follow_them():
    got = chosen(Facts(60_000, 64, "cpu"), arch="r3")
    assert got == dict(arch="r3", loss="rpgan", width=16, augment="off", r1_gamma=0.81, blocks=1)
    got = chosen(Facts(60_000, 32, "cpu"), loss="rpgan", width=48, augment=True)
    assert got == dict(arch="dcgan", loss="rpgan", width=48, augment="diff", r1_gamma=0.072)
    assert chosen(Facts(60_000, 32, "cpu"), loss="wgan-gp")["r1_gamma"] == 0.0
    assert chosen(Facts(60_000, 32, "cpu"), r1_gamma=0.0)["r1_gamma"] == 0.0


def test_the_api_passes_device_and_budget_and_logs_one_line(caplog):
    with caplog.at_level(logging.INFO, logger="ganforge"):
        out = ganforge.train("image", data="builtin:shapes?n=64", size=64, minutes=5, device="cpu", batch=16,
                             dry_run=True)
    assert {k: out["options"][k] for k in ("arch", "loss", "width", "augment", "r1_gamma")} == \
        dict(arch="dcgan", loss="ns", width=64, augment="diff", r1_gamma=0.1)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("image defaults")]
    assert len(lines) == 1 and "64 images at 64 px on cpu, 5 min" in lines[0] and "arch=dcgan (" in lines[0]


def test_a_config_of_an_earlier_version_resolves_to_what_it_trained():
    """config.json written before these options: augment a bool, loss and width set; nothing changes on resume."""
    from ganforge import api

    saved = {"task": "image", "run": {"steps": 10},
             "options": {"data": "builtin:shapes?n=64", "size": 16, "arch": "dcgan", "width": 64, "loss": "ns",
                         "r1_gamma": 0.1, "augment": True, "n_critic": 1, "channels": 3}}
    _, options = api.resolve("image", {}, config=saved)
    assert (options.augment, options.loss, options.width, options.arch) == ("diff", "ns", 64, "dcgan")
    out = ganforge.train("image", config=saved, dry_run=True)
    assert out["options"]["augment"] == "diff" and out["options"]["r1_gamma"] == 0.1
