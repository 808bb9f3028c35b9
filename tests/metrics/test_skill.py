"""NSE, KGE and KGE′ on series whose scores are known in closed form."""

import numpy as np
import pytest

from dynlearn.metrics import kge, kge_prime, nse

RNG = np.random.default_rng(0)
OBS = RNG.gamma(2.0, 3.0, size=(400, 5)) + 1.0  # positive, skewed, like discharge


def test_perfect_forecast_scores_one():
    np.testing.assert_allclose(nse(OBS, OBS), 1.0)
    np.testing.assert_allclose(kge(OBS, OBS), 1.0)
    np.testing.assert_allclose(kge_prime(OBS, OBS), 1.0)


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


def test_nse_of_a_scaled_forecast_is_closed_form():
    # s − o = (c − 1)·o, so NSE = 1 − (c − 1)² Σo² / Σ(o − ō)²
    c = 1.3
    spread = ((OBS - OBS.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(nse(c * OBS, OBS), 1.0 - (c - 1) ** 2 * (OBS ** 2).sum(0) / spread, rtol=1e-12)


def test_kge_prime_of_a_scaled_forecast_charges_the_bias_once():
    # s = c·o: r = 1, γ = (cσ/cμ)/(σ/μ) = 1, β = c, so KGE′ = 1 − |c − 1| (KGE charges it twice)
    for c in (0.5, 1.3):
        np.testing.assert_allclose(kge_prime(c * OBS, OBS), 1.0 - abs(c - 1.0), rtol=1e-12)


def test_kge_prime_of_a_shifted_forecast_is_closed_form():
    # s = o + b: r = 1, β = 1 + b/μ, γ = (σ/(μ + b))/(σ/μ) = μ/(μ + b)
    b, mu = 1.5, OBS.mean(axis=0)
    expected = 1.0 - np.sqrt((b / mu) ** 2 + (mu / (mu + b) - 1.0) ** 2)
    np.testing.assert_allclose(kge_prime(OBS + b, OBS), expected, rtol=1e-12)


@pytest.mark.parametrize("period", [7, 20, 50])
def test_persistence_of_a_sinusoid_is_closed_form(period):
    # o_t = m + sin(ωt + θ) over whole periods, persistence s_t = o_{t−1}:
    # o_t − o_{t−1} = 2 sin(ω/2) cos(ωt − ω/2 + θ), so Σ(s − o)² = 4 sin²(ω/2)·N/2 and, with
    # Σ(o − ō)² = N/2, NSE = 1 − 4 sin²(ω/2) = 1 − 2(1 − cos ω). The lag-1 correlation of a
    # sinusoid is cos ω and persistence keeps its mean and spread (α = β = γ = 1), so
    # KGE = KGE′ = 1 − (1 − cos ω) = cos ω.
    omega, n = 2 * np.pi / period, 10 * period
    t = np.arange(-1, n)
    series = 3.0 + np.sin(omega * t + 0.4)
    observed, persistence = series[1:, None], series[:-1, None]
    np.testing.assert_allclose(nse(persistence, observed), 1.0 - 2.0 * (1.0 - np.cos(omega)), atol=1e-12)
    np.testing.assert_allclose(kge(persistence, observed), np.cos(omega), atol=1e-12)
    np.testing.assert_allclose(kge_prime(persistence, observed), np.cos(omega), atol=1e-12)


def test_kge_prime_needs_a_nonzero_simulated_mean():
    zero_mean = np.tile([[-1.0], [1.0]], (OBS.shape[0] // 2, OBS.shape[1]))  # mean exactly 0
    assert np.isnan(kge_prime(zero_mean, OBS)).all()


def test_constant_observations_have_no_score_and_shapes_must_match():
    flat = np.ones((10, 2))
    assert np.isnan(nse(flat, flat)).all() and np.isnan(kge(flat, flat)).all()
    assert np.isnan(kge_prime(flat, flat)).all()
    with pytest.raises(ValueError, match="one shape"):
        nse(OBS[:, :2], OBS)
