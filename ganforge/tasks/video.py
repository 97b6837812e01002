"""Video prediction: given the first ``context`` frames of a clip, predict the next ``predict`` frames.

A conditional video GAN. The generator (``arch``, ``nets/video.py``) is rolled out over its own
predictions: ``unet`` (the default) is a U-Net that reads the last ``context`` frames and moves the last
frame by a predicted, bounded motion field and adds a predicted change; ``convgru`` is the convolutional GRU of
earlier versions (model files written before ``arch`` load as such). The critic sees whole clips (real
context + real or predicted future) through 3-D convolutions, so it judges motion as well as appearance.
The generator minimises ``adv_weight`` x adversarial + ``recon_weight`` x L1 to the true future.

Stochastic mode (``variety`` K > 1): each generator step rolls every clip out K times with different
noise and only the best rollout pays the reconstruction loss (best-of-K, the "variety loss" of Social GAN
and Bhattacharyya et al.), so the noise learns to choose among futures instead of being ignored; the
adversarial term applies to all K.

A held-out part of the clips (``holdout``) is never trained on: every evaluation writes a GIF of
truth vs prediction for a few of them and logs PSNR/SSIM over all predicted frames.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from .. import losses
from ..imaging import media
from ..config import check_choices, option, to_dict
from ..data.video import load_videos, read_any, resize_frames
from ..engine import AdversarialTask, Callback, Phase
from ..errors import ConfigError, DataError
from ..nets import registry
from ..nets.video import VideoCritic, VideoPredictorNet, VideoUNetPredictor
from ..predict.base import Model
from . import register


@dataclass
class VideoOptions:
    data: str = option("builtin:moving_digits", "Folder of video files (.mp4 .avi .mov .webm .gif), .npy "
                       "(N, T, H, W[, C]), or builtin:moving_digits.")
    context: int = option(4, "Frames given.")
    predict: int = option(8, "Frames to predict.")
    size: int = option(32, "Frame side (multiple of 4).")
    channels: int | None = option(None, "1 or 3 (default: 1 if every video is grey, else 3).", choices=(1, 3))
    limit: int | None = option(None, "Use only the first N videos.")
    arch: str = option("unet", "Predictor: unet (the last frame moved by a bounded motion field, plus a change, "
                       "from the last frames) or convgru (the recurrent predictor of earlier versions).",
                       choices=("unet", "convgru"), before="convgru")
    motion: str = option("flow", "How the unet predictor moves the last frame: flow (a bounded motion field, bilinear "
                         "resampling) or kernels (a per-pixel choice among whole-pixel shifts of up to an eighth of "
                         "the side).", choices=("flow", "kernels"))
    width: int = option(16, "Base channel count (32 is ~3x slower per step on CPU).")
    z_dim: int = option(16, "Noise dimension of the generator.")
    teacher: float | None = option(None, "Training only: the chance that the true frame instead of the prediction is "
                                   "fed back at each predicted step (teacher forcing; unet only; default 0.5 with "
                                   "unet, none with convgru).", before=0.0)
    teacher_steps: int = option(1000, "Generator steps over which the teacher-forcing chance falls linearly from "
                                "teacher to 0 (scheduled sampling); 0 keeps it constant.")
    variety: int = option(1, "Rollouts per clip in each generator step; K > 1 trains a stochastic predictor with "
                          "a best-of-K reconstruction loss (K times the generator's cost).")
    loss: str = option("ns", "Adversarial loss: ns, hinge or lsgan.", choices=("ns", "hinge", "lsgan"))
    recon_weight: float = option(100.0, "Weight of the reconstruction loss to the true future (pixels in [-1, 1]).")
    recon: str = option("mse", "Reconstruction loss: l1 (mean absolute error) or mse (mean squared error, what PSNR "
                        "measures).", choices=("l1", "mse"), before="l1")
    adv_weight: float = option(1.0, "Weight of the adversarial loss.")
    holdout: float = option(0.1, "Fraction of clips kept out of training, for evaluation.")
    sample_clips: int = option(4, "Clips in each evaluation GIF.")

    def validate(self) -> None:
        if self.context < 1:
            raise ConfigError(f"context must be at least 1 frame, got {self.context}")
        if self.predict < 1:
            raise ConfigError(f"predict must be at least 1 frame, got {self.predict}")
        if self.size < 16 or self.size % 4:
            raise ConfigError(f"size must be a multiple of 4 and at least 16, got {self.size}")
        check_choices(self)
        for name in ("width", "z_dim", "sample_clips", "variety"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive; got {getattr(self, name)}")
        if self.recon_weight < 0 or self.adv_weight < 0:
            raise ConfigError("recon_weight and adv_weight must not be negative")
        if self.teacher is not None and not 0 <= self.teacher <= 1:
            raise ConfigError(f"teacher must be in [0, 1], got {self.teacher}")
        if self.teacher_steps < 0:
            raise ConfigError(f"teacher_steps must not be negative, got {self.teacher_steps}")
        if self.motion != "flow" and self.arch != "unet":
            raise ConfigError(f"motion {self.motion} needs arch unet")
        if (self.teacher or 0) > 0 and self.arch != "unet":
            raise ConfigError("teacher forcing (teacher > 0) needs arch unet")
        if not 0 <= self.holdout < 1:
            raise ConfigError(f"holdout must be in [0, 1), got {self.holdout}")


def to_float(clips: torch.Tensor) -> torch.Tensor:
    return clips.float().div(127.5).sub(1.0)


def to_uint8_frames(x: torch.Tensor) -> np.ndarray:
    """(B, T, C, H, W) in [-1, 1] -> uint8 (B, T, H, W, C)."""
    b, t = x.shape[:2]
    frames = media.to_uint8(x.flatten(0, 1))
    return frames.reshape(b, t, *frames.shape[1:])


@register("video")
class VideoPrediction(AdversarialTask):
    Options = VideoOptions
    # what the old CLI's `train video` used besides RunConfig's defaults: 32 clips a step
    #: lr 1e-3 with mse and teacher forcing 0.5 is the configuration benchmarks/video_moving_digits.py measured
    run_defaults: dict[str, Any] = {"batch": 32, "lr_g": 1e-3}

    def __init__(self, options: VideoOptions, data=None, seed: int = 0, progress=None):
        options.validate()
        self.options = opt = copy.deepcopy(options)
        frames = opt.context + opt.predict
        self.data = data if data is not None else load_videos(opt.data, frames, opt.size, opt.channels, opt.limit)
        if self.data.clips.shape[1] < frames:
            raise DataError(f"{opt.data}: clips have {self.data.clips.shape[1]} frames, need {frames}")
        if opt.channels is None:
            opt.channels = self.data.channels
        n = len(self.data)
        held = int(round(n * opt.holdout)) if n >= 10 else 0
        self.train_clips = self.data.clips[: n - held]
        self.held_clips = self.data.clips[n - held:] if held else self.data.clips[: min(n, 8)]
        if opt.arch == "unet":
            G: nn.Module = VideoUNetPredictor(channels=opt.channels, width=opt.width, z_dim=opt.z_dim,
                                              window=opt.context, levels=max(1, min(3, (opt.size // 4).bit_length() - 1)),
                                              motion=opt.motion, radius=max(1, min(8, round(opt.size / 8))))
        else:
            G = VideoPredictorNet(channels=opt.channels, width=opt.width, z_dim=opt.z_dim)
        self.modules = {"G": G, "D": VideoCritic(channels=opt.channels, width=opt.width)}
        # adv_weight 0: a pure reconstruction predictor, the critic is not trained (it is still stored)
        self.phases = [Phase("G", "G", 1)] + ([Phase("D", "D", 1)] if opt.adv_weight > 0 else [])
        self._fake: torch.Tensor | None = None
        self.g_steps = 0          # generator steps taken, for the teacher-forcing schedule (kept in checkpoints)

    def sample_batch(self, batch: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        self._fake = None
        idx = torch.randint(len(self.train_clips), (batch,), generator=gen)
        clips = self.train_clips[idx, : self.options.context + self.options.predict]
        return to_float(clips.to(device))

    def _predict(self, G: nn.Module, clips: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        opt = self.options
        z = torch.randn(clips.shape[0], opt.z_dim, generator=gen).to(clips.device)
        return G(clips[:, :opt.context], opt.predict, z)

    def teacher_chance(self) -> float:
        """The teacher-forcing chance at the current generator step (scheduled sampling)."""
        opt = self.options
        teacher = opt.teacher if opt.teacher is not None else (0.5 if opt.arch == "unet" else 0.0)
        if opt.teacher_steps == 0:
            return teacher
        return teacher * max(0.0, 1.0 - self.g_steps / opt.teacher_steps)

    def state_dict(self) -> dict[str, Any]:
        return {"g_steps": self.g_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.g_steps = int(state.get("g_steps", 0))

    def _best_of_k(self, G: nn.Module, batch: torch.Tensor, gen: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """``variety`` rollouts of every clip: the reconstruction loss of the best one per clip, and all
        rollouts (K x B, ...)."""
        opt = self.options
        k, b = opt.variety, batch.shape[0]
        future = batch[:, opt.context:]
        clips = batch.repeat(k, *([1] * (batch.dim() - 1)))
        chance = self.teacher_chance()
        if chance > 0:
            keep = (torch.rand(clips.shape[0], opt.predict, generator=gen) < chance).to(clips.device)
            z = torch.randn(clips.shape[0], opt.z_dim, generator=gen).to(clips.device)
            pred = G(clips[:, :opt.context], opt.predict, z, truth=clips[:, opt.context:], keep=keep)
        else:
            pred = self._predict(G, clips, gen)
        diff = pred.float() - future.repeat(k, *([1] * (future.dim() - 1)))
        per = (diff.abs() if opt.recon == "l1" else diff.square()).flatten(1).mean(1)
        return per.view(k, b).min(0).values.mean(), pred

    def loss(self, phase: str, batch: torch.Tensor, nets: dict[str, nn.Module], gen: torch.Generator):
        G, D, opt = nets["G"], nets["D"], self.options
        context, future = batch[:, :opt.context], batch[:, opt.context:]
        if phase == "G":
            recon, pred = self._best_of_k(G, batch, gen)
            self.g_steps += 1
            self._fake = pred[: batch.shape[0]].detach()
            if opt.adv_weight == 0:      # no critic: a pure reconstruction predictor
                return opt.recon_weight * recon, {f"G/{opt.recon}": recon.detach()}
            context_k = context.repeat(opt.variety, *([1] * (context.dim() - 1)))
            adv = losses.g_loss(opt.loss, D(torch.cat([context_k, pred], 1)))
            return opt.adv_weight * adv + opt.recon_weight * recon, {f"G/{opt.recon}": recon.detach(), "G/adv": adv.detach()}
        if phase == "D":
            pred = self._fake
            if pred is None:
                with torch.no_grad():
                    pred = self._predict(G, batch, gen)
            real_logits = D(batch)
            fake_logits = D(torch.cat([context, pred.to(batch.dtype)], 1))
            return losses.d_loss(opt.loss, real_logits, fake_logits), {
                "D/real": real_logits.detach().float().mean(), "D/fake": fake_logits.detach().float().mean()}
        raise ValueError(f"unknown phase {phase!r}")

    def data_description(self) -> dict[str, Any]:
        return dict(self.data.describe(), held_out=len(self.data) - len(self.train_clips))

    def callbacks(self) -> list[Callback]:
        return [HeldOutPredictions(self)]

    def export(self, raw: dict[str, nn.Module], ema: nn.Module | None):
        # ema_module "G": the engine passes the EMA generator, the one that predicts
        tensors, specs = registry.export({"G": ema, "D": raw["D"]})
        return tensors, {"nets": specs, "options": to_dict(self.options)}


def score_predictions(pred: np.ndarray, truth: np.ndarray) -> dict[str, list[float]]:
    """PSNR and SSIM (8-bit scale) per predicted frame index, averaged over clips: uint8 (B, n, H, W, C)."""
    from ..metrics.quality import psnr, ssim

    out: dict[str, list[float]] = {"psnr": [], "ssim": []}
    for t in range(pred.shape[1]):
        a, b = pred[:, t], truth[:, t]
        # identical frames give PSNR inf; cap at 100 dB so means stay finite
        out["psnr"].append(float(np.minimum(psnr(a, b, 255.0).values, 100.0).mean()))
        out["ssim"].append(ssim(a, b, 255.0).mean)
    return out


class HeldOutPredictions(Callback):
    """At each evaluation: ``samples/step-NNNNNN.gif`` (truth | prediction) and PSNR/SSIM on held-out clips."""

    def __init__(self, task: VideoPrediction):
        self.task = task

    def on_eval(self, state, step: int) -> None:
        opt = self.task.options
        G = state.sampling_net("G")
        clips = self.task.held_clips[:256]
        model = VideoPredictor({"G": G}, {"task": "video", "options": to_dict(opt)}, device=state.device)
        frames = clips.permute(0, 1, 3, 4, 2).numpy()
        pred = model.predict(frames[:, :opt.context], opt.predict, seed=0)
        scores = score_predictions(pred, frames[:, opt.context:opt.context + opt.predict])
        state.log({"eval/psnr": float(np.mean(scores["psnr"])), "eval/ssim": float(np.mean(scores["ssim"]))})
        k = opt.sample_clips
        anim = comparison_frames(frames[:k, :opt.context], pred[:k], frames[:k, opt.context:opt.context + opt.predict])
        media.save_animation(state.run_dir / "samples" / f"step-{step:06d}.gif", anim, fps=4)

    def on_end(self, state, status: str) -> None:
        if status != "failed":
            self.on_eval(state, state.step)


def _panel(frame: np.ndarray, colour: tuple[int, int, int], scale: int, border: int = 2) -> np.ndarray:
    f = frame if frame.shape[-1] == 3 else np.repeat(frame, 3, axis=-1)
    f = media.upscale(f, scale)
    return np.pad(f, ((border, border), (border, border), (0, 0)), mode="constant",
                  constant_values=0) + _frame_colour(f.shape, border, colour)


def _frame_colour(shape, border: int, colour) -> np.ndarray:
    h, w = shape[0] + 2 * border, shape[1] + 2 * border
    out = np.zeros((h, w, 3), np.uint8)
    out[:border], out[-border:], out[:, :border], out[:, -border:] = colour, colour, colour, colour
    return out


GREY, RED, GREEN = (128, 128, 128), (220, 40, 40), (40, 180, 40)


def comparison_frames(context: np.ndarray, pred: np.ndarray, truth: np.ndarray | None,
                      min_side: int = 96) -> list[np.ndarray]:
    """Animation frames: one row per clip, [context then prediction (red border) | truth (green)].

    uint8 inputs (B, k, H, W, C), (B, n, H, W, C) and (B, m, H, W, C) with m <= n (or None).
    """
    b, k, h = context.shape[:3]
    scale = max(1, int(np.ceil(min_side / h)))
    frames = []
    for t in range(k + pred.shape[1]):
        rows = []
        for i in range(b):
            if t < k:
                left = _panel(context[i, t], GREY, scale)
                right = _panel(context[i, t], GREY, scale) if truth is not None else None
            else:
                left = _panel(pred[i, t - k], RED, scale)
                right = None
                if truth is not None:
                    right = (_panel(truth[i, t - k], GREEN, scale) if t - k < truth.shape[1]
                             else np.zeros_like(left))
            row = left if right is None else np.concatenate([left, np.full((left.shape[0], 4, 3), 255, np.uint8),
                                                              right], 1)
            rows.append(row)
        sep = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
        frames.append(np.concatenate([x for r in rows for x in (r, sep)][:-1], 0))
    return frames


class VideoPredictor(Model):
    """A trained video predictor: ``apply(frames or video file)`` / ``predict(context)`` -> the next frames;
    ``apply_path`` writes them (with the context and the truth) to a file. It makes no samples of its own."""

    Options = VideoOptions
    apply_options = ("seed", "start", "frames", "clip", "fps")

    def __init__(self, nets: dict[str, nn.Module], meta: dict[str, Any], path=None, device="cpu"):
        super().__init__(nets, meta, path, device)
        o = self.options
        self.context, self.horizon, self.size = o.context, o.predict, o.size
        self.channels, self.z_dim = o.channels, o.z_dim

    @classmethod
    def format1_nets(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        return {"G": {"class": registry.name_of(VideoPredictorNet), **meta["nets"]["G"]}}

    @torch.no_grad()
    def predict(self, context: np.ndarray, n: int | None = None, seed: int = 0, batch: int = 64) -> np.ndarray:
        """uint8 context frames (B, k, H, W, C) or (k, H, W, C) at the model's size -> uint8 (B, n, H, W, C).

        Only the last ``context`` frames the model was trained with are used; ``n`` defaults to the
        trained horizon (longer horizons roll the predictor further).
        """
        x = np.asarray(context)
        single = x.ndim == 4
        if single:
            x = x[None]
        if x.ndim != 5 or x.shape[2:] != (self.size, self.size, self.channels):
            raise DataError(f"context frames must be (B, k, {self.size}, {self.size}, {self.channels}), "
                            f"got {x.shape}")
        if x.shape[1] < self.context:
            raise DataError(f"this model needs {self.context} context frames, got {x.shape[1]}")
        x = x[:, -self.context:]
        n = self.horizon if n is None else n
        gen = torch.Generator().manual_seed(seed)
        out = []
        for i in range(0, len(x), batch):
            c = to_float(torch.from_numpy(np.ascontiguousarray(x[i:i + batch])).permute(0, 1, 4, 2, 3))
            z = torch.randn(c.shape[0], self.z_dim, generator=gen)
            out.append(to_uint8_frames(self.G(c.to(self.device), n, z.to(self.device)).float().cpu()))
        pred = np.concatenate(out) if out else np.zeros((0, n, self.size, self.size, self.channels), np.uint8)
        return pred[0] if single else pred

    def _option_values(self, options: dict[str, Any]) -> dict[str, int]:
        """The apply options as whole numbers (the CLI gives strings), with their defaults, checked."""
        unknown = sorted(set(options) - set(self.apply_options))
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r} for video models (known: {', '.join(self.apply_options)})")
        defaults = {"seed": 0, "start": 0, "frames": self.horizon, "clip": 0, "fps": 4}
        values = {}
        for key, default in defaults.items():
            try:
                values[key] = int(options.get(key, default))
            except (TypeError, ValueError):
                raise ConfigError(f"option {key}: expected a whole number, got {options[key]!r}") from None
        if values["frames"] < 1 or values["start"] < 0 or values["clip"] < 0 or values["fps"] < 1:
            raise ConfigError("frames and fps must be positive; start and clip must not be negative")
        return values

    def _read_clip(self, input: Path, start: int, clip: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Context frames (from ``start``) and the true frames after them, from a video file or .npy."""
        videos = read_any(Path(input))
        if clip >= len(videos):
            raise ConfigError(f"clip {clip}: {input} holds {len(videos)} video(s)")
        frames = videos[clip]
        if len(frames) < start + self.context:
            raise DataError(f"{input}: {len(frames)} frame(s); this model needs {self.context} context frames"
                            + (f" from frame {start}" if start else ""))
        frames = resize_frames(frames, self.size, self.channels)
        return frames[start:start + self.context], frames[start + self.context:start + self.context + n]

    def apply(self, x: Any, **options: Any) -> np.ndarray:
        """The frames after the context: ``x`` is uint8 frames (k, H, W, C) or (B, k, H, W, C) at the model's
        size, or a video file / .npy path (read from frame ``start`` of video ``clip``). Returns uint8
        (n, H, W, C), or (B, n, H, W, C) for a batch. Options: ``frames`` (n, default the trained horizon),
        ``seed``, ``start``, ``clip``."""
        v = self._option_values(options)
        if isinstance(x, (str, Path)):
            x, _ = self._read_clip(Path(x), v["start"], v["clip"], v["frames"])
        else:
            x = np.asarray(x)
            x = x[v["start"]:] if x.ndim == 4 else x[:, v["start"]:]
        return self.predict(x, v["frames"], seed=v["seed"])

    def apply_path(self, input: Path, output: Path, *, progress: Callable[[int, int], None] | None = None,
                   **options: Any) -> list[Path]:
        """Predict the continuation of the video in ``input`` and write ``output``.

        ``output`` .gif/.mp4: context and prediction beside the truth (when the video is long enough);
        .npy: the predicted frames, uint8 (n, H, W, C). Options: ``seed``, ``start`` (first context frame,
        default 0), ``frames`` (how many to predict, default the trained horizon), ``clip`` (which video of
        an .npy holding several, default 0), ``fps`` (default 4).
        """
        v = self._option_values(options)
        output = Path(output)
        if output.suffix.lower() not in (".gif", ".mp4", ".npy"):
            raise ConfigError(f"{output}: write the prediction as .gif, .mp4 or .npy")
        context, truth = self._read_clip(Path(input), v["start"], v["clip"], v["frames"])
        if progress is not None:
            progress(0, 1)
        pred = self.predict(context, v["frames"], seed=v["seed"])
        if progress is not None:
            progress(1, 1)
        if output.suffix.lower() == ".npy":
            from ..fileio import atomic_path

            with atomic_path(output) as tmp:
                np.save(tmp, pred)
        else:
            anim = comparison_frames(context[None], pred[None], truth[None] if len(truth) else None)
            media.save_animation(output, anim, fps=v["fps"])
        return [output]


VideoPrediction.Predictor = VideoPredictor
