"""What the spectral steppers need from a system (see `dynlearn.systems.SpectralPDE`)."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor


class HasSpectralTerms(Protocol):
    """A field u_t = L u + F(u) with diagonal L, its terms acting on real-FFT modes.

    Attributes:
        dt: the default step size.
        linear: eigenvalues L̂ of the linear operator, real, (*modes_shape).
    """

    dt: float
    linear: Tensor

    def explicit(self, t: float, u_hat: Tensor) -> Tensor:
        """F(û): the terms stepped explicitly, (..., *modes_shape), complex."""
        ...

    def to_fourier(self, x: Tensor) -> Tensor:
        """The real FFT of states (..., *state_shape) -> (..., *modes_shape)."""
        ...

    def to_physical(self, u_hat: Tensor) -> Tensor:
        """The inverse of `to_fourier`."""
        ...
