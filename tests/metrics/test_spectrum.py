"""D_H against exact spectra (pure tones, circular shifts) and Lorenz/Rössler references."""

import math

import numpy as np
import pytest

from dynlearn._errors import DataError
from dynlearn.metrics._spectrum import d_h
from tests.metrics.reference_flows import trajectory
from tests.metrics.reference_flows import lorenz as ref_lorenz
from tests.metrics.reference_flows import rossler as ref_rossler

T = 10_000


def _tone(k, phase=0.0, n=1024):
    """A sinusoid with exactly k periods in n samples: all its power in rfft bin k."""
    return np.cos(2 * np.pi * k * np.arange(n) / n + phase)


def test_circular_shift_is_zero(rng):
    noisy_tone = np.sin(0.031 * np.arange(4096)) + 0.3 * rng.standard_normal(4096)
    x = np.stack([noisy_tone, np.cumsum(rng.standard_normal(4096))], axis=1)  # (T, 2)
    assert d_h(x, np.roll(x, 1234, axis=0)) == pytest.approx(0.0, abs=1e-12)


def test_disjoint_tones_are_maximally_far():
    # Without smoothing the spectra are deltas in bins 10 and 200: no overlap, H = 1.
    assert d_h(_tone(10), _tone(200, phase=0.4), smoothing=0) == pytest.approx(1.0, abs=1e-12)
    # With the default σ = 20 bins they barely overlap.
    assert d_h(_tone(10), _tone(200)) > 0.9


def test_half_shared_spectrum_closed_form():
    # p = ½δ₁₀ + ½δ₃₀, q = ½δ₁₀ + ½δ₆₀: Σ√(pq) = ½, H = √(1 − ½).
    x = _tone(10) + _tone(30, phase=1.0)
    y = _tone(10, phase=2.0) + _tone(60)
    assert d_h(x, y, smoothing=0) == pytest.approx(math.sqrt(0.5), abs=1e-12)


def test_mean_over_dimensions():
    x = np.stack([_tone(10), _tone(10)], axis=1)
    y = np.stack([_tone(10, phase=0.3), _tone(90)], axis=1)
    assert d_h(x, y, smoothing=0) == pytest.approx(0.5, abs=1e-12)  # (0 + 1) / 2


def test_pooled_spectra_are_averaged_over_runs_before_the_distance():
    """Runs (tone 10, tone 40) against (tone 40, tone 10): per run maximally far, pooled equal."""
    truths = np.stack([_tone(10), _tone(40)])[:, :, None]  # (B=2, T, 1)
    generated = np.stack([_tone(40, phase=0.7), _tone(10, phase=1.9)])[:, :, None]
    assert d_h(truths[0], generated[0], smoothing=0) == pytest.approx(1.0, abs=1e-12)
    assert d_h(truths, generated, smoothing=0) == pytest.approx(0.0, abs=1e-12)
    # Mean spectrum ½δ₁₀ + ½δ₄₀ against δ₁₀ (two runs of tone 10): H = √(1 − √½).
    same = np.stack([_tone(10), _tone(10, phase=0.5)])[:, :, None]
    assert d_h(truths, same, smoothing=0) == pytest.approx(math.sqrt(1 - math.sqrt(0.5)), abs=1e-12)


def test_cutoff_ignores_frequencies_above_it():
    """Tone 10 plus a weak tone at 400 vs at 300 (of Nyquist bin 512): they differ only above
    bin 256, so with the cutoff at half of Nyquist they are equal; without it the closed form
    p = (0.8, 0.2 at 400), q = (0.8, 0.2 at 300) gives H = √(1 − 0.8) = √0.2."""
    x = _tone(10) + 0.5 * _tone(400)  # power 1 : 0.25, normalized 0.8 : 0.2
    y = _tone(10, phase=0.3) + 0.5 * _tone(300)
    assert d_h(x, y, smoothing=0) == pytest.approx(math.sqrt(0.2), abs=1e-12)
    assert d_h(x, y, smoothing=0, cutoff=0.5) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="cutoff"):
        d_h(x, y, cutoff=1.5)


def test_constant_series_conventions():
    x = _tone(10)
    assert d_h(x, np.full_like(x, 3.0)) == 1.0  # a model stuck at a fixed point
    assert d_h(np.full_like(x, 3.0), np.full_like(x, -1.0)) == 0.0
    both = np.stack([x, np.ones_like(x)], axis=1)
    assert d_h(both, both) == pytest.approx(0.0, abs=1e-12)


def test_non_finite_generated_series_gives_nan():
    x = _tone(10)
    assert math.isnan(d_h(x, np.where(np.arange(len(x)) > 500, np.nan, x)))


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        d_h(_tone(10, n=1024), _tone(10, n=1000))
    with pytest.raises(DataError, match="NaN"):
        d_h(np.full(1024, np.nan), _tone(10))


@pytest.fixture(scope="module")
def lorenz_pair():
    return trajectory(ref_lorenz, [1.0, 1.0, 1.0], T), trajectory(ref_lorenz, [-3.0, 5.0, 20.0], T)


def test_lorenz_same_system_1e4_steps(lorenz_pair):
    """Two 1e4-step Lorenz runs (dt 0.01, different ICs): 0.021 here.

    Over 100 pairs of disjoint 1e4-step segments of two 1e5-step runs: mean 0.042 ± 0.026,
    median 0.033, 90% quantile 0.083, max 0.14 (literature: 0.03 ± 0.03).
    """
    assert d_h(*lorenz_pair) < 0.12


def test_lorenz_vs_rossler_is_large(lorenz_pair):
    rossler = trajectory(ref_rossler, [1.0, 1.0, 0.0], T)
    assert d_h(lorenz_pair[0], rossler) > 0.3  # 0.55 here
