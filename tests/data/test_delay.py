"""Delay embedding: values by hand, the mutual-information delay of a sine, the FNN dimension of
a sine (a closed curve: 2) and of the Lorenz-63 x component (a ~2.06-dimensional attractor: 3)."""

import numpy as np
import pytest
import torch

from dynlearn.data import (
    choose_embedding,
    delay_embed,
    false_nearest_neighbours_dimension,
    false_neighbour_fractions,
    mutual_information_delay,
)
from dynlearn.solvers import make_step, rollout
from dynlearn.systems import make_system

# Not a ratio of small integers, so no sample repeats exactly (an exactly periodic series has
# neighbours at distance zero, a degenerate case for FNN).
IRRATIONAL_PERIOD = 10 * np.sqrt(17)  # ~41.2 steps


@pytest.fixture(scope="module")
def lorenz_x():
    """x of Lorenz-63 at dt = 0.01: 5000 steps on the attractor (after 10 time units of transient)."""
    step = make_step(make_system("lorenz63"), 0.01)
    with torch.no_grad():
        states = rollout(step, torch.tensor([[1.0, 1.0, 20.0]], dtype=torch.float64), 5000, n_transient=1000)
    return states[0, :, 0].numpy()


def sine(period: float, periods: int = 50) -> np.ndarray:
    return np.sin(2 * np.pi * np.arange(int(periods * period)) / period)


def test_delay_embed_by_hand():
    x = np.array([[0, 10], [1, 11], [2, 12], [3, 13], [4, 14], [5, 15]])  # (T=6, D=2)
    np.testing.assert_array_equal(delay_embed(x, 3, 2), [[0, 10, 2, 12, 4, 14],
                                                         [1, 11, 3, 13, 5, 15]])
    np.testing.assert_array_equal(delay_embed(np.arange(5), 2, 1), [[0, 1], [1, 2], [2, 3], [3, 4]])
    np.testing.assert_array_equal(delay_embed(x, 1, 3), x)
    with pytest.raises(ValueError, match="too short"):
        delay_embed(x, 4, 2)


@pytest.mark.parametrize("period", [20, 40, IRRATIONAL_PERIOD, 100])
def test_mutual_information_delay_of_a_sine_is_a_quarter_period(period):
    assert abs(mutual_information_delay(sine(period), int(period)) - period / 4) <= 1


def test_mutual_information_delay_asks_for_a_longer_search():
    with pytest.raises(ValueError, match="raise max_lag"):
        mutual_information_delay(sine(40), 3)


def test_false_neighbours_of_a_sine_vanish_in_two_dimensions():
    x = sine(IRRATIONAL_PERIOD)
    tau = round(IRRATIONAL_PERIOD / 4)
    fractions = false_neighbour_fractions(x, tau, 3)
    assert fractions[0] > 0.1 and fractions[1] < 0.01, fractions  # on a line the circle's two branches fold
    assert false_nearest_neighbours_dimension(x, tau) == 2


def test_false_neighbours_of_lorenz_x_vanish_in_three_dimensions(lorenz_x):
    """Kennel, Brown & Abarbanel (1992) find m = 3 for Lorenz-63 (attractor dimension ~2.06)."""
    m, tau = choose_embedding(lorenz_x)
    assert 15 <= tau <= 25  # 0.15-0.25 time units, the range reported for this estimator's resolution
    fractions = false_neighbour_fractions(lorenz_x, tau, 4)
    assert fractions[1] > 0.05 and fractions[2] < 0.01, fractions  # 2-D folds the attractor, 3-D does not
    assert m == 3
    for other in (8, 16):  # m does not hinge on the exact delay
        assert false_nearest_neighbours_dimension(lorenz_x, other) == 3
