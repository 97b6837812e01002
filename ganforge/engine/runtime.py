"""Devices, precision and processes: the one place that knows about them.

Several processes are started by ``torchrun`` (or ``srun`` + ``torchrun`` on SLURM), which sets
RANK/WORLD_SIZE/LOCAL_RANK; each process then trains on its own batches and DDP averages the
gradients. We drive DDP directly rather than through Lightning Fabric: Fabric's module wrapper
refuses ``torch.autograd.grad`` outside ``fabric.backward``, which the R1 and WGAN-GP penalties
need, and a GAN loop must choose per phase which network synchronises its gradients.
"""
from __future__ import annotations

import contextlib
import datetime
import inspect
import logging
import os
import warnings
from functools import lru_cache

import torch
import torch.distributed as dist
import torch.nn as nn

from ..config import RunConfig
from ..errors import ConfigError

log = logging.getLogger("ganforge.engine")


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix units (AMX-BF16 or AVX512-BF16)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def seed_everything(seed: int) -> None:
    """Seed torch, NumPy's global generator and ``random``: a task built next gets the same initial
    weights in every process and every run with this seed."""
    import random

    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for but no CUDA GPU is available")
    return device


def resolve_precision(precision: str, device: str) -> str:
    """'bf16', 'fp16' or 'fp32'; 'auto' picks bf16 where the hardware makes it fast."""
    if precision == "auto":
        if device == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if precision == "fp16" and device != "cuda":
        raise ConfigError("precision: fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    return precision


class Runtime:
    """Device, precision and process group of one training process."""

    def __init__(self, run: RunConfig):
        if run.threads:
            torch.set_num_threads(run.threads)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        kind = resolve_device(run.device)
        self.device = torch.device(f"cuda:{self.local_rank}" if kind == "cuda" else "cpu")
        if kind == "cuda":
            torch.cuda.set_device(self.device)
        self.precision = resolve_precision(run.precision, kind)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if kind == "cuda" else "gloo", timeout=datetime.timedelta(minutes=30))
            log.info("process %d of %d on %s", self.rank, self.world, self.device)

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def wrap(self, module: nn.Module) -> nn.Module:
        """Move to the device; under several processes, wrap in DDP (buffers stay per process)."""
        module = module.to(self.device)
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == "cuda" else None
            # buffers (batch-norm statistics) stay per process after the initial sync; the keyword
            # changed name in torch 2.10
            sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
                    else {"broadcast_buffers": False})
            # a 1-channel output conv's weight gradient has unusual strides: harmless, not worth a warning
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            module = DDP(module, device_ids=ids, **sync)
        return module

    def no_sync(self, module: nn.Module):
        """Forward/backward through ``module`` without starting a gradient all-reduce."""
        return module.no_sync() if hasattr(module, "no_sync") and self.distributed else contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(self, opt: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()

    def any_true(self, flag: bool) -> bool:
        """True if ``flag`` holds on any process."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
