"""Relative L2, spatial correlation and correlation time on a travelling wave with a phase error.

true(x, t) = sin(k(x − ct)), pred = sin(k(x − ct) − φ(t)). On a uniform periodic grid of N points
with 0 < k < N/2 the discrete sums of one Fourier mode are exact: Σ sin(kx + a) sin(kx + b) =
N/2 cos(a − b) and Σ sin(kx + a) = 0. Hence ‖pred − true‖² = N/2 · |e^{−iφ} − 1|² = N/2 (2 − 2cos φ),
‖true‖² = N/2, so the relative L2 error is √(2 − 2cos φ) on any such grid (the quadrature
weight has cancelled), and the spatial correlation is cos φ.
"""

import numpy as np
import pytest

from dynlearn.metrics import correlation_time, relative_l2, relative_l2_by_lead, spatial_correlation

DT = 0.1
LEADS = DT * np.arange(1, 41)  # pred[:, 0] is one dt after the initial condition
RATES = np.array([0.05, 0.2, 0.7])  # phase error φ(t) = a·t per sample, rad per unit time


def wave(n: int, k: int = 3, speed: float = 0.5, rates=RATES):
    """(B, T, N) pred and true, and the (B, T) phase errors."""
    x = 2 * np.pi * np.arange(n) / n
    phase = k * (x[None, None, :] - speed * LEADS[None, :, None])
    phi = rates[:, None] * LEADS[None, :]  # (B, T)
    return np.sin(phase - phi[..., None]), np.broadcast_to(np.sin(phase), phi.shape + (n,)), phi


@pytest.mark.parametrize("n", [16, 256])
def test_relative_l2_of_a_phase_error_is_closed_form_on_any_grid(n):
    pred, true, phi = wave(n)
    expected = np.sqrt(2 - 2 * np.cos(phi))
    np.testing.assert_allclose(relative_l2(pred, true, spatial_dims=1), expected, atol=1e-12)
    np.testing.assert_allclose(relative_l2_by_lead(pred, true), expected.mean(axis=0), atol=1e-12)


def test_spatial_correlation_of_a_phase_error_is_its_cosine():
    pred, true, phi = wave(64)
    offset = 5.0  # Pearson correlation ignores a mean the relative L2 would see
    np.testing.assert_allclose(spatial_correlation(pred + offset, true, spatial_dims=1), np.cos(phi), atol=1e-12)


def test_correlation_time_is_where_the_cosine_reaches_the_threshold():
    pred, true, _ = wave(64)
    result = correlation_time(pred, true, dt=DT)
    # cos(a t) < 0.95 first at the grid lead just past t* = arccos(0.95)/a, unless t* > horizon
    t_star = np.arccos(0.95) / RATES
    crossed = t_star < LEADS[-1]
    np.testing.assert_array_equal(result.censored, ~crossed)
    np.testing.assert_allclose(result.time[crossed], DT * (np.floor(t_star[crossed] / DT) + 1))
    assert np.all((t_star[crossed] < result.time[crossed]) & (result.time[crossed] <= t_star[crossed] + DT))
    np.testing.assert_allclose(result.time[~crossed], LEADS[-1])
    np.testing.assert_array_equal(result.steps[~crossed], len(LEADS))


def test_threshold_is_the_first_lead_below_it():
    # hand-built correlations 1, 0.99, 0.96, 0.94, 0.99: the first drop is at index 3 (lead 4·dt)
    rho = np.array([1.0, 0.99, 0.96, 0.94, 0.99])
    x = np.array([1.0, -1.0, 0.0])  # an anomaly with mean 0; mixing in an orthogonal one sets ρ
    y = np.array([1.0, 1.0, -2.0])
    true = np.broadcast_to(x, (1, 5, 3))
    pred = (rho[:, None] * x / np.linalg.norm(x) + np.sqrt(1 - rho[:, None] ** 2) * y / np.linalg.norm(y))[None]
    np.testing.assert_allclose(spatial_correlation(pred, true, spatial_dims=1)[0], rho, atol=1e-12)
    result = correlation_time(pred, true, dt=0.5)
    assert result.steps[0] == 3 and result.time[0] == 2.0 and not result.censored[0]


def test_cells_off_the_mask_count_in_neither_norm():
    pred, true, phi = wave(32)
    rng = np.random.default_rng(0)
    junk = rng.normal(size=pred.shape[:-1] + (7,))  # whatever a model writes off the river
    pred_ext = np.concatenate([pred, junk], axis=-1)
    true_nan = np.concatenate([true, np.full(junk.shape, np.nan)], axis=-1)
    true_masked = np.concatenate([true, junk + 1.0], axis=-1)
    mask = np.arange(39) < 32
    expected = np.sqrt(2 - 2 * np.cos(phi))
    np.testing.assert_allclose(relative_l2(pred_ext, true_nan, spatial_dims=1), expected, atol=1e-12)
    np.testing.assert_allclose(relative_l2(pred_ext, true_masked, spatial_dims=1, mask=mask), expected, atol=1e-12)
    np.testing.assert_allclose(spatial_correlation(pred_ext, true_nan, spatial_dims=1), np.cos(phi), atol=1e-12)


def test_relative_l2_pools_the_trailing_axes_given():
    # (B, C, X) with C = 2 channels: errors 3 and 4 against unit truths pool to √(9 + 16)/√2
    true = np.ones((1, 2, 4))
    pred = true + np.array([3.0, 4.0])[None, :, None]
    np.testing.assert_allclose(relative_l2(pred, true, spatial_dims=1), [[3.0, 4.0]])
    np.testing.assert_allclose(relative_l2(pred, true, spatial_dims=2), [5.0 / np.sqrt(2)])


def test_a_diverged_forecast_is_nan_and_ends_the_correlated_window():
    pred, true, _ = wave(16)
    pred = pred.copy()
    pred[0, 2, 5] = np.nan
    assert np.isnan(relative_l2(pred, true, spatial_dims=1)[0, 2])
    result = correlation_time(pred, true, dt=DT)
    assert result.steps[0] == 2 and not result.censored[0]


def test_shapes_must_match():
    with pytest.raises(ValueError, match="one shape"):
        relative_l2(np.zeros((2, 3)), np.zeros((2, 4)), spatial_dims=1)
    with pytest.raises(ValueError, match="does not broadcast"):
        relative_l2(np.zeros((2, 3)), np.ones((2, 3)), spatial_dims=1, mask=np.ones(4, bool))
