"""Observation noise scaled to each dimension's spread, for trajectories of any system."""

from __future__ import annotations

import torch
from torch import Tensor

from dynlearn._errors import ConfigError


def add_observation_noise(x: Tensor, *, relative_std: float, generator: torch.Generator,
                          scale: Tensor | None = None) -> Tensor:
    """Add Gaussian measurement noise whose std is a fraction of each dimension's std.

    y = x + relative_std · s_d · ε with ε ~ N(0, 1) i.i.d. and s_d the (population) std of
    dimension d over all time steps and trajectories of `x`. This is the convention of the
    Durstewitz-lab benchmark datasets (e.g. 5% noise: ``relative_std=0.05``), so dimensions on
    different scales get comparable signal-to-noise ratios. Works on the trajectories of any
    system (ODE rollouts or SDE paths); the states themselves are not changed, only observed.

    Args:
        x: trajectories (..., T, D), e.g. (B, T, D); at least 2 dimensions.
        relative_std: noise std as a fraction of each dimension's std (>= 0).
        generator: the source of randomness (advanced by this call). Noise is drawn on the
            generator's device, so the result depends only on its state, not on x's device.
        scale: s, broadcast against x's last dimension, instead of x's own std: e.g. fixed once
            for a store written chunk by chunk, so every chunk gets the same noise level.

    Returns:
        Noisy trajectories, same shape, dtype and device as x.

    Raises:
        ConfigError: for a negative `relative_std` or x with fewer than 2 dimensions.
    """
    if not relative_std >= 0:
        raise ConfigError(f"relative_std must be >= 0 (e.g. 0.05 for 5%), got {relative_std}")
    if x.ndim < 2:
        raise ConfigError(f"x must be trajectories (..., T, D), got shape {tuple(x.shape)}")
    if scale is None:
        scale = x.reshape(-1, x.shape[-1]).std(dim=0, correction=0)  # (D,)
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device)
    return x + relative_std * scale * eps.to(x.device)
