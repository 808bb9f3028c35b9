"""Right-hand sides and Jacobians of the catalogue ODEs, keyed by catalogue name.

Each ``rhs(t, x, **params)`` and ``jacobian(x, **params)`` takes its parameters as keyword-only
arguments named exactly as in catalog.yaml, so values are bound by name and a renamed or
missing parameter fails loudly. States are batched over leading dimensions: x is (..., D).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Equations:
    """The vector field of one catalogue system.

    Attributes:
        rhs: ``rhs(t, x, **params) -> dx/dt``, x (..., D) -> (..., D).
        jacobian: ``jacobian(x, **params) -> d rhs / dx``, x (..., D) -> (..., D, D).
        min_dim: the smallest state dimension the equations make sense for.
    """

    rhs: Callable[..., Tensor]
    jacobian: Callable[..., Tensor]
    min_dim: int = 1


def _matrix3(entries: tuple[Tensor, ...]) -> Tensor:
    """Nine (...,) entries in row-major order -> (..., 3, 3)."""
    return torch.stack(entries, dim=-1).unflatten(-1, (3, 3))


def lorenz63_rhs(t: Tensor | float, x: Tensor, *, sigma: float, rho: float, beta: float) -> Tensor:
    """Lorenz (1963): x' = σ(y − x), y' = x(ρ − z) − y, z' = xy − βz."""
    x_, y, z = x.unbind(-1)
    return torch.stack((sigma * (y - x_), x_ * (rho - z) - y, x_ * y - beta * z), dim=-1)


def lorenz63_jacobian(x: Tensor, *, sigma: float, rho: float, beta: float) -> Tensor:
    """Jacobian of `lorenz63_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix3((
        zero - sigma, zero + sigma, zero,
        rho - z,      zero - 1.0,   -x_,
        y,            x_,           zero - beta,
    ))
    # fmt: on


def rossler_rhs(t: Tensor | float, x: Tensor, *, a: float, b: float, c: float) -> Tensor:
    """Rössler (1976): x' = −y − z, y' = x + ay, z' = b + z(x − c)."""
    x_, y, z = x.unbind(-1)
    return torch.stack((-y - z, x_ + a * y, b + z * (x_ - c)), dim=-1)


def rossler_jacobian(x: Tensor, *, a: float, b: float, c: float) -> Tensor:
    """Jacobian of `rossler_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix3((
        zero,       zero - 1.0, zero - 1.0,
        zero + 1.0, zero + a,   zero,
        z,          zero,       x_ - c,
    ))
    # fmt: on


def lorenz96_rhs(t: Tensor | float, x: Tensor, *, n: int, F: float) -> Tensor:
    """Lorenz (1996): x_i' = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F, indices mod n."""
    # n is the state dimension; it is a parameter only so that the catalogue can set it.
    return (x.roll(-1, -1) - x.roll(2, -1)) * x.roll(1, -1) - x + F


def lorenz96_jacobian(x: Tensor, *, n: int, F: float) -> Tensor:
    """Jacobian of `lorenz96_rhs`, (..., n, n); four nonzero diagonals (needs n >= 4)."""
    i = torch.arange(n, device=x.device)
    jac = x.new_zeros(*x.shape, n)
    jac[..., i, (i + 1) % n] = x.roll(1, -1)
    jac[..., i, (i - 1) % n] = x.roll(-1, -1) - x.roll(2, -1)
    jac[..., i, (i - 2) % n] = -x.roll(1, -1)
    jac[..., i, i] = -1.0
    return jac


EQUATIONS: dict[str, Equations] = {
    "lorenz63": Equations(lorenz63_rhs, lorenz63_jacobian),
    "rossler": Equations(rossler_rhs, rossler_jacobian),
    "lorenz96": Equations(lorenz96_rhs, lorenz96_jacobian, min_dim=4),
}
