"""Zero-shot forecasting with a pretrained DynaMix: any series, from its context alone.

The corpus DynaMix learns from (`dynlearn.data.build_corpus`) has every sequence standardized by
its own statistics, so a context is standardized the same way before the model reads it and the
forecast is mapped back (the authors' forecaster does the same, reference/models.md §5.1). A
series of fewer channels than the model's N is filled up with delayed copies of its channels,
τ steps apart, τ the first lag where a channel's autocorrelation falls below 1/e (the authors'
`delay_embedding` option); only its own channels are returned. Nothing is optimized: parameters
and state are left as they are, and the rollout runs under `torch.inference_mode`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from dynlearn._errors import DataError
from dynlearn.data import delay_embed
from dynlearn.metrics import decorrelation_lag

MIN_CONTEXT = 10  # context steps the gate reads (after a delay fill): fewer leave it nothing to attend to


class ContextStandardized(nn.Module):
    """A pretrained DynaMix judged like any model (`dynlearn._evaluate`): every context is
    standardized by its own mean and std per channel, the forecast mapped back.

    Its rollout takes contexts (B, Tc, N) in any units and returns (B, n_steps, N) in the same.
    """

    layout: ClassVar[str] = "vector"
    has_lyapunov: ClassVar[bool] = False  # DynaMix has no step Jacobian (and steps with gating noise)
    has_jacobian: ClassVar[bool] = False

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def rollout(self, context: Tensor, n_steps: int, u: Tensor | None = None) -> Tensor:
        mean, std = context.mean(dim=1, keepdim=True), context.std(dim=1, keepdim=True).clamp_min(1e-12)
        return self.model.rollout((context - mean) / std, n_steps) * std + mean


def delay_lag(x: np.ndarray) -> int:
    """The first lag where the autocorrelation of the 1-D series `x` falls below 1/e (>= 1)."""
    return decorrelation_lag(x[:, None], level=1 / np.e)


def fill_channels(context: np.ndarray, n: int) -> np.ndarray:
    """Contexts (B, T, D), D <= n, as (B, T - k·τ, n): the D channels, then delayed copies of them in
    turn (channel i mod D, delayed by τ, 2τ, ...), τ the largest `delay_lag` of the first context's
    channels: the first n columns of the delay vectors (`delay_embed`), newest block first."""
    b, t, d = context.shape
    if d == n:
        return context
    tau = max(delay_lag(context[0, :, i]) for i in range(d))
    m = 1 + -(-(n - d) // d)  # delays needed for n - d more columns
    if t - (m - 1) * tau < MIN_CONTEXT:
        raise DataError(f"the context has {t} steps; filling {d} channel(s) up to the model's {n} with delays of "
                        f"{tau} steps needs at least {(m - 1) * tau + MIN_CONTEXT}: give a longer context")
    vectors = np.stack([delay_embed(c, m, tau) for c in context]).reshape(b, -1, m, d)
    return np.ascontiguousarray(vectors[:, :, ::-1].reshape(b, -1, m * d)[..., :n])  # torch reads no negative strides


def zero_shot_forecast(model: nn.Module, context: np.ndarray, n_steps: int, *, seed: int = 0) -> np.ndarray:
    """Forecasts (B, n_steps, D) from contexts (B, T, D), D <= the model's N, in the contexts' units.

    Raises:
        DataError: too few context steps, NaN/Inf in a context, or more channels than the model reads.
    """
    b, t, d = context.shape
    n = model.obs_dim
    if d > n:
        raise DataError(f"the series has {d} channels and the model reads at most {n}; forecast the channels one "
                        "by one with forecast.channels=independent")
    if not np.isfinite(context).all():
        raise DataError("the context has NaN or Inf values; fill or cut the gaps before forecasting")
    if t < MIN_CONTEXT:
        raise DataError(f"the context has {t} steps; give at least {MIN_CONTEXT} (DynaMix reads 2,000 best)")
    filled = fill_channels(context.astype(np.float64), n)
    flat = filled.std(axis=1) == 0
    if flat.any():
        raise DataError("a context channel is constant; nothing to forecast from it (drop the channel)")
    parameter = next(model.parameters())
    with torch.inference_mode(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the gating noise: the same forecast for the same seed
        x = torch.from_numpy(filled).to(parameter.device, parameter.dtype)
        forecast = ContextStandardized(model).rollout(x, n_steps)
    return forecast[..., :d].double().cpu().numpy()
