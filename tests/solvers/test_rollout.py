"""rollout: transient, subsampling, continuation, argument checks."""

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.solvers import make_step, rollout
from dynlearn.systems import make_system

pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture
def lorenz_step():
    return make_step(make_system("lorenz63"))


@pytest.fixture
def x0(generator):
    return torch.tensor([0.0, 0.0, 25.0]) + 5 * torch.randn(4, 3, generator=generator)


def test_rollout_discards_transient_and_subsamples(lorenz_step, x0):
    x, states = x0, []
    for _ in range(7 + 12):
        x = lorenz_step(x)
        states.append(x)
    expected = torch.stack(states[7:], dim=1)[:, 2::3]  # steps 3, 6, 9, 12 after the transient
    traj = rollout(lorenz_step, x0, 12, n_transient=7, save_every=3)
    assert traj.shape == (4, 4, 3)
    assert torch.equal(traj, expected)


def test_rollout_continues_exactly_from_its_last_state(lorenz_step, x0):
    whole = rollout(lorenz_step, x0, 40, save_every=2)
    first = rollout(lorenz_step, x0, 20, save_every=2)
    second = rollout(lorenz_step, first[:, -1], 20, save_every=2)
    assert torch.equal(whole, torch.cat([first, second], dim=1))


def test_rollout_keeps_leading_dims_and_gradients(lorenz_step, x0):
    x0 = x0.reshape(2, 2, 3).requires_grad_()
    traj = rollout(lorenz_step, x0, 5)
    assert traj.shape == (2, 2, 5, 3)
    traj.sum().backward()
    assert torch.isfinite(x0.grad).all() and x0.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_steps": 10, "save_every": 3},
        {"n_steps": -1},
        {"n_steps": 10, "fuse": 3, "save_every": 2},
    ],
)
def test_rollout_rejects_inconsistent_counts(lorenz_step, x0, kwargs):
    with pytest.raises(ConfigError, match="multiple of save_every|non-negative"):
        rollout(lorenz_step, x0, **kwargs)
