"""The short-forecast protocol of PhyxMamba (Liu et al. 2025): many short forecasts, two VPTs.

From `cases` test starts (spread over the test trajectories, or along the test period), the
model reads `context` true steps and forecasts `horizon` more. Each forecast gets two valid
prediction times in Lyapunov times: PhyxMamba's ``vpt_smape`` (the first step at which the
cumulative sMAPE over the forecast so far, on the 0-200 scale, exceeds a threshold of 30; in the
data's physical units, as the paper computes it on raw series) and our normalized-error
``vpt_nrmse`` (Vlachas et al.; in train-standardized units). The paper's stores hold 30 points
per Lyapunov time with context 30 and horizon 300 (10 Lyapunov times), so a forecast that never
crosses is censored at 10.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ._errors import DataError
from .data import TIME, TRAJ, layout_of, split_indices
from .metrics import finite_median, vpt, vpt_smape
from .train import fork_rng, model_device


def short_cases(ds: xr.Dataset, *, n_cases: int, length: int) -> np.ndarray:
    """Up to `n_cases` non-overlapping test windows of `length` steps, (K, length, ...).

    Whole-trajectory splits: window i comes from test trajectory ``i mod J`` at its
    ``i // J``-th slot of `length` steps (trajectories first, so few cases still see many
    trajectories); a time split: consecutive windows along its longest test period.

    Raises:
        DataError: the test split cannot hold one window.
    """
    layout = layout_of(ds)
    data = ds[layout.variable]
    if layout.split_dim == TRAJ:
        trajectories = split_indices(ds, "test")
        slots = ds.sizes[TIME] // length
        origins = [(int(trajectories[i % len(trajectories)]), (i // len(trajectories)) * length)
                   for i in range(min(n_cases, slots * len(trajectories)))]
        windows = [data.isel({TRAJ: j, TIME: slice(s, s + length)}).values for j, s in origins]
    else:
        steps = split_indices(ds, "test")
        breaks = np.flatnonzero(np.diff(steps) > 1)
        periods = np.split(steps, breaks + 1)
        period = max(periods, key=len) if len(steps) else steps
        series = data.transpose(TIME, ...).values
        windows = [series[period[0] + s:period[0] + s + length]
                   for s in range(0, len(period) - length + 1, length)][:n_cases]
    if not windows:
        raise DataError(f"the test split holds no window of {length} steps for the short-forecast protocol; "
                        "lower eval.short_context / eval.short_horizon, or store longer test data")
    return np.stack(windows)


@torch.no_grad()
def short_forecast_metrics(model, normalizer, ds: xr.Dataset, *, context: int, horizon: int, n_cases: int,
                           smape_threshold: float, nrmse_threshold: float, lyapunov_time: float | None,
                           seed: int = 0) -> dict:
    """Both VPTs of `model`'s forecasts from the test cases (module docstring).

    Args:
        model: a trained `AbstractModel` (in normalized units).
        normalizer: the run's `Normalizer`.
        ds: its validated store (autonomous).
        lyapunov_time: 1 / λ1 of the truth, as protocol v2 takes it (the catalogue's, else
            Rosenstein's), so both protocols' VPTs share a unit; None: VPTs in time units.
        seed: torch's seed for a stochastic family's forecasts (the caller's RNG is left alone).

    Returns:
        ``context``, ``horizon``, ``n_cases``, ``points_per_lyapunov_time``, medians and spreads
        (median absolute deviation) of ``vpt_smape`` and ``vpt_nrmse``, the mean of
        ``vpt_smape`` (the paper averages over its test cases), censored counts, per-case values.
    """
    windows = short_cases(ds, n_cases=n_cases, length=context + horizon).astype(np.float64)
    dt = float(ds.attrs["dt"])
    unit = "lyapunov_times" if lyapunov_time else "time"
    lyapunov_time = lyapunov_time or 1.0
    z = normalizer.normalize(torch.from_numpy(windows)).numpy()
    param = next(model.parameters())
    contexts = torch.from_numpy(z[:, :context]).to(param.device, param.dtype)
    with fork_rng(model_device(model)):
        torch.manual_seed(seed)
        forecast_z = model.rollout(contexts, horizon).cpu().double().numpy()
    forecast = normalizer.denormalize(torch.from_numpy(forecast_z)).numpy()
    k, truth, truth_z = len(windows), windows[:, context:], z[:, context:]
    flat = (k, horizon, -1)  # field stores compare flattened states
    by_smape = vpt_smape(forecast.reshape(flat), truth.reshape(flat), threshold=smape_threshold,
                         dt=dt, lyapunov_time=lyapunov_time)
    by_nrmse = vpt(forecast_z.reshape(flat), truth_z.reshape(flat), dt=dt, lyapunov_time=lyapunov_time,
                   threshold=nrmse_threshold, std=np.ones(truth_z.reshape(flat).shape[-1]))
    return {
        "context": context,
        "horizon": horizon,
        "n_cases": k,
        "points_per_lyapunov_time": lyapunov_time / dt,
        "vpt_unit": unit,
        "vpt_smape": finite_median(by_smape.lyapunov_times),
        "vpt_smape_mean": float(np.mean(by_smape.lyapunov_times)),
        "vpt_smape_mad": _mad(by_smape.lyapunov_times),
        "vpt_smape_censored": int(np.sum(by_smape.censored)),
        "vpt_nrmse": finite_median(by_nrmse.lyapunov_times),
        "vpt_nrmse_mad": _mad(by_nrmse.lyapunov_times),
        "vpt_nrmse_censored": int(np.sum(by_nrmse.censored)),
        "per_case_vpt_smape": [float(v) for v in by_smape.lyapunov_times],
        "per_case_vpt_nrmse": [float(v) for v in by_nrmse.lyapunov_times],
    }


def _mad(values: np.ndarray) -> float:
    return float(np.median(np.abs(values - np.median(values))))
