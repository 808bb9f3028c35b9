"""Return-period thresholds on Gumbel samples and flood F1 on hand-built event series."""

import math

import numpy as np
import pytest

from dynlearn.metrics import annual_maxima, flood_f1, return_period_threshold

MU, BETA = 100.0, 30.0  # Gumbel location and scale (discharge units)
PERIODS = np.array([1.5, 2.0, 10.0, 100.0])


def gumbel_quantile(period):
    return MU - BETA * np.log(-np.log(1.0 - 1.0 / period))


def test_fitted_return_levels_are_unbiased_on_gumbel_samples():
    # x̂_T is linear in the unbiased L-moments λ̂₁, λ̂₂, so its mean over independent cells is the
    # true quantile up to sampling noise: within 4 standard errors of that mean.
    maxima = np.random.default_rng(0).gumbel(MU, BETA, size=(50, 4000))  # 50 years, 4000 cells
    fitted = return_period_threshold(maxima, period_years=PERIODS)  # (4, 4000)
    standard_error = fitted.std(axis=1, ddof=1) / math.sqrt(fitted.shape[1])
    assert np.all(np.abs(fitted.mean(axis=1) - gumbel_quantile(PERIODS)) < 4 * standard_error)
    # a long record pins the quantile itself: over 20,000 years the estimate's standard error
    # is 0.2–0.4 % of these quantiles (measured over 300 records), so 1 % is ≥ 2.6 of them
    long = return_period_threshold(np.random.default_rng(1).gumbel(MU, BETA, size=20_000), period_years=PERIODS)
    np.testing.assert_allclose(long, gumbel_quantile(PERIODS), rtol=0.01)


def test_l_moment_scale_is_half_the_gini_mean_difference():
    # λ₂ = ½ E|X − X'|, evaluated on the sample as the mean over distinct pairs; then
    # β = λ₂/ln 2, μ = mean − γ_E β and x_T = μ − β ln(−ln(1 − 1/T)).
    x = np.random.default_rng(2).gumbel(MU, BETA, size=37)
    lambda2 = 0.5 * np.abs(x[:, None] - x[None, :]).sum() / (x.size * (x.size - 1))
    beta = lambda2 / math.log(2)
    expected = x.mean() - np.euler_gamma * beta - beta * np.log(-np.log(1 - 1 / PERIODS))
    np.testing.assert_allclose(return_period_threshold(x, period_years=PERIODS), expected, rtol=1e-12)


def test_annual_maxima_take_complete_years_and_nan_cells_stay_nan():
    series = np.arange(10.0 * 2).reshape(10, 2)  # 3 complete years of 3 steps, 1 step dropped
    np.testing.assert_array_equal(annual_maxima(series, steps_per_year=3), [[4, 5], [10, 11], [16, 17]])
    maxima = np.column_stack([np.arange(5.0), np.full(5, np.nan)])
    assert np.isnan(return_period_threshold(maxima, period_years=2.0)[1])
    with pytest.raises(ValueError, match="exceed 1 year"):
        return_period_threshold(maxima, period_years=1.0)


def test_flood_f1_counts_hits_per_time_step():
    threshold = np.array([4.0, 4.0, 4.0, 4.0])
    observed = np.array([
        [0, 5, 5, 0, 5, 0],  # cell 0: TP at 1, 4; FP at 0, 5; FN at 2 -> F1 = 4 / (4 + 2 + 1)
        [0, 5, 5, 0, 4, 0],  # cell 1: identical series, reaching the threshold counts -> 1
        [0, 0, 0, 0, 0, 0],  # cell 2: no event in either -> NaN
        [9, 9, 0, 0, 0, 0],  # cell 3: events missed entirely -> 0
    ], dtype=float).T
    simulated = np.array([
        [5, 5, 0, 0, 5, 5],
        [0, 5, 5, 0, 4, 0],
        [1, 2, 3, 3, 2, 1],
        [0, 0, 0, 0, 0, 0],
    ], dtype=float).T
    f1 = flood_f1(simulated, observed, threshold)
    np.testing.assert_allclose(f1[[0, 1, 3]], [4 / 7, 1.0, 0.0])
    assert np.isnan(f1[2])


def test_flood_f1_equals_2pr_over_p_plus_r():
    rng = np.random.default_rng(3)
    observed = rng.gumbel(MU, BETA, size=(3000, 6))
    simulated = observed + rng.normal(0, 20, size=observed.shape)
    level = return_period_threshold(annual_maxima(observed, steps_per_year=300), period_years=2.0)
    hit_s, hit_o = simulated >= level, observed >= level
    precision = (hit_s & hit_o).sum(0) / hit_s.sum(0)
    recall = (hit_s & hit_o).sum(0) / hit_o.sum(0)
    np.testing.assert_allclose(flood_f1(simulated, observed, level), 2 * precision * recall / (precision + recall))
