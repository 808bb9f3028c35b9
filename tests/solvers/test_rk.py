"""Explicit Runge–Kutta: convergence order against closed forms, tangent maps, gradients."""

import math

import numpy as np
import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.solvers import (
    TABLEAUX,
    make_step,
    make_step_jacobian,
    make_tangent_step,
    rk_step,
    rk_tangent_step,
)
from dynlearn.systems import list_ode_systems, make_system

pytestmark = pytest.mark.usefixtures("float64")

ALL_METHODS = list(TABLEAUX)
ALL_SYSTEMS = list_ode_systems()

_A = [[-0.5, 1.0, 0.0], [-1.0, -0.5, 0.3], [0.0, 0.2, -1.0]]


def _linear():
    a = torch.tensor(_A)
    y0 = torch.tensor([1.0, 0.5, -0.3])
    return (lambda t, y: y @ a.T), y0, 1.0, torch.linalg.matrix_exp(a) @ y0


def _cosine():
    # y' = y cos t has the solution y0 exp(sin t): exercises the time argument of the stages.
    y0 = torch.tensor([1.0, -2.0])
    return (lambda t, y: y * math.cos(t)), y0, 2.0, y0 * math.exp(math.sin(2.0))


def _riccati():
    # y' = y^2 has the solution y0 / (1 - y0 t): nonlinear, blows up at t = 1/y0 = 2.
    y0 = torch.tensor([0.5])
    return (lambda t, y: y * y), y0, 1.0, y0 / (1 - y0 * 1.0)


PROBLEMS = {"linear": _linear, "cosine": _cosine, "riccati": _riccati}


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("method", ALL_METHODS)
def test_convergence_order(method, problem):
    """The slope of log(error) against log(dt) is the tableau's order (±0.2)."""
    tableau = TABLEAUX[method]
    rhs, y0, t_end, exact = PROBLEMS[problem]()
    # Large enough n to be asymptotic, small enough that round-off (~n·1e-16) stays far below.
    n_steps = [20, 40, 80, 160, 320]
    errors = []
    for n in n_steps:
        dt = t_end / n
        y = y0
        for i in range(n):
            y = rk_step(rhs, i * dt, y, dt, tableau)
        errors.append((y - exact).abs().max().item())
    slope = np.polyfit(np.log([t_end / n for n in n_steps]), np.log(errors), 1)[0]
    assert tableau.order - 0.2 <= slope <= tableau.order + 0.2, (slope, errors)


def test_unknown_method_lists_choices():
    with pytest.raises(ConfigError, match="choose one of: euler, heun, rk4, rk38"):
        make_step(make_system("lorenz63"), method="rk5")


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_tangent_step_is_the_jacobian_of_the_step(name, generator):
    """The chain-rule tangent map equals autograd's Jacobian of the RK4 step; states bitwise."""
    system = make_system(name, n=6) if name == "lorenz96" else make_system(name)
    x = 3 * torch.randn(4, system.dim, generator=generator)
    step = make_step(system)
    expected = torch.func.vmap(torch.func.jacrev(step))(x)
    torch.testing.assert_close(make_step_jacobian(system)(x), expected, rtol=1e-12, atol=1e-12)
    v = torch.randn(4, system.dim, 2, generator=generator)
    x_next, jv = make_tangent_step(system)(x, v)
    assert torch.equal(x_next, step(x))
    torch.testing.assert_close(jv, expected @ v, rtol=1e-12, atol=1e-12)


def test_tangent_step_heun_matches_autograd(generator):
    system = make_system("lorenz63")
    x = torch.randn(3, 3, generator=generator)
    tableau = TABLEAUX["heun"]
    eye = torch.eye(3).expand(3, 3, 3)
    _, jac = rk_tangent_step(system.rhs, system.jacobian, 0.0, x, eye, 0.01, tableau)
    expected = torch.func.vmap(
        torch.func.jacrev(lambda y: rk_step(system.rhs, 0.0, y, 0.01, tableau))
    )(x)
    torch.testing.assert_close(jac, expected, rtol=1e-12, atol=1e-12)


def test_gradient_through_steps_matches_finite_differences(generator):
    system = make_system("lorenz63")
    step = make_step(system)
    x0 = torch.tensor([0.0, 0.0, 25.0]) + 5 * torch.randn(2, 3, generator=generator)
    x0.requires_grad_()

    def ten_steps(x):
        for _ in range(10):
            x = step(x)
        return x

    assert torch.autograd.gradcheck(ten_steps, (x0,), eps=1e-6, atol=1e-6, rtol=1e-6)
