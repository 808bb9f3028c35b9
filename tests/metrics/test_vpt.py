"""VPT at constructed crossing indices: NRMSE (Vlachas) and cumulative sMAPE (Gilpin) variants."""

import numpy as np
import pytest
import torch

from dynlearn._errors import DataError
from dynlearn.metrics._vpt import VPT, vpt, vpt_smape

DT, LYAPUNOV_TIME = 0.01, 1 / 0.9056


def _forecast_crossing_at(k, rng, horizon=100, dims=3, std=2.0):
    """(pred, true) whose NRMSE (for attractor std `std`) is 0.5·t/k: it reaches 0.5 exactly at step k."""
    # Quarter-integer truth keeps pred − true exact, so NRMSE(k) is exactly 0.5, not 0.5 − ulp.
    true = rng.integers(-40, 40, size=(horizon, dims)) / 4
    nrmse = 0.5 * np.arange(horizon) / k
    return true + (nrmse * std)[:, None], true  # the same error in every dim: NRMSE = error/std


def test_crossing_index(rng):
    pred, true = _forecast_crossing_at(37, rng)
    got = vpt(pred, true, dt=DT, lyapunov_time=LYAPUNOV_TIME, std=np.full(3, 2.0))
    assert got == VPT(steps=37, lyapunov_times=pytest.approx(37 * DT / LYAPUNOV_TIME), censored=False)
    assert isinstance(got.steps, int) and isinstance(got.censored, bool)


def test_never_crossing_is_censored_at_horizon(rng):
    pred, true = _forecast_crossing_at(500, rng)
    got = vpt(pred, true, dt=DT, lyapunov_time=LYAPUNOV_TIME, std=np.full(3, 2.0))
    assert (got.steps, got.censored) == (100, True)
    assert got.lyapunov_times == pytest.approx(100 * DT / LYAPUNOV_TIME)


def test_nan_counts_as_crossing(rng):
    pred, true = _forecast_crossing_at(500, rng)
    pred[12, 1] = np.nan
    assert vpt(pred, true, dt=DT, lyapunov_time=LYAPUNOV_TIME, std=np.full(3, 2.0)).steps == 12


def test_batched_matches_per_item(rng):
    pairs = [_forecast_crossing_at(k, rng) for k in (5, 60, 400)]
    pred = torch.tensor(np.stack([p for p, _ in pairs]))
    true = np.stack([t for _, t in pairs])
    got = vpt(pred, true, dt=DT, lyapunov_time=LYAPUNOV_TIME, std=np.full(3, 2.0))
    np.testing.assert_array_equal(got.steps, [5, 60, 100])
    np.testing.assert_array_equal(got.censored, [False, False, True])
    np.testing.assert_allclose(got.lyapunov_times, np.array([5, 60, 100]) * DT / LYAPUNOV_TIME)


def test_default_std_is_that_of_true():
    # true alternates ±1 in each dim (std 1), the error is t/8: NRMSE ≥ 0.5 first at t = 4.
    true = np.tile(np.array([[1.0], [-1.0]]), (10, 2))
    pred = true + np.arange(20)[:, None] / 8
    assert vpt(pred, true, dt=1.0, lyapunov_time=1.0).steps == 4


def test_smape_hand_computed():
    # With true = 1 and pred = (1 + a)/(1 − a), |pred − true|/(|pred| + |true|) = a. Per-step
    # ratios 0.1, 0.1, 0.2, 0.3 give cumulative 200·mean = 20, 20, 26.7, 35: crosses 30 at 3.
    a = np.array([0.1, 0.1, 0.2, 0.3, 0.0, 0.0])
    true = np.ones((6, 2))
    pred = np.repeat(((1 + a) / (1 - a))[:, None], 2, axis=1)
    got = vpt_smape(pred, true, points_per_lyapunov_time=30)
    assert got == VPT(steps=3, lyapunov_times=pytest.approx(0.1), censored=False)
    assert vpt_smape(pred, true, dt=0.05, lyapunov_time=1.0).lyapunov_times == pytest.approx(0.15)


def test_smape_threshold_is_strict_and_mean_is_over_dims():
    # Dim 0 ratio |3 − 1|/(3 + 1) = ½, dim 1 ratio 0: sMAPE = 200·¼ = 50 (exactly) at every step.
    true = np.ones((8, 2))
    pred = np.c_[np.full(8, 3.0), np.ones(8)]
    got = vpt_smape(pred, true, threshold=50.0, points_per_lyapunov_time=30)
    assert (got.steps, got.censored) == (8, True)


def test_smape_zero_over_zero_and_nan():
    true = np.zeros((10, 1))
    pred = np.zeros((10, 1))
    assert vpt_smape(pred, true, points_per_lyapunov_time=30).censored
    pred[4] = np.inf
    assert vpt_smape(pred, true, points_per_lyapunov_time=30).steps == 4


def test_rejects_bad_inputs():
    x = np.ones((10, 2))
    with pytest.raises(ValueError, match="both be"):
        vpt(x, x[:, :1], dt=DT, lyapunov_time=1.0)
    with pytest.raises(ValueError, match="std"):
        vpt(x, x, dt=DT, lyapunov_time=1.0)  # true is constant: no std to normalize by
    with pytest.raises(ValueError, match="points_per_lyapunov_time"):
        vpt_smape(x, x)
    with pytest.raises(DataError, match="NaN"):
        vpt(x, np.full_like(x, np.nan), dt=DT, lyapunov_time=1.0, std=np.ones(2))
