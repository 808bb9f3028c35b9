"""Skill of field forecasts: relative L2 error, spatial correlation and the correlation time.

A field is the trailing ``spatial_dims`` axes of an array (channels-first, so a (C, Y, X) field
has ``spatial_dims=3`` when its channels are pooled, 2 when they are scored one by one). Cells
where the truth is NaN (off a river mask) or where ``mask`` is False count in no sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynlearn.metrics._stsp import as_float64


def relative_l2(pred, true, *, spatial_dims: int, mask=None) -> np.ndarray:
    """Relative L2 error ‖pred − true‖₂ / ‖true‖₂ of each field, as neuraloperator's ``LpLoss``.

    The norms run over the last ``spatial_dims`` axes. neuraloperator's ``LpLoss.abs`` scales
    the p-norm by the quadrature weight (∏ h_i)^(1/p) of a uniform grid; the same factor
    multiplies numerator and denominator, so the relative form has none (``LpLoss.rel`` applies
    none) and a smooth field scores the same on any grid fine enough to resolve it. This is the
    unsquared ratio of the FNO paper (Li et al. 2021, ICLR; ``utilities3.py LpLoss.rel``), i.e.
    ``LpLoss.rel(..., squared=False)`` in neuraloperator 2.x, whose default is the square.

    Args:
        pred: forecast, shape (..., *field) with ``field`` the last ``spatial_dims`` axes.
        true: truth, same shape; NaN marks cells off the domain.
        spatial_dims: number of trailing axes that form one field (≥ 1).
        mask: optional boolean array broadcastable to ``true``; False drops a cell.

    Returns:
        One value per field, shape ``true.shape[:-spatial_dims]``; NaN where the true field is
        zero (no scale) or the forecast is NaN at a counted cell.
    """
    pred, true, kept, axes = _fields(pred, true, spatial_dims, mask)
    error = np.sqrt(np.sum(np.where(kept, pred - true, 0.0) ** 2, axis=axes))
    scale = np.sqrt(np.sum(np.where(kept, true, 0.0) ** 2, axis=axes))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, error / scale, np.nan)


def relative_l2_by_lead(pred, true, *, mask=None) -> np.ndarray:
    """Relative L2 error at each lead time, the mean over samples.

    The mean (not neuraloperator's default sum over the batch, meant for a training loss) is
    what the FNO paper reports for its test sets (Li et al. 2021, Table 1).

    Args:
        pred: forecast, shape (B, T, *field); everything after T is one field.
        true: truth, same shape; NaN marks cells off the domain.
        mask: optional boolean array broadcastable to ``true``; False drops a cell.

    Returns:
        Shape (T,); NaN at a lead where any sample is NaN (a diverged forecast).
    """
    true = as_float64(true)
    if true.ndim < 3:
        raise ValueError(f"relative_l2_by_lead needs fields of shape (B, T, *field); got {true.shape}")
    return relative_l2(pred, true, spatial_dims=true.ndim - 2, mask=mask).mean(axis=0)


def spatial_correlation(pred, true, *, spatial_dims: int, mask=None) -> np.ndarray:
    """Pearson correlation between each forecast field and its truth, over space.

    ρ = Σ (p − p̄)(t − t̄) / √(Σ (p − p̄)² Σ (t − t̄)²), means and sums over the counted cells:
    the vorticity correlation of Kochkov et al. 2021 (PNAS; jax-cfd ``state_correlation``,
    which normalizes each field over the spatial dims before the product).

    Args:
        pred: forecast, shape (..., *field) with ``field`` the last ``spatial_dims`` axes.
        true: truth, same shape; NaN marks cells off the domain.
        spatial_dims: number of trailing axes that form one field (≥ 1).
        mask: optional boolean array broadcastable to ``true``; False drops a cell.

    Returns:
        Shape ``true.shape[:-spatial_dims]``; NaN where either field is constant or the
        forecast is NaN at a counted cell.
    """
    pred, true, kept, axes = _fields(pred, true, spatial_dims, mask)
    count = kept.sum(axis=axes, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p, t = (np.where(kept, x - np.where(kept, x, 0.0).sum(axis=axes, keepdims=True) / count, 0.0)
                for x in (pred, true))  # anomalies, 0 off the domain
        spread = np.sqrt(np.sum(p ** 2, axis=axes) * np.sum(t ** 2, axis=axes))
        return np.where(spread > 0, np.sum(p * t, axis=axes) / spread, np.nan)


@dataclass(frozen=True)
class CorrelationTime:
    """How long forecast fields stay correlated with the truth; arrays of shape (B,).

    Attributes:
        steps: leading forecast steps whose correlation is at least the threshold (the index
            of the first step below it).
        time: the lead time of the first step below the threshold, ``(steps + 1) · dt``; where
            censored, the horizon ``T · dt``, a lower bound.
        censored: True where the correlation never dropped below the threshold.
    """

    steps: np.ndarray
    time: np.ndarray
    censored: np.ndarray


def correlation_time(pred, true, *, dt: float, threshold: float = 0.95, mask=None) -> CorrelationTime:
    """Per sample, the first lead time at which the spatial correlation drops below ``threshold``.

    The vorticity correlation time of Kochkov et al. 2021 ("Machine learning–accelerated
    computational fluid dynamics", PNAS 118, e2101784118), "time until correlation < 0.95";
    ``pred[:, 0]`` is one ``dt`` after the initial condition. A NaN correlation (a diverged or
    constant forecast) counts as below. Kochkov et al. threshold the sample-mean correlation;
    this is per sample, so take the median of ``time`` to summarize and report ``censored``.

    Args:
        pred: forecast, shape (B, T, *field); everything after T is one field.
        true: truth, same shape; NaN marks cells off the domain.
        dt: time between forecast steps.
        threshold: correlation below which the forecast has lost the flow (0.95 as Kochkov).
        mask: optional boolean array broadcastable to ``true``; False drops a cell.

    Returns:
        A ``CorrelationTime``.
    """
    true = as_float64(true)
    if true.ndim < 3:
        raise ValueError(f"correlation_time needs fields of shape (B, T, *field); got {true.shape}")
    rho = spatial_correlation(pred, true, spatial_dims=true.ndim - 2, mask=mask)  # (B, T)
    below = ~(rho >= threshold)
    censored = ~below.any(axis=1)
    steps = np.where(censored, below.shape[1], below.argmax(axis=1))
    return CorrelationTime(steps, np.where(censored, steps, steps + 1) * dt, censored)


def _fields(pred, true, spatial_dims: int, mask):
    """float64 pair, the counted cells (finite truth and ``mask``), and the field axes."""
    pred, true = as_float64(pred), as_float64(true)
    if pred.shape != true.shape or not 1 <= spatial_dims <= true.ndim:
        raise ValueError(
            f"pred and true must have one shape with at least spatial_dims={spatial_dims} >= 1 "
            f"axes; got {pred.shape} and {true.shape}"
        )
    kept = np.isfinite(true)
    if mask is not None:
        try:
            kept &= np.broadcast_to(np.asarray(mask, dtype=bool), true.shape)
        except ValueError:
            raise ValueError(f"mask of shape {np.shape(mask)} does not broadcast to the fields' {true.shape}") from None
    return pred, true, kept, tuple(range(-spatial_dims, 0))
