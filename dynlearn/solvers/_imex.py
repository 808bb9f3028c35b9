"""IMEX Crank–Nicolson / Heun stepping for semilinear PDEs with a diagonal linear part.

For v̂' = L v̂ + F(t, v̂) in Fourier space, the stiff diagonal L (viscosity, drag) is treated
by the trapezoidal rule (Crank–Nicolson, A-stable, no exponentials needed) and F (advection,
forcing) by Heun's explicit predictor–corrector, so dt is limited by the CFL number of the
advection only. Second order. (The FNO Navier–Stokes data generator of Li et al. 2021 uses
Crank–Nicolson with a single explicit Euler stage instead: the same implicit part, first order.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from dynlearn.solvers._spectral import HasSpectralTerms, SpectralStep

Explicit = Callable[[float, Tensor], Tensor]


def make_cn_heun_step_from_terms(
    linear: Tensor, explicit: Explicit, dt: float
) -> Callable[[float, Tensor], Tensor]:
    """One IMEX Crank–Nicolson / Heun step of v̂' = L v̂ + F(t, v̂), in Fourier space.

    With A = (1 + hL/2) / (1 − hL/2) and B = h / (1 − hL/2):
        v* = A v + B F(t, v)
        v_next = A v + (B/2) (F(t, v) + F(t + h, v*))
    Second order in h (global); for F = 0 each mode is multiplied by exactly A, the (1,1)
    Padé approximant of e^{hL}, so stiff modes are damped (|A| < 1 for L < 0), never amplified.
    Differentiable (autograd and forward mode).

    Args:
        linear: the diagonal linear operator L, real, broadcastable against v̂, e.g. (n, n//2+1).
        explicit: F(t, v̂) -> (..., same shape as v̂), complex.
        dt: step size h.

    Returns:
        ``step(t, v_hat) -> v_hat_next``, batched over leading dims.
    """
    half = 0.5 * dt * linear
    # Complex factors: a real one would be promoted (copied) at every multiplication.
    amplification = ((1 + half) / (1 - half)).to(torch.complex128)
    weight = (dt / (1 - half)).to(torch.complex128)
    half_weight = 0.5 * weight

    def step(t: float, v: Tensor) -> Tensor:
        a, b, b2 = (c.to(v.device, v.dtype) for c in (amplification, weight, half_weight))
        av = a * v
        f0 = explicit(t, v)
        f1 = explicit(t + dt, torch.addcmul(av, b, f0))
        return torch.addcmul(av, b2, f0).addcmul_(b2, f1)

    return step


def make_imex_cn_heun_step(system: HasSpectralTerms, dt: float | None = None) -> SpectralStep:
    """The IMEX CN/Heun map u(t) -> u(t + dt) of a real periodic field, in physical space.

    Second order in dt; stable up to a CFL number of about 0.5 for advection (see
    `NavierStokes2D.cfl_dt`), unconditionally in the viscosity and drag. Plugs into
    per-step loops; the state keeps its shape (for NS (..., n, n), index order y, x).

    Args:
        system: a `dynlearn.systems.SpectralPDE` (e.g. `NavierStokes2D`): its ``linear`` L̂
            is treated by Crank–Nicolson, its ``explicit`` terms N(û) + f̂ by Heun.
        dt: step size; defaults to ``system.dt``.

    Returns:
        ``step(u) -> u_next``, (..., *state_shape) -> (..., *state_shape), differentiable; a
        `SpectralStep`, so `rollout` and `spin_up` keep it in Fourier space between saved states.
    """
    h = system.dt if dt is None else dt
    fourier_step = functools.partial(make_cn_heun_step_from_terms(system.linear, system.explicit, h), 0.0)
    return SpectralStep(fourier_step, system.to_fourier, system.to_physical, tuple(system.state_shape))
