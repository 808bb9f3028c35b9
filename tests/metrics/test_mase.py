"""MASE on cases with known answers."""

import numpy as np
import pytest

from dynlearn.metrics import mase


def test_persistence_on_a_ramp_has_mase_of_half_the_horizon_plus_one():
    # Context s·t for t < T; truth s·t for t >= T; the forecast repeats the last context value.
    # Its errors are s·1, s·2, ..., s·h; the naive in-sample error is s: MASE = (h + 1) / 2.
    s, T, h = 0.3, 50, 10
    t = np.arange(T + h, dtype=float)
    series = np.stack([s * t, -2 * s * t], axis=-1)[None]  # two channels, the second twice as steep
    context, truth = series[:, :T], series[:, T:]
    forecast = np.repeat(context[:, -1:], h, axis=1)
    assert mase(forecast, truth, context, horizon=h) == pytest.approx([(h + 1) / 2])


def test_a_perfect_forecast_has_mase_zero_and_a_one_step_context_is_scaled_by_the_truth():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((3, 12, 2)).cumsum(axis=1)
    assert np.all(mase(truth, truth, truth[:, :5]) == 0)
    context = truth[:, :1] - 1.0
    shifted = truth + 0.5
    scale = np.abs(np.diff(np.concatenate([context, truth[:, :10]], axis=1), axis=1)).mean(axis=(1, 2))
    np.testing.assert_allclose(mase(shifted, truth, context), 0.5 / scale)
