"""Stochastic systems: Itô SDEs with additive noise, simulated reproducibly through torchsde."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, final

import torch
import torchsde
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.systems._base import AbstractSystem
from dynlearn.systems._catalog import make_ode_system
from dynlearn.systems._ode import _coerce

Field = Callable[[Tensor, Tensor], Tensor]
# n states drawn with a generator: (n, generator, dtype) -> (n, D).
Sampler = Callable[[int, torch.Generator, torch.dtype], Tensor]

# Itô methods of torchsde that work with additive noise (Stratonovich ones would need a
# different SDE type; the SDEs here are written in Itô form).
SDE_METHODS = ("euler", "milstein", "srk")


@final
class SDESystem(AbstractSystem):
    """An Itô SDE dX = f(t, X) dt + g(t, X) dW with additive noise (g independent of X).

    Build one with `make_sde` (or `make_system`, which also takes its names), or directly from
    two callables. States are batched: (B, D). Its stores take the ODE layout
    ``state(traj, time, dim)``; `dynlearn.data.generate_store` simulates them by Euler–Maruyama.

    Args:
        name: e.g. ``"ornstein_uhlenbeck"``.
        dim: state dimension D.
        params: parameter values by name (stored read-only).
        dt: the default simulation time step (time units).
        drift: f(t, x), (B, D) -> (B, D).
        diffusion: g(t, x), (B, D) -> (B, D, m); must not depend on x (additive noise).
        noise_dim: number m of independent Brownian motions; defaults to D.
        state_names: names of the D state variables; defaults to x0, x1, ...
        equations: the SDE in one line, for datasheets.
        initial: the initial-condition sampler (n, generator, dtype) -> (n, D); defaults to
            standard normal draws.
        citation: where the system comes from.

    Attributes:
        noise_type: ``"additive"``, as torchsde names it.
    """

    noise_type = "additive"
    default_solver = "euler_maruyama"  # the stores' scheme (simulate_sde offers torchsde's others)
    challenges = ("dynamical noise: paths from one state spread even with a perfect model, so forecasts are "
                  "distributions; judge a model by the stationary measure and spectra of its sampled free runs")

    def __init__(
        self,
        name: str,
        dim: int,
        params: Mapping[str, float | int],
        dt: float,
        drift: Field,
        diffusion: Field,
        *,
        noise_dim: int | None = None,
        state_names: tuple[str, ...] | None = None,
        equations: str = "dX = f(t, X) dt + g(t) dW (Itô, additive noise)",
        initial: Sampler | None = None,
        citation: str | None = None,
    ) -> None:
        self.name = name
        self.dim = dim
        self.params = MappingProxyType(dict(params))
        self.dt = dt
        self.noise_dim = dim if noise_dim is None else noise_dim
        self.state_names = tuple(state_names) if state_names else tuple(f"x{i}" for i in range(dim))
        self.citation = citation
        self._equations = equations
        self._drift = drift
        self._diffusion = diffusion
        self._initial = initial or _standard_normal(dim)

    @property
    def equations(self) -> str:
        return self._equations

    @property
    def lyapunov_time(self) -> None:
        """None: a noise-driven flow has no catalogue λ1. The deterministic system's λ1 is only
        approximate for it (noise shifts the exponent, by how much depends on the level), so its
        stores record none and evaluation estimates λ1 from the data (Rosenstein), as for
        measured data."""
        return None

    def sample_initial_conditions(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """States (n, D) from the system's sampler; depends only on `generator`'s state (drawn
        on the CPU, then moved to `device`)."""
        return self._initial(n, generator, dtype).to(device)

    def drift(self, t: Tensor | float, x: Tensor) -> Tensor:
        """The drift f(t, x): states (B, D) -> (B, D)."""
        return self._drift(t, x)

    def diffusion(self, t: Tensor | float, x: Tensor) -> Tensor:
        """The diffusion matrix g(t, x): states (B, D) -> (B, D, m)."""
        return self._diffusion(t, x)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description (name, parameters, dt, ...) for stores and runs."""
        return {
            "name": self.name,
            "params": dict(self.params),
            "dim": self.dim,
            "noise_dim": self.noise_dim,
            "noise_type": self.noise_type,
            "dt": self.dt,
            "state_names": list(self.state_names),
            "citation": self.citation,
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"SDESystem({self.name!r}, {params})"


def simulate_sde(
    system: SDESystem,
    x0: Tensor,
    n_steps: int,
    *,
    dt: float | None = None,
    seed: int,
    method: str = "euler",
    save_every: int = 1,
) -> Tensor:
    """Simulate sample paths with a fixed step, reproducibly for a given seed.

    The Brownian motion is a `torchsde.BrownianInterval` seeded with `seed`, so the same
    (system, x0, n_steps, dt, seed, method) gives bitwise-identical paths, and `save_every`
    only subsamples them. Like `dynlearn.solvers.rollout`, the output excludes x0 and ends
    with the state to continue from (continue with a new seed). The default ``"euler"`` is
    Euler–Maruyama, strong order 0.5 in general and 1.0 for additive noise; ``"srk"`` is
    strong order 1.5 for additive noise.

    References:
        Kloeden & Platen (1992), Numerical Solution of Stochastic Differential Equations,
        Springer, §10.2 (Euler–Maruyama). Li, Wong, Chen & Duvenaud (2020), Scalable Gradients
        for Stochastic Differential Equations, AISTATS (torchsde).

    Args:
        system: the SDE.
        x0: initial states (B, D); computed in float64.
        n_steps: number of steps of size `dt`; a multiple of `save_every`.
        dt: step size (time units); defaults to ``system.dt``.
        seed: entropy of the Brownian motion.
        method: one of `SDE_METHODS` (torchsde's Itô methods).
        save_every: keep every `save_every`-th state (stored dt = save_every · dt).

    Returns:
        States (B, n_steps // save_every, D), float64, after steps save_every,
        2·save_every, ..., n_steps.

    Raises:
        ConfigError: for an unknown method, a wrong x0 shape, or invalid counts or dt.
    """
    dt = system.dt if dt is None else float(dt)
    if method not in SDE_METHODS:
        choices = ", ".join(SDE_METHODS)
        raise ConfigError(f"unknown SDE method {method!r}; choose one of: {choices}")
    if x0.ndim != 2 or x0.shape[1] != system.dim:
        raise ConfigError(
            f"x0 must have shape (B, {system.dim}) for {system.name}, got {tuple(x0.shape)}"
        )
    if n_steps < 0 or save_every < 1 or n_steps % save_every or not dt > 0:
        raise ConfigError(
            f"cannot simulate n_steps={n_steps} saving every {save_every} with dt={dt}; use "
            f"dt > 0 and a non-negative n_steps that is a multiple of save_every"
        )
    x0 = x0.to(torch.float64)
    if n_steps == 0:
        return x0.new_empty(x0.shape[0], 0, system.dim)
    # torchsde advances its clock by repeated `t + dt` and takes an extra (interpolated) step
    # whenever it falls short of an output time by an ulp; output times accumulated the same
    # way land exactly on its steps.
    times = [0.0]
    for _ in range(n_steps):
        times.append(times[-1] + dt)
    ts = torch.tensor(times[::save_every], dtype=torch.float64, device=x0.device)
    bm = torchsde.BrownianInterval(
        t0=times[0],
        t1=times[-1],
        size=(x0.shape[0], system.noise_dim),
        dtype=torch.float64,
        device=x0.device,
        entropy=seed,
        dt=dt,  # a hint that makes the interval tree match the fixed step (faster)
        # SRK needs the space-time Lévy area; the other methods only the increments.
        levy_area_approximation="space-time" if method == "srk" else "none",
    )
    ys = torchsde.sdeint(_TorchsdeSDE(system), x0, ts, bm=bm, method=method, dt=dt)  # (T, B, D)
    return ys[1:].transpose(0, 1).contiguous()  # (B, T - 1, D)


class _TorchsdeSDE(torch.nn.Module):
    """The interface torchsde expects (`f`, `g`, `sde_type`, `noise_type`) around an SDESystem."""

    sde_type = "ito"

    def __init__(self, system: SDESystem) -> None:
        super().__init__()
        self.noise_type = system.noise_type
        self.system = system

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return self.system.drift(t, y)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return self.system.diffusion(t, y)


def _standard_normal(dim: int) -> Sampler:
    def sample(n: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        return torch.randn(n, dim, generator=generator, dtype=dtype)

    return sample


def _isotropic(scale: float, dim: int) -> Field:
    """g(t, x) = scale · I, the same for every state: additive noise with m = D."""

    def diffusion(t: Tensor | float, x: Tensor) -> Tensor:
        eye = torch.eye(dim, dtype=x.dtype, device=x.device)
        return (scale * eye).expand(x.shape[0], dim, dim)

    return diffusion


def _ou_drift(t: Tensor | float, x: Tensor, *, theta: float) -> Tensor:
    return -theta * x


def _ornstein_uhlenbeck(theta: float, sigma: float, dim: int, dt: float) -> SDESystem:
    params = {"theta": theta, "sigma": sigma, "dim": dim}
    drift = functools.partial(_ou_drift, theta=theta)
    stationary_std = sigma / (2 * theta) ** 0.5

    def initial(n: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        # The stationary law N(0, σ²/(2θ)): a store starts in equilibrium, whatever its transient.
        return stationary_std * torch.randn(n, dim, generator=generator, dtype=dtype)

    return SDESystem("ornstein_uhlenbeck", dim, params, dt, drift, _isotropic(sigma, dim),
                     equations="dX = −θ X dt + σ dW (each of the dim coordinates independently)",
                     initial=initial, citation="Uhlenbeck, G. E. & Ornstein, L. S. (1930). On the theory "
                     "of the Brownian motion. Phys. Rev. 36, 823-841.")


def _stochastic_lorenz63(
    sigma: float, rho: float, beta: float, noise: float, dt: float
) -> SDESystem:
    ode = make_ode_system("lorenz63", sigma=sigma, rho=rho, beta=beta)
    params = {**ode.params, "noise": noise}

    def initial(n: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        # On the noise-free attractor; a store's transient (with noise) relaxes onto the noisy one.
        return ode.sample_initial_conditions(n, generator, dtype=dtype)

    return SDESystem("stochastic_lorenz63", 3, params, dt, ode.rhs, _isotropic(noise, 3),
                     state_names=ode.state_names, equations=f"{ode.equations}, each plus noise · dW_i/dt "
                     "(Itô, independent Brownian motions)", initial=initial, citation=ode.spec.citation)


# Default parameters: data, bound to the builders by keyword. `dt` is the default step.
# Lorenz's `sigma` is the drift's Prandtl number; its noise amplitude is `noise`.
_SDES: dict[str, tuple[Callable[..., SDESystem], dict[str, float | int]]] = {
    "ornstein_uhlenbeck": (
        _ornstein_uhlenbeck,
        {"theta": 1.0, "sigma": 0.5, "dim": 1, "dt": 0.01},
    ),
    "stochastic_lorenz63": (
        _stochastic_lorenz63,
        {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0, "noise": 1.0, "dt": 0.01},
    ),
}


def list_sdes() -> list[str]:
    """Names accepted by `make_sde`."""
    return list(_SDES)


def make_sde(name: str, **params: float | int) -> SDESystem:
    """Build a stochastic system by name, overriding parameters by name.

    Systems (all Itô, additive noise, m = D):
        ``"ornstein_uhlenbeck"``: dX = −θ X dt + σ dW in D = ``dim`` dimensions
        (``theta``, ``sigma``, ``dim``); stationary variance σ²/(2θ).
        ``"stochastic_lorenz63"``: the catalogue's Lorenz-63 drift plus ``noise`` · dW
        (``sigma``, ``rho``, ``beta`` are Lorenz's parameters).
    Both also take ``dt``, the default step of `simulate_sde`.

    Args:
        name: a name from `list_sdes()`.
        **params: parameter overrides; others keep their defaults.

    Returns:
        The system.

    Raises:
        ConfigError: for an unknown system or parameter (the message lists valid names) or a
            value of the wrong type.

    Example:
        >>> make_sde("ornstein_uhlenbeck", theta=2.0).params["theta"]
        2.0
    """
    if name not in _SDES:
        raise ConfigError(f"unknown SDE {name!r}; choose one of: {', '.join(_SDES)}")
    build, defaults = _SDES[name]
    values = dict(defaults)
    for key, value in params.items():
        if key not in values:
            raise ConfigError(
                f"unknown parameter {key!r} for SDE {name!r}; choose from: {', '.join(defaults)}"
            )
        values[key] = _coerce(name, key, value, default=defaults[key])
    if values.get("dim", 1) < 1 or not values["dt"] > 0:
        raise ConfigError(f"{name} needs dim >= 1 and dt > 0, got {values}")
    return build(**values)
