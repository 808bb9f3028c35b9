"""Valid prediction time: how long a forecast stays close to the truth, in Lyapunov times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynlearn._errors import DataError
from dynlearn.metrics._stsp import as_float64


@dataclass(frozen=True)
class VPT:
    """A valid prediction time; scalars for one forecast, arrays of shape (B,) for a batch.

    Attributes:
        steps: number of forecast steps before the first crossing (the crossing's index).
        lyapunov_times: ``steps`` in Lyapunov times.
        censored: True where the error never crossed; ``steps`` is then the horizon T, a lower
            bound on the true VPT.
    """

    steps: int | np.ndarray
    lyapunov_times: float | np.ndarray
    censored: bool | np.ndarray


def vpt(pred, true, *, dt: float, lyapunov_time: float, threshold: float = 0.5, std=None) -> VPT:
    """Valid prediction time under the normalized RMSE of Vlachas et al. 2020 (Neural Networks).

    NRMSE(t) = sqrt(mean_d (pred_d(t) − true_d(t))² / σ_d²); the VPT is the index of the first
    t with NRMSE(t) ≥ ``threshold`` or a non-finite prediction, i.e. the number of valid steps
    when ``pred[0]`` is the first forecast step (one ``dt`` after the initial condition).

    Args:
        pred: forecast, shape (T, D) or (B, T, D).
        true: ground truth, same shape.
        dt: time between steps.
        lyapunov_time: 1/λ_max of the system, in the units of ``dt``.
        threshold: NRMSE at which the forecast stops being valid (0.5 as Vlachas et al.).
        std: attractor std per dimension, shape (D,), ideally from the training data. Default:
            the std of ``true`` pooled over batch and time, which underestimates the attractor
            std for short horizons and so shortens the VPT.

    Returns:
        A ``VPT``; ``lyapunov_times = steps · dt / lyapunov_time``.

    Raises:
        ValueError: on mismatched shapes or a zero/non-finite std.
        DataError: if ``true`` contains NaN/Inf.
    """
    pred, true = _forecast_pair(pred, true)
    std = true.reshape(-1, true.shape[-1]).std(axis=0) if std is None else as_float64(std)
    if std.shape != (true.shape[-1],) or not np.all(std > 0) or not np.isfinite(std).all():
        raise ValueError(f"vpt needs a positive finite std of shape ({true.shape[-1]},); got {std}: pass std")
    with np.errstate(invalid="ignore", over="ignore"):
        nrmse = np.sqrt(np.mean(((pred - true) / std) ** 2, axis=-1))  # (..., T)
    return _first_crossing(~(nrmse < threshold), dt / lyapunov_time)


def vpt_smape(
    pred,
    true,
    *,
    threshold: float = 30.0,
    points_per_lyapunov_time: float | None = None,
    dt: float | None = None,
    lyapunov_time: float | None = None,
) -> VPT:
    """Valid prediction time under the cumulative sMAPE of Gilpin 2023 and Zhang & Gilpin 2025.

    sMAPE(t) = 200 · mean over steps ≤ t and dimensions of |pred − true| / (|pred| + |true|)
    (the 0–200 scale; 0/0 counts as 0); the VPT is the first index where it exceeds
    ``threshold``, or where the forecast is non-finite. As in PhyxMamba's ``vpt_smape``; their
    data have 30 points per Lyapunov time, so pass ``points_per_lyapunov_time=30`` to match.

    Args:
        pred: forecast, shape (T, D) or (B, T, D).
        true: ground truth, same shape.
        threshold: cumulative sMAPE (0–200 scale) at which the forecast stops being valid.
        points_per_lyapunov_time: samples per Lyapunov time; or give ``dt`` and ``lyapunov_time``.
        dt: time between steps (with ``lyapunov_time``).
        lyapunov_time: 1/λ_max of the system (with ``dt``).

    Returns:
        A ``VPT``.

    Raises:
        ValueError: on mismatched shapes or unless exactly one time scale is given.
        DataError: if ``true`` contains NaN/Inf.
    """
    if (points_per_lyapunov_time is None) == (dt is None or lyapunov_time is None):
        raise ValueError("vpt_smape needs either points_per_lyapunov_time or both dt and lyapunov_time")
    scale = 1.0 / points_per_lyapunov_time if points_per_lyapunov_time is not None else dt / lyapunov_time
    pred, true = _forecast_pair(pred, true)
    num, den = np.abs(pred - true), np.abs(pred) + np.abs(true)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(den == 0, 0.0, num / den)  # both exactly 0: a perfect match; inf/inf: NaN
    per_step = ratio.mean(axis=-1)  # (..., T); a NaN poisons every later prefix
    cumulative = 200.0 * np.cumsum(per_step, axis=-1) / np.arange(1, per_step.shape[-1] + 1)
    return _first_crossing(~(cumulative <= threshold), scale)


def _forecast_pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    pred, true = as_float64(pred), as_float64(true)
    if pred.shape != true.shape or pred.ndim not in (2, 3):
        raise ValueError(f"pred and true must both be (T, D) or (B, T, D); got {pred.shape}, {true.shape}")
    if not np.isfinite(true).all():
        raise DataError("the true trajectory contains NaN/Inf; drop it before computing the VPT")
    return pred, true


def _first_crossing(crossed: np.ndarray, lyapunov_times_per_step: float) -> VPT:
    """VPT from a (..., T) boolean 'error crossed' mask; T where it never crosses (censored)."""
    censored = ~crossed.any(axis=-1)
    steps = np.where(censored, crossed.shape[-1], crossed.argmax(axis=-1))
    if steps.ndim == 0:
        return VPT(int(steps), float(steps * lyapunov_times_per_step), bool(censored))
    return VPT(steps, steps * lyapunov_times_per_step, censored)
