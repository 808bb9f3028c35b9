"""The one interface every simulated system implements."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor


class AbstractSystem(abc.ABC):
    """A simulated dynamical system: ground truth that learned models are judged against.

    Concrete systems are small final classes. Solvers only need `rhs` (and `jacobian` for
    tangent dynamics), so anything implementing this interface can be stepped, rolled out and
    given Lyapunov exponents. States are batched over leading dimensions: x has shape (..., D).

    Attributes:
        name: catalogue name, e.g. ``"lorenz63"``.
        dim: state dimension D.
        params: parameter values by name (read-only; JSON scalars).
        dt: the simulation time step (time units).
        lyapunov_time: 1/λ1 in time units when known for these parameters, else None.
        state_names: D names of the state variables.
    """

    name: str
    dim: int
    params: Mapping[str, float | int]
    dt: float
    lyapunov_time: float | None
    state_names: tuple[str, ...]
    # The store layout its trajectories take (a key of dynlearn.data's LAYOUTS) and the solver
    # that steps it unless the config names another.
    kind: str = "ode"
    default_solver: str = "rk4"
    # What makes this system hard to learn, for its datasets' datasheets.
    challenges: str = ("chaotic: nearby states separate at the rate λ1, so pointwise forecasts fail "
                       "after a few Lyapunov times; judge models on the attractor's invariants")

    @property
    def equations(self) -> str:
        """The governing equations in one line (the class docstring's summary by default)."""
        return (type(self).__doc__ or self.name).strip().splitlines()[0]

    @property
    def state_shape(self) -> tuple[int, ...]:
        """Shape of one state: (D,) for ODEs, (X,) or (Y, X) for fields."""
        return (self.dim,)

    def coordinates(self) -> dict[str, np.ndarray]:
        """Coordinate values of the state's dims for a store (e.g. ``{"x": ...}`` for a field)."""
        return {}

    @abc.abstractmethod
    def rhs(self, t: Tensor | float, x: Tensor) -> Tensor:
        """The vector field dx/dt = f(t, x).

        Args:
            t: time, a float or a tensor broadcastable against x[..., 0].
            x: states (..., D).

        Returns:
            dx/dt, (..., D).
        """

    @abc.abstractmethod
    def jacobian(self, x: Tensor) -> Tensor:
        """The analytic Jacobian of `rhs` with respect to x (autonomous systems).

        Args:
            x: states (..., D).

        Returns:
            J[..., i, j] = ∂f_i/∂x_j, (..., D, D).
        """

    @abc.abstractmethod
    def sample_initial_conditions(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Independent states on the attractor.

        Draws from the system's default initial-condition distribution and integrates each
        draw through a transient, batched. The result depends only on `generator`'s state.

        Args:
            n: number of states.
            generator: the source of randomness (advanced by this call).
            dtype: floating dtype of the result.
            device: device of the result.

        Returns:
            States (n, D).
        """

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description (name, parameters, dt, ...) for stores and runs."""
