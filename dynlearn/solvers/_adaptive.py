"""Adaptive-step integration through torchdiffeq, for accuracy references and irregular times."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchdiffeq
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.solvers._rk import HasVectorField

# torchdiffeq's embedded (error-controlled) Runge–Kutta pairs and their orders.
ADAPTIVE_METHODS = {"dopri8": 8, "dopri5": 5, "bosh3": 3, "fehlberg2": 2, "adaptive_heun": 2}


def solve_adaptive(
    system: HasVectorField,
    x0: Tensor,
    t: Tensor | Sequence[float],
    *,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    method: str = "dopri5",
) -> Tensor:
    """Integrate dx/dt = rhs(t, x) with an adaptive embedded Runge–Kutta pair.

    Defaults to Dormand–Prince 5(4) (Dormand & Prince, 1980; fifth order, local error
    control per step: |err_i| <= atol + rtol·|x_i|). The global error is typically a small
    multiple of the tolerances; it is not bounded by them. Differentiable (backprop through
    the solver's operations).

    Args:
        system: anything with ``rhs(t, x)``, e.g. a `dynlearn.systems.ODE`.
        x0: initial states at ``t[0]``, (..., D).
        t: strictly monotonic output times (T,).
        rtol: relative tolerance.
        atol: absolute tolerance.
        method: one of `ADAPTIVE_METHODS`.

    Returns:
        States at the times `t`, (..., T, D); the first is `x0`.
    """
    if method not in ADAPTIVE_METHODS:
        raise ConfigError(
            f"unknown adaptive method {method!r}; choose one of: {', '.join(ADAPTIVE_METHODS)}"
        )
    times = torch.as_tensor(t, dtype=x0.dtype, device=x0.device)
    states = torchdiffeq.odeint(system.rhs, x0, times, rtol=rtol, atol=atol, method=method)
    return states.movedim(0, -2)  # (T, ..., D) -> (..., T, D)
