"""Power-spectrum Hellinger distance D_H between two equally long time series."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from dynlearn._errors import DataError
from dynlearn.metrics._stsp import as_float64


def d_h(x_true, x_gen, *, smoothing: float = 20.0) -> float:
    """Mean over dimensions of the Hellinger distance between smoothed, normalized power spectra.

    Per dimension: z-score over time, power spectrum |rfft|², Gaussian smoothing with std
    ``smoothing`` frequency bins (``scipy.ndimage.gaussian_filter1d``, reflect padding, radius
    4σ; 0 disables it), negatives clipped to 0, normalized to sum 1; then
    H = sqrt(1 − Σ_f sqrt(p_f q_f)), evaluated as (1/√2)‖√p − √q‖₂, which is equal for
    normalized spectra and stays accurate when p ≈ q (the first form loses half the digits).

    A constant series has no spectrum after z-scoring: a dimension where exactly one series is
    constant scores the maximal distance 1, one where both are constant scores 0.

    From Mikhaeil et al. 2022 (NeurIPS) and Hess et al. 2023 (ICML; GTF-shPLRNN ``pse.jl``),
    with the DynaMix defaults (Hemmer & Durstewitz 2025).

    Args:
        x_true: ground-truth series, shape (T,) or (T, D); must be finite.
        x_gen: generated series, same shape as ``x_true``.
        smoothing: Gaussian kernel std in frequency bins (20 in the reference settings).

    Returns:
        D_H in [0, 1]; NaN if the generated series contains NaN/Inf (a diverged model).

    Raises:
        ValueError: if the shapes differ (the spectra must share frequency bins).
        DataError: if the true series contains NaN/Inf.
    """
    x_true, x_gen = (x[:, None] if x.ndim == 1 else x for x in map(as_float64, (x_true, x_gen)))
    if x_true.shape != x_gen.shape or x_true.ndim != 2:
        raise ValueError(
            f"d_h needs two series of the same length and dimension; got shapes {x_true.shape} "
            f"and {x_gen.shape}: crop both to the same number of steps"
        )
    if not np.isfinite(x_true).all():
        raise DataError("the true series contains NaN/Inf; drop those steps before D_H")
    if not np.isfinite(x_gen).all():
        return float("nan")

    const_true = np.ptp(x_true, axis=0) == 0
    const_gen = np.ptp(x_gen, axis=0) == 0
    varying = ~const_true & ~const_gen
    h = np.where(const_true & const_gen, 0.0, 1.0)  # (D,)
    if varying.any():
        p = _spectrum(x_true[:, varying], smoothing)
        q = _spectrum(x_gen[:, varying], smoothing)
        h[varying] = np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=0))
    return float(np.mean(h))


def _spectrum(x: np.ndarray, smoothing: float) -> np.ndarray:
    """Smoothed power spectra normalized to sum 1; x (T, D) non-constant -> (T//2 + 1, D)."""
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    ps = np.abs(np.fft.rfft(z, axis=0)) ** 2
    if smoothing > 0:
        ps = gaussian_filter1d(ps, smoothing, axis=0, mode="reflect", truncate=4.0)
        ps = np.clip(ps, 0.0, None)  # the filter can leave tiny negative round-off
    return ps / ps.sum(axis=0)
