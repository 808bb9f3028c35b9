"""What the spectral steppers need from a system (see `dynlearn.systems.SpectralPDE`), and
the step they give back."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from torch import Tensor


class HasSpectralTerms(Protocol):
    """A field u_t = L u + F(u) with diagonal L, its terms acting on real-FFT modes.

    Attributes:
        dt: the default step size.
        linear: eigenvalues L̂ of the linear operator, real, (*modes_shape).
        state_shape: the shape of one state in physical space.
    """

    dt: float
    linear: Tensor
    state_shape: tuple[int, ...]

    def explicit(self, t: float, u_hat: Tensor) -> Tensor:
        """F(û): the terms stepped explicitly, (..., *modes_shape), complex."""
        ...

    def to_fourier(self, x: Tensor) -> Tensor:
        """The real FFT of states (..., *state_shape) -> (..., *modes_shape)."""
        ...

    def to_physical(self, u_hat: Tensor) -> Tensor:
        """The inverse of `to_fourier`."""
        ...


@dataclass(frozen=True)
class SpectralStep:
    """A one-step map of a real periodic field that is taken on the field's Fourier modes.

    Called, it maps physical states, u -> to_physical(fourier_step(to_fourier(u))), and plugs
    into any per-step loop. `rollout` and `spin_up` use its parts instead: one forward FFT at
    the start, `fourier_step` in between and one inverse FFT per state they keep, rather than
    the round trip at every step (2 of the 10 FFTs of an NS or KS step). The two ways differ
    by rounding only (the round trip is the identity on a real field's modes up to ~1e-16).

    Attributes:
        fourier_step: v̂ -> v̂_next, (..., *modes_shape) complex.
        to_fourier: the real FFT, (..., *state_shape) -> (..., *modes_shape).
        to_physical: its inverse.
        state_shape: the shape of one state, e.g. (N,) for KS, (n, n) for NS.
    """

    fourier_step: Callable[[Tensor], Tensor]
    to_fourier: Callable[[Tensor], Tensor]
    to_physical: Callable[[Tensor], Tensor]
    state_shape: tuple[int, ...]

    def __call__(self, u: Tensor) -> Tensor:
        return self.to_physical(self.fourier_step(self.to_fourier(u)))

    def flattened(self) -> SpectralStep:
        """The same step on states flattened to (..., prod(state_shape)), the form `rollout` keeps."""
        shape = self.state_shape
        if len(shape) == 1:
            return self
        to_fourier, to_physical = self.to_fourier, self.to_physical
        return SpectralStep(
            self.fourier_step,
            lambda u: to_fourier(u.unflatten(-1, shape)),
            lambda v: to_physical(v).flatten(-len(shape)),
            (math.prod(shape),),
        )
