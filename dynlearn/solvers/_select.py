"""Pick the stepper of a system by solver name: explicit RK for ODEs, ETDRK4 for KS, IMEX for NS."""

from __future__ import annotations

from dynlearn._errors import ConfigError
from dynlearn.solvers._etdrk4 import Step, make_etdrk4_step
from dynlearn.solvers._imex import make_imex_cn_heun_step
from dynlearn.solvers._rk import make_step
from dynlearn.solvers._tableau import TABLEAUX

# Steppers of stiff (field) systems, by the name systems give as their `default_solver`.
_FIELD_STEPPERS = {"etdrk4": make_etdrk4_step, "imex_cn_heun": make_imex_cn_heun_step}


def make_system_step(system, dt: float | None = None, method: str | None = None) -> Step:
    """The one-step map of `system` with the named solver (default: the system's own).

    Args:
        system: an `EvolutionEquation`; fields (``system.kind != "ode"``) need their own stepper.
        dt: step size (defaults to ``system.dt``).
        method: a Runge–Kutta tableau name (ODEs), or the field system's solver name.

    Raises:
        ConfigError: the solver cannot step this system (one line naming the one that can).
    """
    method = method or system.default_solver
    h = system.dt if dt is None else dt
    if system.kind == "ode" and method in TABLEAUX:
        return make_step(system, h, method=method)
    if system.kind != "ode" and method == system.default_solver and method in _FIELD_STEPPERS:
        return _FIELD_STEPPERS[method](system, h)
    choices = sorted(TABLEAUX) if system.kind == "ode" else [system.default_solver]
    raise ConfigError(f"solver {method!r} cannot step {system.name}; use data.solver=null or one of {choices}")
