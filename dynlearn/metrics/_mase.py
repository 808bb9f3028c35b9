"""Mean absolute scaled error of the first steps of a forecast (Hyndman & Koehler 2006), as the
DynaMix authors report it over 10 steps (reference/models.md §5.3)."""

from __future__ import annotations

import numpy as np


def mase(forecast: np.ndarray, truth: np.ndarray, context: np.ndarray, horizon: int = 10) -> np.ndarray:
    """MASE of each forecast over its first `horizon` steps, (K,).

    The mean absolute error over those steps and every channel, divided by the mean absolute
    one-step change of the context (the in-sample error of the naive forecast "the next value is
    this one"). A context of one step has no change: the truth's over the same steps scales it.

    Args:
        forecast, truth: (K, T, D), T >= `horizon`.
        context: (K, C, D), what each forecast read.
    """
    error = np.abs(forecast[:, :horizon] - truth[:, :horizon]).mean(axis=(1, 2))
    reference = context if context.shape[1] > 1 else np.concatenate([context, truth[:, :horizon]], axis=1)
    scale = np.abs(np.diff(reference, axis=1)).mean(axis=(1, 2))
    return error / scale
