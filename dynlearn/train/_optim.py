"""The optimizer and learning-rate schedule a `TrainerConfig` names."""

from __future__ import annotations

import math

import torch

from ._config import TrainerConfig

OPTIMIZERS = {"radam": torch.optim.RAdam, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
SCHEDULES = ("exponential", "cosine", "constant")


def make_optimizer(parameters, config: TrainerConfig) -> torch.optim.Optimizer:
    """`config.optimizer` at `config.lr_start`, with `config.weight_decay`."""
    return OPTIMIZERS[config.optimizer](parameters, lr=config.lr_start, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainerConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-epoch schedule from lr_start to lr_end over `config.epochs` epochs.

    ``exponential``: lr_start · (lr_end / lr_start)^(epoch / epochs) (the AL-RNN authors' decay);
    ``cosine``: half a cosine from lr_start down to lr_end; ``constant``: lr_start throughout.
    """
    if config.scheduler == "exponential":
        gamma = math.exp(math.log(config.lr_end / config.lr_start) / config.epochs)
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.lr_end)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
