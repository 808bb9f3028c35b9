"""Power-spectrum Hellinger distance D_H between two equally long time series."""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter1d

from dynlearn._errors import DataError
from dynlearn.metrics._stsp import as_float64


def d_h(x_true, x_gen, *, smoothing: float = 20.0, cutoff: float | None = None) -> float:
    """Mean over dimensions of the Hellinger distance between smoothed, normalized power spectra.

    Per dimension: z-score over time, power spectrum |rfft|², Gaussian smoothing with std
    ``smoothing`` frequency bins (``scipy.ndimage.gaussian_filter1d``, reflect padding, radius
    4σ; 0 disables it), negatives clipped to 0, normalized to sum 1; then
    H = sqrt(1 − Σ_f sqrt(p_f q_f)), evaluated as (1/√2)‖√p − √q‖₂, which is equal for
    normalized spectra and stays accurate when p ≈ q (the first form loses half the digits).

    A constant series has no spectrum after z-scoring: a dimension where exactly one series is
    constant scores the maximal distance 1, one where both are constant scores 0.

    Pooled over initial conditions (evaluation protocol v2): with a batch (B, T, D) the raw
    spectra of the B series are averaged per dimension before smoothing, so D_H compares the
    mean spectra, whose estimate is B times less noisy than any one series'.

    ``cutoff`` keeps only frequencies up to that fraction of the Nyquist frequency before
    normalizing. Measured data carry a flat tail of observation noise, and a finely sampled
    flow has almost no power there: without a cutoff that tail, not the dynamics, decides D_H.

    From Mikhaeil et al. 2022 (NeurIPS) and Hess et al. 2023 (ICML; GTF-shPLRNN ``pse.jl``),
    with the DynaMix defaults (Hemmer & Durstewitz 2025).

    Args:
        x_true: ground-truth series, shape (T,), (T, D) or (B, T, D); must be finite.
        x_gen: generated series, same shape as ``x_true``.
        smoothing: Gaussian kernel std in frequency bins (20 in the reference settings).
        cutoff: fraction of the Nyquist frequency in (0, 1] kept (None: all frequencies).

    Returns:
        D_H in [0, 1]; NaN if the generated series contains NaN/Inf (a diverged model).

    Raises:
        ValueError: if the shapes differ (the spectra must share frequency bins).
        DataError: if the true series contains NaN/Inf.
    """
    x_true, x_gen = (x[None, :, None] if x.ndim == 1 else x[None] if x.ndim == 2 else x
                     for x in map(as_float64, (x_true, x_gen)))
    if x_true.shape != x_gen.shape or x_true.ndim != 3:
        raise ValueError(
            f"d_h needs two series of the same length and dimension; got shapes {x_true.shape} "
            f"and {x_gen.shape}: crop both to the same number of steps"
        )
    if cutoff is not None and not 0 < cutoff <= 1:
        raise ValueError(f"d_h cutoff is a fraction of the Nyquist frequency in (0, 1]; got {cutoff}")
    if not np.isfinite(x_true).all():
        raise DataError("the true series contains NaN/Inf; drop those steps before D_H")
    if not np.isfinite(x_gen).all():
        return float("nan")

    # A dimension is constant when every series is constant in it.
    const_true = (np.ptp(x_true, axis=1) == 0).all(axis=0)
    const_gen = (np.ptp(x_gen, axis=1) == 0).all(axis=0)
    varying = ~const_true & ~const_gen
    h = np.where(const_true & const_gen, 0.0, 1.0)  # (D,)
    if varying.any():
        p = _spectrum(x_true[..., varying], smoothing, cutoff)
        q = _spectrum(x_gen[..., varying], smoothing, cutoff)
        h[varying] = np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=0))
    return float(np.mean(h))


def _spectrum(x: np.ndarray, smoothing: float, cutoff: float | None) -> np.ndarray:
    """Mean smoothed power spectra normalized to sum 1; x (B, T, D) -> (F, D), F <= T//2 + 1."""
    std = x.std(axis=1, keepdims=True)
    z = (x - x.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)  # a constant series adds 0
    ps = (np.abs(np.fft.rfft(z, axis=1)) ** 2).mean(axis=0)  # (T//2 + 1, D)
    if cutoff is not None:
        ps = ps[: max(2, int(math.floor(cutoff * (ps.shape[0] - 1))) + 1)]
    if smoothing > 0:
        ps = gaussian_filter1d(ps, smoothing, axis=0, mode="reflect", truncate=4.0)
        ps = np.clip(ps, 0.0, None)  # the filter can leave tiny negative round-off
    return ps / ps.sum(axis=0)
