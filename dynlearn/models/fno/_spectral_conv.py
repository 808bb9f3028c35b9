"""The Fourier layer's integral operator: a convolution whose kernel lives on the lowest Fourier modes.

``K v = irfftn( R ⊙ rfftn(v) )`` with one complex matrix R(k) (in -> out channels) per retained
wavenumber k and zero above them (Li et al. 2021, "Fourier Neural Operator for Parametric Partial
Differential Equations", ICLR, arXiv 2010.08895, eq. (4)). Equivalently a circular convolution with
the band-limited kernel ``irfftn(R)``, which is what the tests check it against.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SpectralConv(nn.Module):
    """Spectral convolution over the last ``len(modes)`` axes of (N, in_ch, *spatial), 1-D or 2-D (or more).

    Retained wavenumbers, as in Li et al.'s FNO-2D (``modes1 = modes2 = 12``): along the last axis
    (the half spectrum of rfftn) k = 0 .. m-1; along every other axis both signs, k = -m .. m-1.
    At a resolution too coarse for them, only the wavenumbers it resolves are used; the weights are
    indexed by wavenumber, so one layer evaluates at any resolution and returns the input's
    (discretization invariance: exact on band-limited inputs when 2m is below the coarse grid's
    size along the two-sided axes and m <= n/2 along the last).

    Parameters: ``weight_real``, ``weight_imag`` (in_ch, out_ch, 2m_1, .., 2m_{d-1}, m_d), real and
    imaginary parts of R, the two-sided axes ordered k = 0 .. m-1 then -m .. -1 (fft order).
    Initialization N(0, 2 / (in_ch + out_ch)) for |R|², split evenly between the two parts
    (neuraloperator's ``SpectralConv`` init std (2 / (in + out))^½).

    Args:
        in_ch, out_ch: channels read and written.
        modes: m per spatial axis, the last axis last.
        generator: draws the initial weights (a private generator: no global RNG).
    """

    def __init__(self, in_ch: int, out_ch: int, modes: tuple[int, ...], generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not modes or min(modes) < 1:
            raise ValueError(f"SpectralConv needs at least one axis with modes >= 1, got {modes}")
        self.modes = tuple(int(m) for m in modes)
        shape = (in_ch, out_ch, *(2 * m for m in self.modes[:-1]), self.modes[-1])
        std = math.sqrt(1.0 / (in_ch + out_ch))  # per part: |R|² has variance 2 / (in + out)
        dtype = torch.get_default_dtype()
        self.weight_real = nn.Parameter(std * torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype))
        self.weight_imag = nn.Parameter(std * torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype))

    def forward(self, v: Tensor) -> Tensor:
        """(N, in_ch, *spatial) -> (N, out_ch, *spatial), same resolution."""
        d = len(self.modes)
        spatial = v.shape[-d:]
        axes = tuple(range(-d, 0))
        spectrum = torch.fft.rfftn(v, dim=axes)  # (N, in, *spatial[:-1], n_last // 2 + 1)
        weight = torch.complex(self.weight_real, self.weight_imag)
        kept = [_kept(m, n) for m, n in zip(self.modes[:-1], spatial[:-1])]
        last = min(self.modes[-1], spatial[-1] // 2 + 1)
        for axis, (pos, neg) in zip(range(2, 2 + d - 1), kept):
            spectrum = _two_sided(spectrum, axis, pos, neg)
            weight = _two_sided(weight, axis, pos, neg)
        spectrum, weight = spectrum.narrow(-1, 0, last), weight.narrow(-1, 0, last)
        out = torch.einsum("ni...,io...->no...", spectrum, weight)  # (N, out, *kept modes)
        # Back onto the full rfftn grid: zeros between the two signs and above the last kept k.
        for axis, (pos, neg), n in zip(range(2, 2 + d - 1), kept, spatial[:-1]):
            out = _scatter_two_sided(out, axis, pos, neg, n)
        out = nn.functional.pad(out, (0, spatial[-1] // 2 + 1 - last))
        out = _hermitian(out, spatial[-1], d)
        return torch.fft.irfftn(out, s=spatial, dim=axes)


def _kept(m: int, n: int) -> tuple[int, int]:
    """How many k >= 0 and k < 0 of an n-point axis fall in -m .. m-1 (the fft grid holds 0 .. ceil(n/2)-1
    and -floor(n/2) .. -1)."""
    return min(m, (n + 1) // 2), min(m, n // 2)


def _two_sided(t: Tensor, axis: int, pos: int, neg: int) -> Tensor:
    """The first `pos` and last `neg` entries of `t` along `axis` (k = 0 .. pos-1, then -neg .. -1)."""
    return torch.cat([t.narrow(axis, 0, pos), t.narrow(axis, t.shape[axis] - neg, neg)], dim=axis)


def _scatter_two_sided(t: Tensor, axis: int, pos: int, neg: int, n: int) -> Tensor:
    """Inverse of `_two_sided` on an n-point axis: zeros for the wavenumbers not kept."""
    gap = list(t.shape)
    gap[axis] = n - pos - neg
    return torch.cat([t.narrow(axis, 0, pos), t.new_zeros(gap), t.narrow(axis, pos, neg)], dim=axis)


def _hermitian(spectrum: Tensor, n_last: int, d: int) -> Tensor:
    """The spectrum with its self-conjugate planes (last-axis k = 0, and k = n/2 for even n) made
    Hermitian over the other axes, X(-k) = conj X(k), so that it is the rfftn of a real field.

    irfftn's result on a non-Hermitian plane depends on the FFT library (pocketfft drops the
    anti-Hermitian part, cuFFT leaves line artifacts: neuraloperator's ``enforce_hermitian_symmetry``);
    projecting first makes every backend compute the same real field.
    """
    planes = [0] + ([n_last // 2] if n_last % 2 == 0 and n_last > 1 else [])
    other = tuple(range(2, 2 + d - 1))
    out = spectrum.clone()
    for k in planes:
        plane = spectrum[..., k]
        mirrored = plane.flip(other).roll((1,) * len(other), other) if other else plane  # index j -> (-j) mod n
        out[..., k] = 0.5 * (plane + mirrored.conj())
    return out
