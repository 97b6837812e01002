"""Text-to-image: a caption-conditioned GAN of the GAN-INT-CLS / DF-GAN class, with its own small text encoder.

- The text encoder (word embeddings + bidirectional GRU over a vocabulary built from the training captions;
  no downloaded language model; optionally starting from pretrained word vectors, ``word_vectors``) is
  trained with an image encoder on real (image, caption) pairs by a contrastive loss (phase "E": AttnGAN's
  DAMSM, CLIP), so the sentence embedding carries every attribute the captions name. G and D read it
  without changing it.
- The generator's blocks are modulated by [noise, sentence] (DF-GAN's deep fusion, FiLM form); besides the
  adversarial loss it is asked to make images the image encoder matches to their caption rather than to
  the other captions of the batch (``match_weight``; DAMSM loss, XMC-GAN).
- The discriminator is a projection discriminator and matching-aware (GAN-INT-CLS): a real image with its
  caption is real; a real image with a wrong caption, and a generated image, are fake. Hinge loss, spectral
  norm.
- Wrong captions are hard half the time: the image's own caption with one word swapped for another word the
  captions use between the same neighbours (:class:`WordSwaps`); the contrastive losses of E and G count
  that caption as one more negative. Random other captions mostly differ in a colour, so without these the
  shapes were never needed (shape at chance before).
- Sentence interpolation: ``model.interpolate(a, b, "morph.gif")`` blends two captions' embeddings with
  the noise fixed; training ends by writing ``interpolation.gif``.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..imaging import media
from ..config import check_choices, option, to_dict
from ..data.captions import load_captions, tokenize
from ..data.word_vectors import read_word_vectors
from ..engine import AdversarialTask, Callback, Phase
from ..errors import ConfigError
from ..losses import contrastive
from ..nets import registry
from ..nets.standing import standing_stats
from ..nets.text2image import (PAD, UNK, TextImageEncoder, TextProjectionDiscriminator, TextToImageDiscriminator,
                               TextToImageGenerator)
from ..predict.base import Model
from . import register

log = logging.getLogger("ganforge")
MAX_WORDS = 32


@dataclass
class Text2ImageOptions:
    data: str = option("builtin:scenes", "CSV with image,caption columns, a folder of images with .txt caption files, "
                       "or builtin:scenes (builtin:scenes?objects=1 is simpler).")
    size: int = option(32, "Image side.", choices=(16, 32, 64))
    channels: int = option(3, "1 (grey) or 3 (RGB).", choices=(1, 3))
    limit: int | None = option(None, "Use at most this many images.")
    z_dim: int = option(32, "Noise size.")
    text_dim: int = option(64, "Sentence embedding size (even: the text encoder's GRU reads both ways).")
    width: int = option(32, "Base channel count.")
    mismatch_weight: float = option(0.5, "Weight of 'real image + wrong caption = fake' in D's loss.")
    match_weight: float = option(3.0, "Weight of G's caption-matching loss (its images, read by the image "
                                 "encoder, must match their own caption better than the batch's others).")
    word_vectors: str | None = option(None, "Pretrained word vectors to start the text encoder from: a GloVe or "
                                      "word2vec text file (word and numbers on each line; .gz too).")
    sample_grid: int = option(8, "Captions in each evaluation grid (4 samples each).")

    def validate(self) -> None:
        check_choices(self)
        for name in ("z_dim", "text_dim", "width", "sample_grid"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)}")
        if self.text_dim % 2:
            raise ConfigError(f"text_dim must be even (two GRU directions); got {self.text_dim}")
        if not 0 <= self.mismatch_weight <= 1:
            raise ConfigError(f"mismatch_weight must be in [0, 1]; got {self.mismatch_weight}")
        if self.match_weight < 0:
            raise ConfigError(f"match_weight must not be negative; got {self.match_weight}")


class Vocabulary:
    """Words of the training captions -> ids (0 padding, 1 unknown)."""

    def __init__(self, words: list[str]):
        self.words = ["<pad>", "<unk>", *words]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, captions: list[str]) -> "Vocabulary":
        return cls(sorted({w for c in captions for w in tokenize(c)}))

    def encode(self, texts: list[str], strict: bool = False) -> torch.Tensor:
        """Token ids (B, L). ``strict``: unknown words raise ConfigError (for user input), else map to <unk>."""
        rows = []
        for t in texts:
            words = tokenize(t)[:MAX_WORDS]
            unknown = [w for w in words if w not in self.index]
            if strict and unknown:
                known = [w for w in self.words[2:]]
                shown = ", ".join(known[:40]) + (" ..." if len(known) > 40 else "")
                raise ConfigError(f"caption {t!r}: unknown word(s) {', '.join(map(repr, unknown))}; "
                                  f"the model knows: {shown}")
            ids = [self.index.get(w, UNK) for w in words]
            if not ids:
                raise ConfigError(f"caption {t!r} has no words")
            rows.append(ids)
        out = torch.full((len(rows), max(map(len, rows))), PAD, dtype=torch.long)
        for i, ids in enumerate(rows):
            out[i, :len(ids)] = torch.tensor(ids)
        return out


class WordSwaps:
    """Hard negative captions: a caption with one word replaced by another word that the training captions
    use between the same two neighbours ("a red circle above" -> "a red square above"). Random other
    captions mostly differ in the easiest attribute (a colour); these differ in one only, so the losses
    that compare captions have to read every word (hard negatives as in NegCLIP)."""

    def __init__(self, tokens: torch.Tensor):
        contexts: dict[tuple[int, int], set[int]] = {}
        padded = torch.nn.functional.pad(tokens, (1, 1), value=PAD).tolist()
        for row in padded:
            for i in range(1, len(row) - 1):
                if row[i] != PAD:
                    contexts.setdefault((row[i - 1], row[i + 1]), set()).add(row[i])
        alternatives: dict[int, set[int]] = {}
        for words in contexts.values():
            for w in words:
                alternatives.setdefault(w, set()).update(words - {w})
        vocab = int(tokens.max()) + 1 if tokens.numel() else 1
        self.count = torch.zeros(vocab, dtype=torch.long)
        flat: list[int] = []
        self.offset = torch.zeros(vocab, dtype=torch.long)
        for w in range(vocab):
            alts = sorted(alternatives.get(w, ()))
            self.offset[w], self.count[w] = len(flat), len(alts)
            flat += alts
        self.flat = torch.tensor(flat or [PAD], dtype=torch.long)
        self.tokens = tokens
        self.swappable = (self.count[tokens] > 0) & (tokens != PAD)

    def __call__(self, index: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens of captions ``index`` with one word swapped, and which of them had a word to swap."""
        tokens = self.tokens[index].clone()
        mask = self.swappable[index].float()
        pos = (torch.rand(mask.shape, generator=gen) * mask).argmax(1)
        rows = torch.arange(len(index))
        word = tokens[rows, pos]
        pick = (torch.rand(len(index), generator=gen) * self.count[word]).long()
        pick = torch.minimum(pick, (self.count[word] - 1).clamp_min(0))
        has = mask.sum(1) > 0
        tokens[rows[has], pos[has]] = self.flat[self.offset[word] + pick][has]
        return tokens, has


@register("text2image")
class TextToImage(AdversarialTask):
    Options = Text2ImageOptions
    run_defaults = {"batch": 32}   # what the CLI's `train text2image` used

    def __init__(self, options: Text2ImageOptions, data=None, seed: int = 0, progress=None):
        options.validate()
        self.options = opt = copy.deepcopy(options)
        self.data = data if data is not None else load_captions(opt.data, opt.size, opt.channels, opt.limit)
        flat = [c for caps in self.data.captions for c in caps]
        self.vocab = Vocabulary.build(flat)
        # every caption's tokens, and which image each belongs to
        self.tokens = self.vocab.encode(flat)
        self.owner = torch.tensor([i for i, caps in enumerate(self.data.captions) for _ in caps])
        self.swaps = WordSwaps(self.tokens)
        common = dict(text_dim=opt.text_dim, width=opt.width, size=opt.size, channels=opt.channels)
        vectors, known = read_word_vectors(opt.word_vectors, self.vocab.words[2:]) if opt.word_vectors else (None, None)
        E = TextImageEncoder(vocab=len(self.vocab.words), **common, word_dim=None if vectors is None else vectors.shape[1])
        if vectors is not None:   # rows 0 and 1 are <pad> and <unk>
            E.text.set_vectors(torch.from_numpy(np.concatenate([np.zeros((2, vectors.shape[1]), np.float32), vectors])),
                               torch.from_numpy(np.concatenate([[False, False], known])))
        self.modules = {"G": TextToImageGenerator(z_dim=opt.z_dim, **common), "D": TextProjectionDiscriminator(**common),
                        "E": E}
        self.phases = [Phase("E", "E", 1), Phase("G", "G", 1), Phase("D", "D", 1)]
        self._fake = None
        rng = np.random.default_rng(0)
        pick = rng.choice(len(flat), size=min(len(flat), 64), replace=False)
        self.examples = [flat[i] for i in pick]

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        self._fake = self._sentences = None
        cap = torch.randint(len(self.tokens), (batch,), generator=gen)
        # a mismatched caption for each image: half the time another random caption of another image,
        # else (where it has a word to swap) its own with one word swapped
        wrong = torch.randint(len(self.tokens), (batch,), generator=gen)
        same = self.owner[wrong] == self.owner[cap]
        wrong[same] = (wrong[same] + 1) % len(self.tokens)
        hard, has = self.swaps(cap, gen)
        wrong_tokens = torch.where((has & (torch.rand(batch, generator=gen) < 0.5))[:, None], hard, self.tokens[wrong])
        x = self.data.images[self.owner[cap]].to(device).float().div_(127.5).sub_(1.0)
        owner = self.owner[cap]
        return {"x": x, "tokens": self.tokens[cap].to(device), "wrong": wrong_tokens.to(device),
                "hard": hard.to(device), "has_hard": has.to(device),
                "same": (owner[:, None] == owner[None, :]).to(device)}   # one image's captions: no negatives

    def loss(self, phase: str, batch: dict[str, torch.Tensor], nets: dict[str, nn.Module], gen: torch.Generator):
        G, D, E, opt = nets["G"], nets["D"], nets["E"], self.options
        x = batch["x"]
        enc = _inner(E)
        if phase == "E":
            s, hard, wrong = E(torch.cat([batch["tokens"], batch["hard"], batch["wrong"]])).chunk(3)
            # G and D read the sentences as they are now (the encoder's next step is a small change)
            self._sentences = (s.detach().float(), hard.detach().float(), wrong.detach().float())
            loss = contrastive(enc.image(x), s, enc.scale, batch["same"], hard, batch["has_hard"])
            return loss, {"E/scale": enc.scale.detach()}
        if self._sentences is None:
            with torch.no_grad():
                self._sentences = tuple(E(batch[k]).float() for k in ("tokens", "hard", "wrong"))
        s, s_hard, s_wrong = self._sentences
        if phase == "G":
            z = torch.randn(x.shape[0], opt.z_dim, generator=gen).to(x.device)
            fake = G(z, s)
            self._fake = (fake.detach(), s)
            adv = -D(fake, s).float().mean()
            if not opt.match_weight:
                return adv, {}
            match = contrastive(enc.image(fake), s, enc.scale.detach(), batch["same"], s_hard, batch["has_hard"])
            return adv + opt.match_weight * match, {"G/match": match.detach()}
        if phase == "D":
            if self._fake is None:
                with torch.no_grad():
                    self._fake = (G(torch.randn(x.shape[0], opt.z_dim, generator=gen).to(x.device), s.float()), s)
            fake = self._fake[0].to(x.dtype)
            real, mismatch = D(x, s, s_wrong).float()
            fake_logits = D(fake, s).float()
            w = opt.mismatch_weight
            loss = torch.relu(1 - real).mean() + w * torch.relu(1 + mismatch).mean() + \
                (1 - w) * torch.relu(1 + fake_logits).mean()
            return loss, {"D/real": real.detach().mean(), "D/fake": fake_logits.detach().mean(),
                          "D/mismatch": mismatch.detach().mean()}
        raise ValueError(f"unknown phase {phase!r}")

    def data_description(self) -> dict[str, Any]:
        return self.data.describe()

    def callbacks(self) -> list[Callback]:
        return [CaptionGrids(self)]

    def _model(self, G: nn.Module, D: nn.Module, E: nn.Module, device) -> "TextToImageModel":
        """A predictor for the evaluation grids: copies of the networks, so training's D and E keep their mode."""
        copies = {}
        for name, trained in (("D", _inner(D)), ("E", _inner(E))):
            net = registry.build(registry.spec(trained))   # (spectral norm's computed weights cannot be deep-copied)
            net.load_state_dict(trained.state_dict())
            copies[name] = net.to(next(trained.parameters()).device)
        meta = {"task": self.name, "options": to_dict(self.options), "vocab": self.vocab.words[2:],
                "examples": self.examples}
        return TextToImageModel({"G": self.standing(G, copies["E"]), **copies}, meta, device=str(device))

    def standing(self, G: nn.Module, encoder: nn.Module) -> nn.Module:
        """A copy of G with batch-norm statistics measured on its own samples for training captions."""
        tokens, z_dim = self.tokens, self.options.z_dim

        def inputs(batch: int, gen: torch.Generator, device: torch.device) -> tuple:
            idx = torch.randint(len(tokens), (batch,), generator=gen)
            s = encoder(tokens[idx].to(device)).float()
            return torch.randn(batch, z_dim, generator=gen).to(device), s

        was = encoder.training
        encoder.eval()
        try:
            return standing_stats(G, inputs, batches=4, batch=64)
        finally:
            encoder.train(was)

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        D, E = _inner(raw["D"]), _inner(raw["E"])
        G = self.standing(ema if ema is not None else raw["G"], E)
        tensors, specs = registry.export({"G": G, "D": D, "E": E})
        return tensors, {"nets": specs, "options": to_dict(self.options), "vocab": self.vocab.words[2:],
                         "examples": self.examples}


def _inner(net: nn.Module) -> nn.Module:
    """The module inside a DDP / compile wrapper (for the encoder's image half and scale)."""
    net = getattr(net, "module", net)
    return getattr(net, "_orig_mod", net)


class CaptionGrids(Callback):
    """At each evaluation ``samples/step-NNNNNN.png``: a row of 4 samples per caption (captions in
    ``samples/captions.txt``); at the end ``interpolation.gif`` between two training captions."""

    def __init__(self, task: TextToImage):
        self.task = task

    def _model(self, state):
        G = state.sampling_net("G")
        return self.task._model(G, state.net("D"), state.net("E"), state.device)

    def on_eval(self, state, step: int) -> None:
        model = self._model(state)
        captions = self.task.examples[: self.task.options.sample_grid]
        rows = [model.sample(4, seed=0, condition=c) for c in captions]
        run = state.run_dir
        scale = max(1, 64 // self.task.options.size)
        media.save_image(run / "samples" / f"step-{step:06d}.png",
                         media.upscale(media.grid(np.concatenate(rows), nrow=4), scale))
        from ..fileio import write_bytes
        write_bytes(run / "samples" / "captions.txt", "".join(c + "\n" for c in captions).encode())

    def on_end(self, state, status: str) -> None:
        if status == "failed":
            return
        self.on_eval(state, state.step)
        ex = self.task.examples
        if len(ex) >= 2:
            self._model(state).interpolate(ex[0], ex[1], state.run_dir / "interpolation.gif")


class TextToImageModel(Model):
    """A trained text-to-image generator: ``sample(n, seed=..., condition=caption)`` -> uint8 NHWC images."""

    Options = Text2ImageOptions
    condition_help = "the caption of every image (or a list, one per image); none: captions from the training data"

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu"):
        super().__init__(nets, meta, path, device)
        self.vocab = Vocabulary(list(meta["vocab"]))
        self.examples: list[str] = list(meta.get("examples") or [])
        # the text encoder: its own network, or (model files before the "E" network) inside D
        self.encoder = self.nets["E"] if "E" in self.nets else self.D.encoder

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        return {"G": {"class": registry.name_of(TextToImageGenerator), **meta["nets"]["G"]},
                "D": {"class": registry.name_of(TextToImageDiscriminator), **meta["nets"]["D"]}}

    @torch.no_grad()
    def embed(self, texts: list[str], strict: bool = True) -> torch.Tensor:
        """Sentence embeddings (B, text_dim) of captions; unknown words raise ConfigError when ``strict``."""
        return self.encoder(self.vocab.encode(texts, strict=strict).to(self.device)).float()

    @torch.no_grad()
    def generate(self, z: torch.Tensor, sentences: torch.Tensor, batch: int = 256) -> np.ndarray:
        out = [media.to_uint8(self.G(z[i:i + batch].to(self.device), sentences[i:i + batch].to(self.device)))
               for i in range(0, len(z), batch)]
        s = self.options.size
        return np.concatenate(out) if out else np.zeros((0, s, s, self.options.channels), np.uint8)

    def captions_for(self, n: int, text: str | list[str] | None, seed: int = 0) -> list[str]:
        """The caption of each of ``n`` samples: ``text`` for all, a list (one each), or training captions."""
        if text is None:
            if not self.examples:
                raise ConfigError("this model stores no example captions; give a caption")
            rng = np.random.default_rng(seed)
            return [self.examples[i] for i in rng.integers(len(self.examples), size=n)]
        if isinstance(text, str):
            return [text] * n
        if len(text) != n:
            raise ConfigError(f"{len(text)} captions for {n} samples")
        return list(text)

    def sample(self, n: int, *, seed: int = 0, condition: str | list[str] | None = None, as_pil: bool = False):
        """``n`` images for the caption ``condition`` (one for all, or a list with one per image; default:
        training captions); same seed, same images."""
        captions = self.captions_for(n, condition, seed)
        z = torch.randn(n, self.options.z_dim, generator=torch.Generator().manual_seed(seed))
        images = self.generate(z, self.embed(captions)) if n else self.generate(z, torch.zeros(0, 1))
        if as_pil:
            from PIL import Image
            return [Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im) for im in images]
        return images

    def interpolate(self, a: str, b: str, path: str | Path, n: int = 8, steps: int = 16, seed: int = 0) -> Path:
        """A looping GIF/MP4 morphing ``n`` samples (fixed noise) from caption ``a`` to ``b`` and back."""
        sa, sb = self.embed([a]), self.embed([b])
        z = torch.randn(n, self.options.z_dim, generator=torch.Generator().manual_seed(seed))
        ts = list(np.linspace(0, 1, steps)) + list(np.linspace(1, 0, steps))[1:-1]
        scale = max(1, 64 // self.options.size)
        frames = [media.upscale(media.grid(self.generate(z, ((1 - t) * sa + t * sb).expand(n, -1)), nrow=n), scale)
                  for t in ts]
        return media.save_animation(path, frames, fps=8)

    def walk(self, path: str | Path, *, seed: int = 0, walks: int = 8, **options: Any) -> Path:
        """``ganforge walk``: a sentence interpolation between two training captions (``walks`` samples)."""
        if options:
            raise ConfigError(f"a text2image walk morphs between two training captions; it takes no "
                              f"{', '.join(sorted(options))}")
        if len(self.examples) < 2:
            raise ConfigError("this model stores fewer than two example captions: use interpolate(a, b, path)")
        rng = np.random.default_rng(seed)
        a, b = (self.examples[i] for i in rng.choice(len(self.examples), 2, replace=False))
        return self.interpolate(a, b, path, n=walks, seed=seed)


TextToImage.Predictor = TextToImageModel
