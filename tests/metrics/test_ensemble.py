"""The ensemble CRPS against closed forms: a member on the truth, two members, a large Gaussian ensemble."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from dynlearn.metrics import crps_ensemble


def test_one_member_scores_its_absolute_error_and_zero_on_the_truth():
    assert crps_ensemble([[2.5]], [2.5]) == 0.0
    assert crps_ensemble(np.array([[1.0, -3.0]]), np.array([4.0, 0.0])).tolist() == [3.0, 3.0]


def test_two_members_one_on_the_truth_score_a_quarter_of_their_distance():
    """{y, y + d}: E|X - y| = d/2 and E|X - X'| = d/2 (pairs drawn with replacement), so CRPS = d/4."""
    y, d = np.array([0.3, -7.0, 12.0]), np.array([2.0, 0.5, 8.0])
    members = np.stack([y, y + d], axis=-1)  # members last: axis=-1
    np.testing.assert_allclose(crps_ensemble(members, y, axis=-1), d / 4, rtol=1e-15)


def test_the_sorted_formula_equals_the_double_sum(rng):
    members, observed = rng.normal(size=(7, 4, 5)), rng.normal(size=(4, 5))
    pairs = np.abs(members[:, None] - members[None, :]).mean(axis=(0, 1))
    direct = np.abs(members - observed).mean(axis=0) - 0.5 * pairs
    np.testing.assert_allclose(crps_ensemble(members, observed), direct, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("y", [0.0, 0.7, -2.0])
def test_a_large_gaussian_ensemble_tends_to_the_gaussian_closed_form(rng, y):
    """CRPS(N(0, σ²), y) = σ [z (2Φ(z) - 1) + 2φ(z) - 1/√π], z = y/σ (Gneiting & Raftery 2007),
    for an ensemble of the distribution's M quantiles (no sampling noise, only the O(1/M) of a
    finite ensemble)."""
    sigma, m = 1.7, 200_000
    members = sigma * norm.ppf((np.arange(m) + 0.5) / m)  # quantiles: no sampling noise
    z = y / sigma
    exact = sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))
    assert crps_ensemble(members, np.float64(y)) == pytest.approx(exact, abs=1e-4)
