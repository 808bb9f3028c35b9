"""Energy spectrum: Parseval, single modes in their shells, and the spectrum error's known values."""

import math

import numpy as np
import pytest

from dynlearn._errors import DataError
from dynlearn.metrics import energy_spectrum, energy_spectrum_error

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("shape, spatial_dims", [((3, 48), 1), ((2, 3, 24, 32), 2), ((2, 8, 10, 12), 3)])
def test_parseval_the_spectrum_sums_to_half_the_mean_square(shape, spatial_dims):
    u = RNG.normal(size=shape) + 0.7
    _, e = energy_spectrum(u, spatial_dims=spatial_dims)
    axes = tuple(range(-spatial_dims, 0))
    np.testing.assert_allclose(e.sum(axis=-1), 0.5 * (u ** 2).mean(axis=axes), rtol=1e-12)


@pytest.mark.parametrize("length", [2 * math.pi, 1.0])
def test_a_single_2d_mode_lands_in_its_shell_with_its_energy(length):
    # A cos(2π(3x + 4y)/L + θ) has |n| = 5 and ½⟨u²⟩ = A²/4, all of it in shell 5
    amplitude, n = 1.7, 32
    y, x = np.meshgrid(*(length * np.arange(n) / n,) * 2, indexing="ij")
    u = amplitude * np.cos(2 * math.pi * (3 * x + 4 * y) / length + 0.3)
    k, e = energy_spectrum(u, spatial_dims=2, length=length)
    expected = np.zeros_like(e)
    expected[5] = amplitude ** 2 / 4
    np.testing.assert_allclose(e, expected, atol=1e-12)
    assert k[5] == pytest.approx(2 * math.pi * 5 / length)


def test_shells_are_rounded_wavevector_lengths():
    # |(3, 3)| = 4.24 and |(2, 4)| = 4.47 fall in shell 4 (3.5 ≤ |n| < 4.5); the mean in shell 0
    n = 16
    y, x = np.meshgrid(*(2 * math.pi * np.arange(n) / n,) * 2, indexing="ij")
    u = 2.0 + np.sin(3 * x + 3 * y) + 0.5 * np.sin(2 * x + 4 * y)
    _, e = energy_spectrum(u, spatial_dims=2)
    expected = np.zeros_like(e)
    expected[0], expected[4] = 0.5 * 2.0 ** 2, 0.25 + 0.25 * 0.25
    np.testing.assert_allclose(e, expected, atol=1e-12)


def test_a_1d_mode_is_folded_into_one_wavenumber():
    x = 2 * math.pi * np.arange(20) / 20
    _, e = energy_spectrum(3.0 * np.sin(7 * x), spatial_dims=1)
    assert e.shape == (11,)  # shells 0..10, 10 the Nyquist wavenumber
    np.testing.assert_allclose(e, np.where(np.arange(11) == 7, 9.0 / 4, 0.0), atol=1e-12)


def test_spectrum_error_is_zero_for_identical_and_2_log_c_for_scaled_fields():
    u = RNG.normal(size=(4, 32, 32))
    assert energy_spectrum_error(u, u, spatial_dims=2) == 0.0
    for c in (0.5, 3.0):
        assert energy_spectrum_error(c * u, u, spatial_dims=2) == pytest.approx(2 * abs(math.log10(c)), rel=1e-12)


def test_spectrum_error_of_a_smoothed_field_is_the_mean_log_filter_gain():
    # Multiplying û by a real radial gain g(|n|) multiplies shell k by g(k)² exactly when g is
    # constant on each shell: error = mean over shells 1..16 of |log10 g(k)²|
    u = RNG.normal(size=(2, 32, 32))
    n = np.fft.fftfreq(32, d=1 / 32)
    shell = np.floor(np.hypot(*np.meshgrid(n, n, indexing="ij")) + 0.5)
    gain = np.exp(-0.01 * shell ** 2)
    smooth = np.fft.ifft2(np.fft.fft2(u) * gain).real
    expected = np.mean(np.abs(np.log10(np.exp(-0.01 * np.arange(1, 17) ** 2) ** 2)))
    assert energy_spectrum_error(smooth, u, spatial_dims=2) == pytest.approx(expected, rel=1e-10)


def test_spectrum_error_rejects_a_bad_truth_and_flags_a_diverged_forecast():
    u = RNG.normal(size=(8, 8))
    bad = u.copy()
    bad[0, 0] = np.nan
    assert math.isnan(energy_spectrum_error(bad, u, spatial_dims=2))
    with pytest.raises(DataError, match="NaN"):
        energy_spectrum_error(u, bad, spatial_dims=2)
