"""Flood events: return-period discharge thresholds (Gumbel by L-moments) and the F1 of exceedances.

RiverMamba (Shams Eddin et al. 2025, NeurIPS) scores flood forecasts per grid cell and return
period T ∈ {1.5, 2, 5, 10, 20, 50, 100, 200, 500} years: an event is a discharge at or above the
cell's T-year threshold (reference/data_metrics.md §4.1).
"""

from __future__ import annotations

import numpy as np

from dynlearn.metrics._stsp import as_float64


def annual_maxima(series, *, steps_per_year: int) -> np.ndarray:
    """The maximum of each complete block of ``steps_per_year`` steps along axis 0.

    Blocks are counted from the first step and a trailing partial year is dropped; with daily
    data and 365-step blocks the years drift by a day every leap year, which barely moves an
    annual maximum. Pass maxima per (hydrological) calendar year instead when dates matter.

    Args:
        series: (T, ...) discharge; NaN propagates into its year's maximum.
        steps_per_year: steps in one year (365 for daily data).

    Returns:
        Shape (T // steps_per_year, ...).
    """
    x = as_float64(series)
    years = x.shape[0] // steps_per_year if steps_per_year >= 1 else 0
    if years < 1:
        raise ValueError(f"annual_maxima needs at least one year of {steps_per_year} steps; got {x.shape[0]} steps")
    return x[: years * steps_per_year].reshape((years, steps_per_year) + x.shape[1:]).max(axis=1)


def return_period_threshold(maxima, *, period_years) -> np.ndarray:
    """The T-year return level of each cell, from a Gumbel law fitted to its annual maxima.

    Fit by L-moments (Hosking 1990, J. R. Stat. Soc. B 52:105–124; Hosking & Wallis 1997,
    "Regional Frequency Analysis", Cambridge UP): with the sample sorted, x₍₁₎ ≤ … ≤ x₍ₙ₎,
    b₀ = mean, b₁ = (1/n) Σ_j (j − 1)/(n − 1) x₍ⱼ₎, λ₁ = b₀, λ₂ = 2b₁ − b₀; then
    β = λ₂ / ln 2, μ = λ₁ − γ_E β (γ_E = 0.5772…, Euler's constant) and the level exceeded with
    probability 1/T in a year is x_T = μ − β ln(−ln(1 − 1/T)). λ̂₁ and λ̂₂ are unbiased and x_T is
    linear in them, so x̂_T is an unbiased estimate of the Gumbel quantile. L-moments are less
    swayed by one extreme year than the method of moments.

    Args:
        maxima: (Y, ...) annual maxima (``annual_maxima``), Y ≥ 2; a cell with any NaN (off the
            river mask, or a gap) gets NaN.
        period_years: T > 1, a scalar or an array of return periods.

    Returns:
        Shape ``np.shape(period_years) + maxima.shape[1:]``.
    """
    x, period = as_float64(maxima), as_float64(period_years)
    if x.ndim < 1 or x.shape[0] < 2:
        raise ValueError(f"return_period_threshold needs at least 2 annual maxima along axis 0; got shape {x.shape}")
    if not np.all(period > 1):
        raise ValueError(f"return periods must exceed 1 year; got {period_years}")
    x = np.sort(x, axis=0)  # a NaN sorts last and poisons its cell's sums
    n = x.shape[0]
    weights = (np.arange(n) / (n - 1)).reshape((n,) + (1,) * (x.ndim - 1))
    b0, b1 = x.mean(axis=0), (weights * x).mean(axis=0)
    beta = (2 * b1 - b0) / np.log(2.0)
    mu = b0 - np.euler_gamma * beta
    reduced = -np.log(-np.log1p(-1.0 / period)).reshape(period.shape + (1,) * (x.ndim - 1))
    return mu + beta * reduced


def flood_f1(simulated, observed, threshold) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN) of flood events along axis 0, one value per cell.

    An event is a time step with discharge ≥ the cell's threshold; hits are counted per time
    step, not per flood: TP steps where both series are at or above it, FP where only the
    simulation is, FN where only the observation is. This equals 2PR/(P + R) with precision
    P = TP/(TP + FP) and recall R = TP/(TP + FN), RiverMamba's definition. A NaN discharge or
    threshold is never an event.

    Args:
        simulated, observed: (T, ...) discharge of the same shape.
        threshold: broadcastable to ``observed.shape[1:]``, e.g. ``return_period_threshold``.

    Returns:
        Shape ``observed.shape[1:]``; NaN for a cell with no event in either series.
    """
    s, o = as_float64(simulated), as_float64(observed)
    if s.shape != o.shape or s.ndim < 1:
        raise ValueError(f"simulated and observed must have one shape (T, ...); got {s.shape} and {o.shape}")
    level = as_float64(threshold)
    with np.errstate(invalid="ignore"):
        hit_s, hit_o = s >= level, o >= level
    tp = (hit_s & hit_o).sum(axis=0)
    wrong = (hit_s != hit_o).sum(axis=0)  # FP + FN
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(2 * tp + wrong > 0, 2 * tp / (2 * tp + wrong), np.nan)
