"""The image task's budget-aware defaults: architecture, loss, width, augmentation and penalty weight chosen
from the number of images, the image side, the device and the run's budget, each with its reason.

Every option left at ``auto``/None is filled here, in order (later choices depend on earlier ones: the loss on
the architecture, gamma on the loss); options the user gave are kept and listed as given. The rule is a table
(README, "Budget-aware defaults"); entries marked *measured* are backed by a benchmark on this project's
machines, the others by the papers the methods come from and are provisional until a benchmark decides.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import losses

FEW_SHOT = 2_000      # at most this many images at 64 px and larger: the light (FastGAN-class) networks
TINY_DATA = 1_000     # below this many images: DiffAugment (p = 1 from the first step; ADA would adapt too late)
SMALL_DATA = 10_000   # below this many images on CPU: DiffAugment (today's measured default)
#: rough training speed (images/s) to turn a minutes budget into the images a run will see (ADA's speed)
RATE = {"cpu": 50.0, "cuda": 2000.0}

#: default width per architecture and device: (<= 32 px, 64 px, >= 128 px)
WIDTHS = {
    ("dcgan", "cpu"): (64, 64, 64), ("resnet", "cpu"): (64, 64, 64), ("style", "cpu"): (64, 64, 64),
    ("r3", "cpu"): (32, 16, 16), ("light", "cpu"): (32, 32, 16),
    ("dcgan", "cuda"): (128, 128, 64), ("resnet", "cuda"): (128, 128, 64), ("style", "cuda"): (128, 128, 64),
    ("r3", "cuda"): (128, 128, 64), ("light", "cuda"): (64, 64, 64),
}
R3_BLOCKS = {"cpu": 1, "cuda": 2}   # residual blocks per resolution of the r3 networks
LOSS_OF_ARCH = {"r3": "rpgan", "light": "hinge"}   # the loss each architecture was designed with


@dataclass
class Facts:
    """What the rule looks at: images, side, device ("cpu"/"cuda"), budget (minutes and/or steps), total batch."""

    n_images: int
    size: int
    device: str = "cpu"
    minutes: float | None = None
    steps: int | None = None
    batch: int = 64


@dataclass
class Choices:
    """The filled options with one reason each (``given`` for the user's own values)."""

    values: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def line(self, facts: Facts) -> str:
        budget = (f"{facts.minutes:g} min" if facts.minutes else "") + \
            (" / " if facts.minutes and facts.steps else "") + (f"{facts.steps} steps" if facts.steps else "")
        head = f"image defaults for {facts.n_images:,} images at {facts.size} px on {facts.device}" + \
            (f", {budget}" if budget else "")
        parts = [f"{k}={_fmt(v)} ({self.reasons[k]})" for k, v in self.values.items()]
        return head + ": " + "; ".join(parts)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _size_class(size: int) -> int:
    return 0 if size <= 32 else (1 if size == 64 else 2)


def expected_kimg(facts: Facts) -> float | None:
    """Thousands of images the run will see: steps x batch, else minutes x a rough device rate, else None."""
    if facts.steps:
        return facts.steps * facts.batch / 1000
    if facts.minutes:
        return facts.minutes * 60 * RATE.get(facts.device, RATE["cpu"]) / 1000
    return None


def choose(options: Any, facts: Facts) -> Choices:
    """Fill the automatic fields of image ``options`` (in place) and say why. Fields: arch, loss, width, blocks
    (r3), augment, r1_gamma, ada_kimg (ada)."""
    c = Choices()
    n, size, dev = facts.n_images, facts.size, facts.device

    def put(name: str, value: Any, reason: str) -> None:
        setattr(options, name, value)
        c.values[name], c.reasons[name] = value, reason

    def given(name: str) -> None:
        c.values[name], c.reasons[name] = getattr(options, name), "given"

    if options.arch == "auto":
        if n <= FEW_SHOT and size >= 64 and dev == "cuda":
            # not on CPU: at 5 CPU-minutes on the ORL faces (64 px) light + DiffAugment scored KID 4.99 against
            # DCGAN + DiffAugment's 2.33 (benchmarks/fewshot.py); the CPU keeps the measured DCGAN
            put("arch", "light", f"<= {FEW_SHOT:,} images at 64 px or more on CUDA: FastGAN's few-shot regime")
        elif dev == "cuda":
            put("arch", "r3", "CUDA: R3GAN's modern residual networks")
        elif size >= 64 and n >= SMALL_DATA:
            put("arch", "resnet", f"CPU, 64 px or more, >= {SMALL_DATA:,} images")
        else:
            put("arch", "dcgan", "CPU: the most images per CPU-minute; measured best of the old defaults")
    else:
        given("arch")
    arch = options.arch

    if options.loss == "auto":
        loss = LOSS_OF_ARCH.get(arch, "ns")
        put("loss", loss, f"what {arch} was designed with" if arch in LOSS_OF_ARCH else "measured default")
    else:
        given("loss")

    if options.width is None:
        row = WIDTHS.get((arch, dev)) or WIDTHS.get((arch, "cpu")) or (64, 64, 64)
        put("width", row[_size_class(size)], f"{arch} on {dev} at {size} px")
    else:
        given("width")

    if arch == "r3":
        if options.blocks is None:
            put("blocks", R3_BLOCKS.get(dev, 1), f"{dev}: {'speed' if dev == 'cpu' else 'R3GAN presets'}")
        else:
            given("blocks")

    if options.augment == "auto":
        if n < TINY_DATA:
            put("augment", "diff", f"< {TINY_DATA:,} images: DiffAugment from the first step")
        elif dev == "cuda":
            put("augment", "ada", "CUDA: long runs overfit; ADA's p follows it")
        elif n < SMALL_DATA:
            put("augment", "diff", f"CPU, < {SMALL_DATA:,} images: measured default")
        else:
            put("augment", "off", f"CPU, >= {SMALL_DATA:,} images: short runs do not overfit")
    else:
        given("augment")

    if options.r1_gamma is None:
        if options.loss in losses.PAIRED_LOSSES:
            put("r1_gamma", losses.rpgan_gamma(size, facts.batch),
                f"R1+R2 weight from size {size} and batch {facts.batch} (fit to R3GAN's presets)")
        elif options.loss == "wgan-gp":
            put("r1_gamma", 0.0, "wgan-gp has its own gradient penalty")
        else:
            put("r1_gamma", 0.1, "measured default")
    else:
        given("r1_gamma")

    if options.augment == "ada":
        if options.ada_kimg is None:
            kimg = expected_kimg(facts)
            if kimg is None or kimg / 5 >= 500:
                put("ada_kimg", 500.0, "StyleGAN2-ADA's speed")
            else:
                put("ada_kimg", round(max(1.0, kimg / 5), 1), f"a fifth of the ~{kimg:,.3g} kimg this run will see")
        else:
            given("ada_kimg")
    return c
