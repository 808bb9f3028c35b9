"""Ensemble forecast skill: the continuous ranked probability score of an ensemble."""

from __future__ import annotations

import numpy as np


def crps_ensemble(members, observed, axis: int = 0) -> np.ndarray:
    """CRPS of the ensemble's empirical distribution: E|X − y| − ½ E|X − X'|.

    X and X' are independent draws from the M members (with replacement), so the estimator is
    (1/M) Σ_i |x_i − y| − (1/2M²) Σ_i Σ_j |x_i − x_j|: the kernel form of the CRPS (Gneiting &
    Raftery 2007, JASA 102:359) for the ensemble as it is, not the "fair" score of an infinite
    ensemble. The double sum is taken on the sorted members, Σ_i Σ_j |x_i − x_j| =
    2 Σ_i (2i − M − 1) x_(i), in O(M log M). 0 for a one-member ensemble equal to the
    observation, |x − y| for one member; in the units of the data, lower is better.

    Args:
        members: the ensemble, with its members along `axis`.
        observed: the observations, the shape of `members` without `axis`.
        axis: the member axis of `members`.

    Returns:
        One score per observation, the shape of `observed`.
    """
    x = np.moveaxis(np.asarray(members, dtype=np.float64), axis, -1)
    y = np.asarray(observed, dtype=np.float64)
    if x.shape[:-1] != y.shape:
        raise ValueError(f"observed must have the shape of members without the member axis: {x.shape[:-1]}, "
                         f"got {y.shape}")
    m = x.shape[-1]
    weights = 2 * np.arange(1, m + 1) - m - 1  # (M,)
    half_spread = (np.sort(x, axis=-1) * weights).sum(axis=-1) / m ** 2
    return np.abs(x - y[..., None]).mean(axis=-1) - half_spread
