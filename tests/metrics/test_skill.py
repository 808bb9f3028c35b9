"""NSE and KGE on series whose scores are known in closed form."""

import numpy as np
import pytest

from dynlearn.metrics import kge, nse

RNG = np.random.default_rng(0)
OBS = RNG.gamma(2.0, 3.0, size=(400, 5)) + 1.0  # positive, skewed, like discharge


def test_perfect_forecast_scores_one():
    np.testing.assert_allclose(nse(OBS, OBS), 1.0)
    np.testing.assert_allclose(kge(OBS, OBS), 1.0)


def test_the_observed_mean_scores_zero_nse():
    np.testing.assert_allclose(nse(np.broadcast_to(OBS.mean(0), OBS.shape), OBS), 0.0, atol=1e-12)


def test_nse_of_an_offset_is_one_minus_offset_squared_over_variance():
    np.testing.assert_allclose(nse(OBS + 2.0, OBS), 1.0 - 4.0 / OBS.var(axis=0), rtol=1e-12)


def test_kge_of_a_scaled_forecast_is_closed_form():
    # s = c·o: r = 1, α = c, β = c, so KGE = 1 − √2 |c − 1|
    for c in (0.5, 1.3):
        np.testing.assert_allclose(kge(c * OBS, OBS), 1.0 - np.sqrt(2.0) * abs(c - 1.0), rtol=1e-12)


def test_kge_of_a_shifted_forecast_is_closed_form():
    # s = o + b: r = 1, α = 1, β = 1 + b/μ
    np.testing.assert_allclose(kge(OBS + 1.5, OBS), 1.0 - 1.5 / OBS.mean(axis=0), rtol=1e-12)


def test_constant_observations_have_no_score_and_shapes_must_match():
    flat = np.ones((10, 2))
    assert np.isnan(nse(flat, flat)).all() and np.isnan(kge(flat, flat)).all()
    with pytest.raises(ValueError, match="one shape"):
        nse(OBS[:, :2], OBS)
