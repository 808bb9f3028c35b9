"""Where a model lives, and RNG forks that cover that device's generators."""

from __future__ import annotations

import contextlib

import torch


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of `model`'s parameters: its inputs go there, its results come back from there."""
    return next(model.parameters()).device


def fork_rng(device: torch.device) -> contextlib.AbstractContextManager:
    """`torch.random.fork_rng` over the CPU generator and, for a CUDA `device`, every CUDA one.

    `torch.manual_seed` reseeds all of them, so a fork of the CPU generator alone would leave
    the seed behind in the caller's CUDA streams (and a judge inside training would reseed the
    training's noise on the GPU).
    """
    cuda = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    return torch.random.fork_rng(devices=cuda)
