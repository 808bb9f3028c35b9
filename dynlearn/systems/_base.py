"""The interfaces of simulated systems: one base every system satisfies, then ODEs and PDEs.

    AbstractSystem        every system: name, dt, kind, params, equations, store description
    └── EvolutionEquation   dx/dt = f(t, x) on the stored state, with an initial-condition sampler
        ├── ODE               + a dense analytic Jacobian (catalogue ODEs)
        └── SpectralPDE       + diagonal linear and nonlinear Fourier terms, jvp/vjp (KS, NS)

The river basin is an `AbstractSystem` but no `EvolutionEquation`: its stored discharge is an
output of hidden stores (soil, channels, rain field), not a state with a vector field, so it
has no `rhs` and no sampler of states; the generation spins up its hidden state itself.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor


class AbstractSystem(abc.ABC):
    """A simulated dynamical system: ground truth that learned models are judged against.

    Concrete systems are small final classes. States are batched over leading dimensions:
    x has shape (..., *state_shape).

    Attributes:
        name: catalogue name, e.g. ``"lorenz63"``.
        dim: degrees of freedom D of one state (the product of `state_shape`).
        params: parameter values by name (read-only; JSON scalars).
        dt: the simulation time step (time units).
        state_names: names of the state variables: D for ODEs, the field variable for fields.
        kind: the store layout its trajectories take (a key of dynlearn.data's LAYOUTS).
        default_solver: the solver that steps it unless the config names another.
        challenges: what makes it hard to learn, for its datasets' datasheets.
    """

    name: str
    dim: int
    params: Mapping[str, Any]
    dt: float
    state_names: tuple[str, ...]
    kind: str = "ode"
    # Exogenous inputs its stores carry beside the state (a river's rain and evapotranspiration).
    forcing_names: tuple[str, ...] = ()
    default_solver: str = "rk4"
    challenges: str = ("chaotic: nearby states separate at the rate λ1, so pointwise forecasts fail "
                       "after a few Lyapunov times; judge models on the attractor's invariants")

    @property
    @abc.abstractmethod
    def equations(self) -> str:
        """The governing equations in one line of plain Unicode math, for datasheets."""

    @property
    @abc.abstractmethod
    def lyapunov_time(self) -> float | None:
        """1/λ1 in time units when known for these parameters, else None."""

    @property
    def state_shape(self) -> tuple[int, ...]:
        """Shape of one state: (D,) for ODEs, (X,) or (Y, X) for fields."""
        return (self.dim,)

    def coordinates(self) -> dict[str, np.ndarray]:
        """Coordinate values of the state's dims for a store (e.g. ``{"x": ...}`` for a field)."""
        return {}

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description (name, parameters, dt, ...) for stores and runs."""


class EvolutionEquation(AbstractSystem):
    """A system whose stored state x evolves by dx/dt = f(t, x): an ODE or a discretized PDE.

    Anything implementing this can be stepped, rolled out and given Lyapunov exponents.
    """

    @abc.abstractmethod
    def rhs(self, t: Tensor | float, x: Tensor) -> Tensor:
        """The vector field dx/dt = f(t, x).

        Args:
            t: time, a float or a tensor broadcastable against the batch dims of x.
            x: states (..., *state_shape).

        Returns:
            dx/dt, (..., *state_shape).
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
            States (n, *state_shape).
        """


class ODE(EvolutionEquation):
    """An ODE on R^D with an analytic Jacobian, for exact tangent dynamics (Lyapunov spectra)."""

    @abc.abstractmethod
    def jacobian(self, x: Tensor) -> Tensor:
        """The analytic Jacobian of `rhs` with respect to x (autonomous systems).

        Args:
            x: states (..., D).

        Returns:
            J[..., i, j] = ∂f_i/∂x_j, (..., D, D).
        """


class SpectralPDE(EvolutionEquation):
    """A periodic field u_t = L u + N(u) + f, pseudo-spectral: the terms act on real-FFT modes.

    Subclasses give the diagonal linear operator `linear`, the nonlinear term `nonlinear` and,
    if forced, a time-independent `forcing_hat`; `rhs`, `jvp` and `vjp` follow. Its steppers
    (`dynlearn.solvers.make_etdrk4_step`, `make_imex_cn_heun_step`) treat L implicitly or
    exactly and the rest explicitly. With D = n_points² degrees of freedom a dense Jacobian is
    not formed: tangent dynamics use Jacobian-vector products.

    Attributes:
        linear: eigenvalues L̂ of the linear operator, real, (*modes_shape) (see `to_fourier`).
        forcing_hat: f̂, complex, (*modes_shape); None for an unforced system.
    """

    linear: Tensor
    forcing_hat: Tensor | None = None

    @abc.abstractmethod
    def nonlinear(self, u_hat: Tensor) -> Tensor:
        """The nonlinear term N(û) in Fourier space.

        Args:
            u_hat: real-FFT coefficients (..., *modes_shape), complex.

        Returns:
            (..., *modes_shape), complex.
        """

    def to_fourier(self, x: Tensor) -> Tensor:
        """Real FFT over the state dims: (..., *state_shape) -> (..., *modes_shape), complex.

        modes_shape is state_shape with its last entry N replaced by N // 2 + 1.
        """
        return torch.fft.rfftn(x, dim=self._fourier_dims)

    def to_physical(self, u_hat: Tensor) -> Tensor:
        """The inverse of `to_fourier`: (..., *modes_shape) -> (..., *state_shape), real."""
        return torch.fft.irfftn(u_hat, s=self.state_shape, dim=self._fourier_dims)

    def explicit(self, t: float, u_hat: Tensor) -> Tensor:
        """The explicitly stepped terms N(û) + f̂, (..., *modes_shape) (t unused: f is steady)."""
        n_hat = self.nonlinear(u_hat)
        if self.forcing_hat is None:
            return n_hat
        return n_hat + self.forcing_hat.to(u_hat.device, u_hat.dtype)

    def rhs(self, t: Tensor | float, x: Tensor) -> Tensor:
        u_hat = self.to_fourier(x)
        linear = self.linear.to(u_hat.device, u_hat.real.dtype)
        return self.to_physical(linear * u_hat + self.explicit(0.0, u_hat))

    def jvp(self, x: Tensor, v: Tensor) -> Tensor:
        """The Jacobian of `rhs` at x applied to v: J(x) v, by forward-mode autodiff.

        Args:
            x: states (..., *state_shape).
            v: tangent vectors, the same shape.

        Returns:
            J(x) v, (..., *state_shape).
        """
        return torch.func.jvp(self._autonomous_rhs, (x,), (v,))[1]

    def vjp(self, x: Tensor, w: Tensor) -> Tensor:
        """The transposed Jacobian of `rhs` at x applied to w: J(x)ᵀ w, by reverse-mode autodiff.

        Args:
            x: states (..., *state_shape).
            w: cotangent vectors, the same shape.

        Returns:
            J(x)ᵀ w, (..., *state_shape).
        """
        return torch.func.vjp(self._autonomous_rhs, x)[1](w)[0]

    def _autonomous_rhs(self, x: Tensor) -> Tensor:
        return self.rhs(0.0, x)

    @property
    def _fourier_dims(self) -> tuple[int, ...]:
        return tuple(range(-len(self.state_shape), 0))
