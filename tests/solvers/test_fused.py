"""The fused, torch.compile'd block of steps equals the eager loop bitwise."""

import warnings

import pytest
import torch

from dynlearn.solvers import FusedSteps, make_step, rollout
from dynlearn.solvers import _fused
from dynlearn.systems import make_system

pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture
def lorenz_step():
    return make_step(make_system("lorenz63"))


@pytest.fixture
def x0(generator):
    return torch.tensor([0.0, 0.0, 25.0]) + 5 * torch.randn(8, 3, generator=generator)


def test_compiled_rollout_is_bitwise_equal_to_eager(lorenz_step, x0):
    """102 steps through 4-step compiled blocks (plus a remainder) reproduce the eager bits.

    Inductor's C++ code rounds these float64 pointwise graphs like eager ATen (no FMA
    contraction), so equality is exact, not approximate.
    """
    eager = rollout(lorenz_step, x0, 102, n_transient=13, save_every=2)
    fused = rollout(lorenz_step, x0, 102, n_transient=13, save_every=2, fuse=4)
    assert torch.equal(fused, eager)


def test_fused_block_matches_loop_eagerly(lorenz_step, x0):
    block = FusedSteps(lorenz_step, 6, save_every=3, compile=False)
    x1 = lorenz_step(lorenz_step(lorenz_step(x0)))
    x2 = lorenz_step(lorenz_step(lorenz_step(x1)))
    assert torch.equal(block(x0), torch.stack([x1, x2], dim=1))


def test_compile_failure_falls_back_to_eager_with_one_warning(lorenz_step, x0, monkeypatch):
    def broken_compile(fn, **kwargs):
        def fail(*args):
            raise torch._dynamo.exc.TorchDynamoException("no C++ compiler")

        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(_fused, "_warned_fallback", False)
    block = FusedSteps(lorenz_step, 4)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        first = block(x0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = FusedSteps(lorenz_step, 4)(x0)
    assert torch.equal(first, FusedSteps(lorenz_step, 4, compile=False)(x0))
    assert torch.equal(first, second)
