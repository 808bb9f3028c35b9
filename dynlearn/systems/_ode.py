"""Catalogue ODEs: equations from `_equations`, everything else from catalog.yaml."""

from __future__ import annotations

import functools
import numbers
from types import MappingProxyType
from typing import Any, final

import torch
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.solvers import make_step, spin_up
from dynlearn.systems._base import ODE
from dynlearn.systems._equations import Equations
from dynlearn.systems._spec import ComputedLyapunov, SystemSpec


@final
class ODESystem(ODE):
    """An autonomous ODE from the catalogue, with parameters bound by name.

    Build one with `dynlearn.systems.make_system`. See `ODE` for the interface.

    Args:
        spec: the catalogue entry.
        equations: its right-hand side and Jacobian.
        **params: parameter overrides by name; the rest keep their catalogue values.

    Raises:
        ConfigError: for an unknown parameter name or a value of the wrong type.
    """

    def __init__(self, spec: SystemSpec, equations: Equations, **params: float | int) -> None:
        values = dict(spec.params)
        for key, value in params.items():
            if key not in values:
                raise ConfigError(
                    f"unknown parameter {key!r} for system {spec.name!r}; "
                    f"choose from: {', '.join(spec.params)}"
                )
            values[key] = _coerce(spec.name, key, value, default=values[key])
        dim = values[spec.dim] if isinstance(spec.dim, str) else spec.dim
        if dim < equations.min_dim:
            raise ConfigError(
                f"{spec.name} needs at least {equations.min_dim} dimensions, got {dim}; "
                f"set {spec.dim} >= {equations.min_dim}"
            )
        names = spec.state_names
        self.spec = spec
        self.name = spec.name
        self.params = MappingProxyType(values)
        self.dim = dim
        self.dt = spec.dt
        self.state_names = (
            tuple(names.format(i=i) for i in range(dim)) if isinstance(names, str) else names
        )
        # Bind once: the solvers' inner loops then call a plain f(t, x).
        self._rhs = functools.partial(equations.rhs, **values)
        self._jacobian = functools.partial(equations.jacobian, **values)

    @property
    def equations(self) -> str:
        return self.spec.equations

    @property
    def lyapunov_exponents(self) -> tuple[float, ...] | None:
        """Literature exponents (leading ones) if the parameters are the catalogue's, else None."""
        return self.spec.lyapunov_exponents if self._default_params else None

    @property
    def computed_lyapunov(self) -> ComputedLyapunov | None:
        """Our estimator's full spectrum (with stderr) if the parameters are the catalogue's."""
        return self.spec.computed_lyapunov if self._default_params else None

    @property
    def lyapunov_time(self) -> float | None:
        """1/λ1 in time units for a chaotic system with the catalogue's parameters, else None.

        λ1 is the computed one when the catalogue has it, else the literature one: the computed
        value exists for every system, comes from one estimator, and is the exponent of the
        RK4 flow at the catalogue dt that generates the data (where both exist they agree
        within 3 %; see bench/RESULTS.md).
        """
        computed = self.computed_lyapunov
        exponents = computed.exponents if computed else self.lyapunov_exponents
        # A limit cycle's computed λ1 is ±1/T, not 0, so the chaotic flag decides for those.
        chaotic = self.spec.chaotic if computed else True
        return 1.0 / exponents[0] if chaotic and exponents and exponents[0] > 0 else None

    @property
    def _default_params(self) -> bool:
        return dict(self.params) == dict(self.spec.params)

    def rhs(self, t: Tensor | float, x: Tensor) -> Tensor:
        return self._rhs(t, x)

    def jacobian(self, x: Tensor) -> Tensor:
        return self._jacobian(x)

    def sample_initial_conditions(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        # Draw on the CPU so the same generator gives the same states on every device.
        x = self.spec.draw_from_box(n, self.dim, generator, dtype).to(device)
        x = spin_up(make_step(self, self.dt), x, round(self.spec.transient_time / self.dt))
        if not torch.isfinite(x).all():
            raise ConfigError(
                f"{self!r} diverged during its transient; choose parameters with a bounded "
                f"attractor (the catalogue's are {dict(self.spec.params)})"
            )
        return x

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": dict(self.params),
            "dim": self.dim,
            "dt": self.dt,
            "state_names": list(self.state_names),
            "lyapunov_time": self.lyapunov_time,
            "lyapunov_exponents": _list_or_none(self.lyapunov_exponents),
            "lyapunov_source": self.spec.lyapunov_source if self.lyapunov_exponents else None,
            "transient_time": self.spec.transient_time,
            "citation": self.spec.citation,
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"ODESystem({self.name!r}, {params})"


def _coerce(system: str, key: str, value: Any, *, default: float | int) -> float | int:
    """Check an override against the type of its catalogue default."""
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        kind = "an integer"
    else:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        kind = "a number"
    raise ConfigError(
        f"parameter {key!r} of {system!r} must be {kind}, got {value!r}; "
        f"set it like {key}={default!r}"
    )


def _list_or_none(values: tuple[float, ...] | None) -> list[float] | None:
    return None if values is None else list(values)
