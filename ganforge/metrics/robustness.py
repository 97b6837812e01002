"""Adversarial robustness: L-inf attacks (FGSM, PGD) on an image classifier, and their evaluation with and
without a purifier in front of it.

``eps`` is always on the [0, 1] pixel scale (as in the literature: MNIST eps 0.1 / 0.3); ganforge images
live in [-1, 1], so the perturbation there is at most ``2 * eps``. Attacked images stay valid images.

Threat models in :func:`evaluate`:

- *gray-box* (default): the attacker knows the classifier but not the purifier; adversarial images are
  computed against the bare classifier and then passed through the purifier.
- *white-box* (``white_box=True``): the attacker differentiates through purifier + classifier (the
  purifier is an ordinary differentiable network, so no BPDA approximation is needed) with PGD.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CheckpointError, ConfigError, DataError

log = logging.getLogger("ganforge.metrics.robustness")

ATTACKS = ("fgsm", "pgd")


class Classifier(nn.Module):
    """Float [-1, 1] NCHW images (resized to ``input_size`` when needed) -> class logits."""

    def __init__(self, net: nn.Module, input_size: int, channels: int, classes: list[str], source: str = "",
                 sha256: str = ""):
        super().__init__()
        self.net = net.eval()
        for p in net.parameters():  # frozen (ScriptModules have no requires_grad_)
            p.requires_grad_(False)
        self.input_size, self.channels, self.classes = int(input_size), int(channels), list(classes)
        self.source, self.sha256 = source, sha256

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        net = self.net
        return (net.classify(x) if hasattr(net, "classify") else net(x)).float()


def load_classifier(path: str | os.PathLike, size: int | None = None, channels: int | None = None,
                    classes: int | None = None) -> Classifier:
    """A classifier from a ganforge domain feature file trained on labelled data ('ganforge features train'),
    or from a TorchScript file (.pt/.ts) that maps [-1, 1] NCHW images to logits (then give ``size`` and
    ``channels``; ``classes`` defaults to the width of its output)."""
    from .. import artifact
    from .features import domain
    from .features.extractor import file_sha256

    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such classifier file")
    if path.suffix == ".safetensors":
        meta = artifact.read_meta(path)
        if meta.get("kind") != domain.KIND:
            raise CheckpointError(f"{path}: a ganforge {meta.get('task')!r} model, not a classifier (train one with "
                                  "'ganforge features train --data LABELLED')")
        net, meta, sha = domain.read(path)
        if meta.get("mode") != "classifier":
            raise CheckpointError(f"{path}: this feature network was trained without labels (rotation pretext) and "
                                  "has no class logits; train it on labelled data")
        return Classifier(net, meta["input_size"], meta["channels"], meta["classes"], str(path), sha)
    if path.suffix in (".pt", ".ts", ".torchscript"):
        if size is None or channels is None:
            raise ConfigError(f"{path}: a TorchScript classifier needs its input size and channels (--size, --channels)")
        try:
            net = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:  # not TorchScript, corrupt, ...
            raise CheckpointError(f"{path}: not a loadable TorchScript module ({str(e).splitlines()[0][:120]})") from None
        with torch.no_grad():
            out = net(torch.zeros(1, channels, size, size))
        if not isinstance(out, torch.Tensor) or out.dim() != 2:
            raise CheckpointError(f"{path}: expected logits [N, classes] from the TorchScript module")
        k = classes or out.shape[1]
        return Classifier(net, size, channels, [str(i) for i in range(k)], str(path), file_sha256(path))
    raise CheckpointError(f"{path}: a classifier must be a ganforge feature file (.safetensors) or TorchScript (.pt)")


def _check_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps <= 1:
        raise ConfigError(f"eps must be a number in [0, 1] (pixel scale), got {eps!r}")
    return float(eps)


def _grad(model: Callable, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm(model: Callable, x: torch.Tensor, y: torch.Tensor, eps: float | torch.Tensor) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of ``eps`` along the loss gradient's sign.
    ``eps`` is a number or a per-image tensor [N], on the [0, 1] pixel scale."""
    if not isinstance(eps, torch.Tensor):
        eps = torch.tensor(_check_eps(eps))
    e = (2 * eps.to(x.device, x.dtype)).reshape(-1, *([1] * (x.dim() - 1)))
    return (x + e * _grad(model, x, y).sign()).clamp(-1, 1).detach()


def pgd(model: Callable, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 40,
        step_size: float | None = None, random_start: bool = True, gen: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018), L-inf ball of radius ``eps`` (pixel scale) around ``x``;
    step size default 2.5 * eps / steps; a uniform random start inside the ball."""
    eps = _check_eps(eps)
    if steps < 1:
        raise ConfigError(f"PGD steps must be positive, got {steps}")
    e = 2 * eps
    a = 2 * (step_size if step_size is not None else 2.5 * eps / steps)
    x0 = x.detach()
    adv = x0.clone()
    if random_start and e > 0:
        noise = torch.rand(x0.shape, generator=gen).to(x0.device) * 2 - 1
        adv = (x0 + e * noise).clamp(-1, 1)
    for _ in range(steps):
        adv = adv + a * _grad(model, adv, y).sign()
        adv = torch.min(torch.max(adv, x0 - e), x0 + e).clamp(-1, 1).detach()
    return adv


def attack(name: str, model: Callable, x: torch.Tensor, y: torch.Tensor, eps: float, *, pgd_steps: int = 40,
           gen: torch.Generator | None = None) -> torch.Tensor:
    if name == "fgsm":
        return fgsm(model, x, y, eps)
    if name == "pgd":
        return pgd(model, x, y, eps, steps=pgd_steps, gen=gen)
    raise ConfigError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")


def parse_list(text: str, what: str, cast=str) -> list:
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ConfigError(f"{what}: give at least one value")
    try:
        return [cast(t) for t in items]
    except ValueError:
        raise ConfigError(f"{what}: cannot read {text!r} as a comma list of numbers") from None


@torch.no_grad()
def _correct(model: Callable, x: torch.Tensor, y: torch.Tensor) -> int:
    return int((model(x).argmax(1) == y).sum())


def evaluate(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor, *,
             attacks: Sequence[str] = ATTACKS, eps: Sequence[float] = (0.1, 0.3), purifier: Callable | None = None,
             white_box: bool = False, pgd_steps: int = 40, batch: int = 250, seed: int = 0) -> dict[str, Any]:
    """Clean and attacked accuracy of ``classifier`` on float [-1, 1] ``images`` with ``labels``; with a
    ``purifier`` (float images -> float images) also the accuracy after purification (gray-box: the attack
    does not see the purifier) and, with ``white_box``, under a PGD attack through purifier + classifier.
    Returns {"n", "clean", "clean_purified", "rows": [{"attack", "eps", "attacked", "purified", "white_box"}]}."""
    for a in attacks:
        if a not in ATTACKS:
            raise ConfigError(f"unknown attack {a!r}; known: {', '.join(ATTACKS)}")
    eps = [_check_eps(e) for e in eps]
    n = int(images.shape[0])
    if n == 0:
        raise DataError("robustness: no images to attack")
    if labels.shape[0] != n:
        raise DataError(f"robustness: {labels.shape[0]} labels for {n} images")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(classifier.classes)):
        raise DataError(f"robustness: labels outside the classifier's {len(classifier.classes)} classes")
    gen = torch.Generator().manual_seed(seed)
    defended = (lambda x: classifier(purifier(x))) if purifier is not None else None
    totals: dict[tuple, int] = {}

    def add(key, value):
        totals[key] = totals.get(key, 0) + value

    for s in range(0, n, batch):
        x, y = images[s:s + batch].float(), labels[s:s + batch]
        add(("clean",), _correct(classifier, x, y))
        if defended is not None:
            add(("clean_purified",), _correct(defended, x, y))
        for a in attacks:
            for e in eps:
                adv = attack(a, classifier, x, y, e, pgd_steps=pgd_steps, gen=gen)
                add((a, e, "attacked"), _correct(classifier, adv, y))
                if defended is not None:
                    add((a, e, "purified"), _correct(defended, adv, y))
                    if white_box and a == "pgd":
                        adv_w = pgd(defended, x, y, e, steps=pgd_steps, gen=gen)
                        add((a, e, "white_box"), _correct(defended, adv_w, y))
    rows = []
    for a in attacks:
        for e in eps:
            row = {"attack": a, "eps": e, "attacked": totals[(a, e, "attacked")] / n}
            row["purified"] = totals[(a, e, "purified")] / n if defended is not None else None
            row["white_box"] = totals[(a, e, "white_box")] / n if (a, e, "white_box") in totals else None
            rows.append(row)
    return {"n": n, "clean": totals[("clean",)] / n,
            "clean_purified": totals[("clean_purified",)] / n if defended is not None else None,
            "pgd_steps": pgd_steps, "threat_model": "gray-box: attacks see the classifier, not the purifier"
            + ("; white_box: PGD through purifier + classifier" if white_box else ""), "rows": rows}


def robustness_report(classifier: str | os.PathLike, data: str, *, purifier: Any = None, attacks: str = "fgsm,pgd",
                      eps: str = "0.1,0.3", n: int = 1000, pgd_steps: int = 40, white_box: bool = False,
                      size: int | None = None, channels: int | None = None, seed: int = 0,
                      output: str | os.PathLike | None = None) -> dict[str, Any]:
    """:func:`evaluate` on files: the classifier from ``classifier`` (see :func:`load_classifier`), at most ``n``
    labelled images of ``data``, optionally a purifier model in front of it; ``attacks`` and ``eps`` are comma
    lists. The report is also written to ``output`` (JSON) when given."""
    from ..data import load_images
    from ..fileio import write_json

    if isinstance(n, bool) or n <= 0:
        raise ConfigError(f"n must be positive, got {n}")
    if white_box and purifier is None:
        raise ConfigError("--white-box attacks through the purifier: give --purifier too")
    clf = load_classifier(classifier, size, channels)
    attack_list = parse_list(attacks, "--attack")
    eps_list = parse_list(eps, "--eps", float)
    if purifier is not None:
        want = purifier.meta["classifier"]
        if (want["input_size"], want["channels"]) != (clf.input_size, clf.channels):
            raise ConfigError(f"{purifier.path}: trained for {want['channels']}-channel {want['input_size']}px inputs, "
                              f"the classifier takes {clf.channels}-channel {clf.input_size}px")
        if want.get("sha256") and want["sha256"] != clf.sha256:
            log.warning("the purifier was trained for another classifier (%s)", want["path"])
    test = load_images(data, clf.input_size, channels=clf.channels, limit=n)
    if test.labels is None:
        raise DataError(f"{data}: the test images need labels (class folders, IDX labels or .npz labels)")
    if len(test.class_names) != len(clf.classes):
        raise DataError(f"{data}: {len(test.class_names)} classes, the classifier has {len(clf.classes)}")
    x = test.images.float().div(127.5).sub(1.0)
    report = evaluate(clf, x, test.labels, attacks=attack_list, eps=eps_list, purifier=purifier, white_box=white_box,
                      pgd_steps=pgd_steps, seed=seed)
    if output is not None:
        write_json(Path(output), report)
    return report


def table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [f"{report['n']} images; clean accuracy {report['clean']:.4f}"
             + (f", after purification {report['clean_purified']:.4f}" if report["clean_purified"] is not None else "")]
    head = f"{'attack':<8}{'eps':>6}{'attacked':>11}{'purified':>11}{'white-box':>11}"
    lines += [head, "-" * len(head)]
    fmt = lambda v: f"{v:>11.4f}" if v is not None else f"{'-':>11}"  # noqa: E731
    for r in report["rows"]:
        lines.append(f"{r['attack']:<8}{r['eps']:>6.3g}{fmt(r['attacked'])}{fmt(r['purified'])}{fmt(r['white_box'])}")
    lines.append(f"threat model: {report['threat_model']}")
    return "\n".join(lines)
