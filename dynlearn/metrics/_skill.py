"""Forecast skill of driven systems (hydrology): Nash–Sutcliffe and Kling–Gupta efficiencies.

A driven system (a river basin under its weather) has no attractor of its own to compare; its
forecasts are scored against the observations, series by series, by lead time.
"""

from __future__ import annotations

import numpy as np


def nse(simulated, observed) -> np.ndarray:
    """Nash–Sutcliffe efficiency along axis 0: 1 − Σ(s − o)² / Σ(o − ō)².

    1 is a perfect forecast, 0 is as good as the observed mean, below 0 worse (Nash & Sutcliffe
    1970). NaN for a series with no variance.

    Args:
        simulated, observed: (T, ...) arrays of the same shape.

    Returns:
        One value per series, shape ``observed.shape[1:]``.
    """
    s, o = _pair(simulated, observed)
    spread = ((o - o.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0, 1.0 - ((s - o) ** 2).sum(axis=0) / spread, np.nan)


def kge(simulated, observed) -> np.ndarray:
    """Kling–Gupta efficiency along axis 0: 1 − √((r − 1)² + (α − 1)² + (β − 1)²).

    r the correlation, α = σ_s / σ_o the variability ratio, β = μ_s / μ_o the bias ratio
    (Gupta, Kling, Yilmaz & Martinez 2009). 1 is perfect; the observed mean scores 1 − √2 in
    the limit (r undefined, taken as 0). NaN for a series with no variance or a zero mean.
    NeuralHydrology's ``kge`` (weights 1); compare ``kge_prime``.

    Args:
        simulated, observed: (T, ...) arrays of the same shape.

    Returns:
        One value per series, shape ``observed.shape[1:]``.
    """
    r, sd_s, sd_o, mu_s, mu_o = _moments(*_pair(simulated, observed))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 1.0 - np.sqrt((r - 1) ** 2 + (sd_s / sd_o - 1) ** 2 + (mu_s / mu_o - 1) ** 2)
    return np.where((sd_o > 0) & (mu_o != 0), value, np.nan)


def kge_prime(simulated, observed) -> np.ndarray:
    """Modified Kling–Gupta efficiency KGE′ along axis 0: 1 − √((r − 1)² + (β − 1)² + (γ − 1)²).

    γ = (σ_s/μ_s) / (σ_o/μ_o), the ratio of coefficients of variation, replaces KGE's α so that
    bias and variability errors no longer overlap: a scaled forecast c·o keeps γ = 1 and is
    charged once, through β = c (Kling, Fuchs & Paulin 2012, J. Hydrol. 424–425:264–277). The
    score RiverMamba reports. Conventions as ``kge``; also NaN where μ_s = 0 (γ undefined).

    Args:
        simulated, observed: (T, ...) arrays of the same shape.

    Returns:
        One value per series, shape ``observed.shape[1:]``.
    """
    r, sd_s, sd_o, mu_s, mu_o = _moments(*_pair(simulated, observed))
    with np.errstate(divide="ignore", invalid="ignore"):
        beta, gamma = mu_s / mu_o, (sd_s / mu_s) / (sd_o / mu_o)
        value = 1.0 - np.sqrt((r - 1) ** 2 + (beta - 1) ** 2 + (gamma - 1) ** 2)
    return np.where((sd_o > 0) & (mu_o != 0) & (mu_s != 0), value, np.nan)


def median_over_cells(score, simulated, observed) -> float:
    """`score` (`nse`, `kge` or `kge_prime`) of every cell's series, the median over the cells where it is
    finite: one number for a basin; NaN for fewer than 2 times or no finite score.

    Args:
        simulated, observed: (T, cells) arrays, NaN-free (drop the cells off a mask first).
    """
    if np.shape(observed)[0] < 2:
        return float("nan")
    return finite_median(score(simulated, observed))


def finite_median(values) -> float:
    """The median of the finite entries of `values`; NaN when there is none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def _moments(s: np.ndarray, o: np.ndarray):
    """Correlation (0 for a constant simulation), standard deviations and means along axis 0."""
    mu_s, mu_o = s.mean(axis=0), o.mean(axis=0)
    ds, do = s - mu_s, o - mu_o
    sd_s, sd_o = np.sqrt((ds ** 2).mean(axis=0)), np.sqrt((do ** 2).mean(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(sd_s > 0, (ds * do).mean(axis=0) / (sd_s * sd_o), 0.0)
    return r, sd_s, sd_o, mu_s, mu_o


def _pair(simulated, observed) -> tuple[np.ndarray, np.ndarray]:
    s, o = np.asarray(simulated, dtype=np.float64), np.asarray(observed, dtype=np.float64)
    if s.shape != o.shape or s.ndim < 1 or s.shape[0] < 2:
        raise ValueError(f"simulated and observed must have one shape (T >= 2, ...); got {s.shape} and {o.shape}")
    return s, o
