"""Short-horizon prediction error, the Koopman literature's figure of merit."""

from __future__ import annotations

import numpy as np


def horizon_mse(predicted, truth, horizon: int) -> float:
    """Mean squared prediction error over the first `horizon` steps: the squared Euclidean error
    ‖x̂_t − x_t‖² (summed over dimensions) averaged over steps 1..horizon and cases.

    The "MSE at 100 steps" of Fathi et al. (2024), Course Correcting Koopman Representations,
    ICLR, as reimplemented in public code (per-step squared L2 norm, mean over the horizon, then
    over initial conditions); papers print it ×100. Compute it in the data's own units.

    Args:
        predicted, truth: (K, T, D) arrays with T >= horizon, the steps after each initial condition.
        horizon: steps averaged over.

    Returns:
        The mean (NaN if any prediction in the horizon is not finite).

    Raises:
        ValueError: shapes differ or are shorter than the horizon.
    """
    p, t = np.asarray(predicted, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 3 or p.shape[1] < horizon or horizon < 1:
        raise ValueError(f"horizon_mse needs two (K, T >= {horizon}, D) arrays of one shape, "
                         f"got {p.shape} and {t.shape}")
    error = ((p[:, :horizon] - t[:, :horizon]) ** 2).sum(axis=2)  # (K, horizon)
    return float(error.mean()) if np.isfinite(error).all() else float("nan")
