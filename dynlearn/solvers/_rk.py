"""One explicit Runge–Kutta routine for every tableau, and steps built from it."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.solvers._tableau import RK4, TABLEAUX, ButcherTableau

VectorField = Callable[[Tensor | float, Tensor], Tensor]
Step = Callable[[Tensor], Tensor]
TangentStep = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


class HasVectorField(Protocol):
    """What the solvers need from a system (see `dynlearn.systems.ODE`)."""

    dt: float

    def rhs(self, t: Tensor | float, x: Tensor) -> Tensor: ...

    def jacobian(self, x: Tensor) -> Tensor: ...


def get_tableau(method: str) -> ButcherTableau:
    """The tableau called `method`; raises ConfigError listing the choices."""
    if method not in TABLEAUX:
        raise ConfigError(f"unknown solver method {method!r}; choose one of: {', '.join(TABLEAUX)}")
    return TABLEAUX[method]


def rk_step(
    rhs: VectorField, t: Tensor | float, x: Tensor, dt: float, tableau: ButcherTableau = RK4
) -> Tensor:
    """One step of an explicit Runge–Kutta method (Butcher, 1964).

    The global error is O(dt^p) with p = ``tableau.order`` (4 for classic RK4). Differentiable.

    Args:
        rhs: the vector field f(t, x), (..., D) -> (..., D).
        t: time at the start of the step.
        x: states (..., D).
        dt: step size.
        tableau: the method.

    Returns:
        States at t + dt, (..., D).
    """
    ks: list[Tensor] = []
    for a_i, c_i in zip(tableau.a, tableau.c):
        ks.append(rhs(t + c_i * dt, _add_weighted(x, dt, a_i, ks)))
    return _add_weighted(x, dt, tableau.b, ks)


def rk_tangent_step(
    rhs: VectorField,
    jacobian: Callable[[Tensor], Tensor],
    t: Tensor | float,
    x: Tensor,
    v: Tensor,
    dt: float,
    tableau: ButcherTableau = RK4,
) -> tuple[Tensor, Tensor]:
    """One Runge–Kutta step and its exact tangent map applied to vectors, by the chain rule.

    Differentiates the discrete map through the stages: with y_i the stage inputs,
    dk_i = J_f(y_i) (v + dt Σ_j a_ij dk_j) and J_step v = v + dt Σ_i b_i dk_i. These are the
    Jacobian products whose growth gives the Lyapunov exponents of the discretized flow
    (order p = ``tableau.order`` close to the flow's); only the analytic J_f is needed
    (autonomous: J_f independent of t). The returned state equals `rk_step`'s bitwise.

    Args:
        rhs: the vector field f(t, x), (..., D) -> (..., D).
        jacobian: J_f(x), (..., D) -> (..., D, D).
        t: time at the start of the step.
        x: states (..., D).
        v: tangent vectors as columns, (..., D, K); the identity gives the full Jacobian.
        dt: step size.
        tableau: the method.

    Returns:
        The next states (..., D) and the pushed-forward vectors J_step(x) v, (..., D, K).
    """
    ks: list[Tensor] = []
    dks: list[Tensor] = []
    for a_i, c_i in zip(tableau.a, tableau.c):
        y = _add_weighted(x, dt, a_i, ks)
        ks.append(rhs(t + c_i * dt, y))
        dks.append(jacobian(y) @ _add_weighted(v, dt, a_i, dks))
    return _add_weighted(x, dt, tableau.b, ks), _add_weighted(v, dt, tableau.b, dks)


def make_step(system: HasVectorField, dt: float | None = None, method: str = "rk4") -> Step:
    """The one-step map x(t) -> x(t + dt) of an autonomous system.

    Args:
        system: anything with ``rhs(t, x)``, e.g. a `dynlearn.systems.ODE`.
        dt: step size; defaults to ``system.dt``.
        method: a key of `TABLEAUX` ("euler", "heun", "rk4", "rk38").

    Returns:
        ``step(x) -> x_next``, batched over leading dimensions, (..., D) -> (..., D);
        differentiable.
    """
    tableau = get_tableau(method)
    h = system.dt if dt is None else dt
    rhs = system.rhs

    def step(x: Tensor) -> Tensor:
        return rk_step(rhs, 0.0, x, h, tableau)

    return step


def make_tangent_step(
    system: HasVectorField, dt: float | None = None, method: str = "rk4"
) -> TangentStep:
    """`make_step`'s map together with its exact tangent map (see `rk_tangent_step`).

    Args:
        system: anything with ``rhs(t, x)`` and an analytic ``jacobian(x)``.
        dt: step size; defaults to ``system.dt``.
        method: a key of `TABLEAUX`.

    Returns:
        ``tangent(x, v) -> (step(x), J_step(x) v)``, x (..., D), v (..., D, K).
    """
    tableau = get_tableau(method)
    h = system.dt if dt is None else dt
    rhs, jacobian = system.rhs, system.jacobian

    def tangent(x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        return rk_tangent_step(rhs, jacobian, 0.0, x, v, h, tableau)

    return tangent


def make_step_jacobian(
    system: HasVectorField, dt: float | None = None, method: str = "rk4"
) -> Step:
    """The exact Jacobian of `make_step`'s map, from the system's analytic Jacobian.

    Args:
        system: anything with ``rhs(t, x)`` and an analytic ``jacobian(x)``.
        dt: step size; defaults to ``system.dt``.
        method: a key of `TABLEAUX`.

    Returns:
        ``jacobian(x)``, (..., D) -> (..., D, D).
    """
    tangent = make_tangent_step(system, dt, method)

    def step_jacobian(x: Tensor) -> Tensor:
        eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
        return tangent(x, eye.expand(*x.shape, x.shape[-1]))[1]

    return step_jacobian


def _add_weighted(x: Tensor, dt: float, weights: tuple[float, ...], ks: list[Tensor]) -> Tensor:
    """x + dt Σ_i w_i k_i; zero weights (half of RK4's a) cost no kernel launches.

    The small increments are summed before they meet x, which rounds less than adding them
    to x one at a time.
    """
    terms = [(dt * w) * k for w, k in zip(weights, ks) if w]
    return x + functools.reduce(operator.add, terms) if terms else x
