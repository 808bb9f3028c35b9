"""Explicit Runge–Kutta methods as data (Butcher tableaux), consumed by `rk_step`."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ButcherTableau:
    """The coefficients of an explicit Runge–Kutta method (Butcher, 1964).

    Stage i evaluates k_i = f(t + c_i dt, x + dt Σ_{j<i} a_ij k_j); the step returns
    x + dt Σ_i b_i k_i.

    Attributes:
        name: key in `TABLEAUX`.
        order: global order of accuracy.
        a: strictly lower-triangular rows; row i has i entries.
        b: weights, one per stage.
        c: nodes, one per stage; c_i = Σ_j a_ij.
    """

    name: str
    order: int
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]

    def __post_init__(self) -> None:
        stages = len(self.b)
        if len(self.a) != stages or len(self.c) != stages:
            raise ValueError(f"{self.name}: a, b and c must have one entry per stage")
        for i, (row, c_i) in enumerate(zip(self.a, self.c)):
            if len(row) != i or not math.isclose(sum(row), c_i, abs_tol=1e-15):
                raise ValueError(f"{self.name}: row {i} of a needs {i} entries summing to c_{i}")
        if not math.isclose(sum(self.b), 1.0, abs_tol=1e-15):
            raise ValueError(f"{self.name}: the weights b must sum to 1")


EULER = ButcherTableau("euler", order=1, a=((),), b=(1.0,), c=(0.0,))

# Heun's method (explicit trapezoidal rule).
HEUN = ButcherTableau("heun", order=2, a=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 1.0))

# The classic Runge–Kutta method (Kutta, 1901).
RK4 = ButcherTableau(
    "rk4",
    order=4,
    a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
    c=(0.0, 0.5, 0.5, 1.0),
)

# Kutta's 3/8 rule: fourth order with a different error constant; checks the routine is generic.
RK38 = ButcherTableau(
    "rk38",
    order=4,
    a=((), (1 / 3,), (-1 / 3, 1.0), (1.0, -1.0, 1.0)),
    b=(1 / 8, 3 / 8, 3 / 8, 1 / 8),
    c=(0.0, 1 / 3, 2 / 3, 1.0),
)

TABLEAUX: dict[str, ButcherTableau] = {t.name: t for t in (EULER, HEUN, RK4, RK38)}
