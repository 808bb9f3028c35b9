"""IMEX Crank–Nicolson / Heun stepping for semilinear PDEs with a diagonal linear part.

For v̂' = L v̂ + F(t, v̂) in Fourier space, the stiff diagonal L (viscosity, drag) is treated
by the trapezoidal rule (Crank–Nicolson, A-stable, no exponentials needed) and F (advection,
forcing) by Heun's explicit predictor–corrector, so dt is limited by the CFL number of the
advection only. This is the scheme of the FNO Navier–Stokes data generator (Li et al. 2021).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor

Step = Callable[[Tensor], Tensor]
Explicit = Callable[[float, Tensor], Tensor]


class HasIMEXTerms(Protocol):
    """What `make_ns_step` needs from a system (see `dynlearn.systems.NavierStokes2D`)."""

    dt: float
    n: int
    linear: Tensor

    def explicit(self, t: float, w_hat: Tensor) -> Tensor: ...


def make_cn_heun_step(
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
        f1 = explicit(t + dt, av + b * f0)
        return av + b2 * (f0 + f1)

    return step


def make_ns_step(system: HasIMEXTerms, dt: float | None = None) -> Step:
    """The IMEX CN/Heun map ω(t) -> ω(t + dt) of a real periodic 2-D field, in physical space.

    Second order in dt; stable up to a CFL number of about 0.5 (see
    `NavierStokes2D.cfl_dt`), unconditionally in the viscosity and drag. Plugs into
    per-step loops; the state keeps its (..., n, n) shape (index order y, x).

    Args:
        system: provides ``linear`` (n, n//2+1), ``explicit(t, w_hat)`` and the grid size
            ``n``, e.g. a `dynlearn.systems.NavierStokes2D`.
        dt: step size; defaults to ``system.dt``.

    Returns:
        ``step(w) -> w_next``, (..., n, n) -> (..., n, n), differentiable.
    """
    h = system.dt if dt is None else dt
    fourier_step = make_cn_heun_step(system.linear, system.explicit, h)
    n = system.n

    def step(w: Tensor) -> Tensor:
        return torch.fft.irfft2(fourier_step(0.0, torch.fft.rfft2(w)), s=(n, n))

    return step
