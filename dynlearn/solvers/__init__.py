"""Time steppers as data plus one rollout: explicit Runge–Kutta, fused/compiled blocks, Dopri5."""

from dynlearn.solvers._adaptive import ADAPTIVE_METHODS, solve_adaptive
from dynlearn.solvers._etdrk4 import make_etdrk4_step, make_etdrk4_step_from_terms
from dynlearn.solvers._fused import FusedSteps
from dynlearn.solvers._imex import make_cn_heun_step_from_terms, make_imex_cn_heun_step
from dynlearn.solvers._rk import (
    get_tableau,
    make_step,
    make_step_jacobian,
    make_tangent_step,
    rk_step,
    rk_tangent_step,
)
from dynlearn.solvers._rollout import rollout, spin_up
from dynlearn.solvers._select import make_system_step
from dynlearn.solvers._tableau import EULER, HEUN, RK4, RK38, TABLEAUX, ButcherTableau
from dynlearn.solvers._spectral import SpectralStep as SpectralStep

__all__ = [
    "SpectralStep",
    "ADAPTIVE_METHODS",
    "EULER",
    "HEUN",
    "RK4",
    "RK38",
    "TABLEAUX",
    "ButcherTableau",
    "FusedSteps",
    "get_tableau",
    "make_cn_heun_step_from_terms",
    "make_etdrk4_step",
    "make_etdrk4_step_from_terms",
    "make_imex_cn_heun_step",
    "make_step",
    "make_step_jacobian",
    "make_system_step",
    "make_tangent_step",
    "rk_step",
    "rk_tangent_step",
    "rollout",
    "solve_adaptive",
    "spin_up",
]
