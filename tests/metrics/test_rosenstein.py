"""Rosenstein λ₁ from data against known exponents (Lorenz-63, logistic and Hénon maps)."""

import math

import numpy as np
import pytest

from dynlearn.metrics._rosenstein import lyap_rosenstein
from tests.metrics.reference_flows import trajectory
from tests.metrics.reference_flows import lorenz as ref_lorenz

LORENZ_LAMBDA = 0.9056  # Viswanath 1998; data_metrics.md §0


@pytest.fixture(scope="module")
def lorenz():
    """2e4 steps of Lorenz-63 at dt 0.01 after a 50-time-unit transient (odeint, rtol = atol = 1e-10)."""
    return trajectory(ref_lorenz, [1.0, 1.0, 1.0], 20_000)


def test_lorenz_state_default_call(lorenz):
    # 0.88-0.96 over ten 2e4-step segments (see the docstring of lyap_rosenstein).
    assert lyap_rosenstein(lorenz, dt=0.01) == pytest.approx(LORENZ_LAMBDA, rel=0.15)


def test_lorenz_scalar_observable_default_call(lorenz):
    # x alone, delay-embedded (emb_dim 5, lag from the autocorrelation): 0.85-0.94 over ten segments.
    assert lyap_rosenstein(lorenz[:, 0], dt=0.01) == pytest.approx(LORENZ_LAMBDA, rel=0.15)


def test_logistic_map_is_ln2():
    x = np.empty(10_000)
    x[0] = 0.3
    for i in range(1, len(x)):
        x[i] = 4.0 * x[i - 1] * (1.0 - x[i - 1])
    assert lyap_rosenstein(x, dt=1.0) == pytest.approx(math.log(2.0), rel=0.03)


def test_henon_map():
    h = np.empty((10_100, 2))
    h[0] = 0.1
    for i in range(1, len(h)):
        h[i] = 1.0 - 1.4 * h[i - 1, 0] ** 2 + h[i - 1, 1], 0.3 * h[i - 1, 0]
    assert lyap_rosenstein(h[100:], dt=1.0) == pytest.approx(0.41922, rel=0.05)  # Sprott


def test_rejects_bad_inputs(lorenz):
    with pytest.raises(ValueError, match="non-constant"):
        lyap_rosenstein(np.ones(1000), dt=0.01)
    with pytest.raises(ValueError, match="too short"):
        lyap_rosenstein(lorenz[:300], dt=0.01)
