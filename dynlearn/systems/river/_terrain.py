"""Fractal terrain by spectral synthesis, tilted towards an outlet edge."""

from __future__ import annotations

import torch
from torch import Tensor

_CITATION = "Saupe (1988), Algorithms for random fractals, in The Science of Fractal Images, Springer, §2.6"


def fractal_surface(ny: int, nx: int, hurst: float, generator: torch.Generator) -> Tensor:
    """A zero-mean, unit-variance fractional Brownian surface by spectral synthesis.

    Gaussian white noise is coloured in Fourier space with amplitude |k|^−(H+1), i.e. power
    |k|^−(2H+2), the spectrum of a 2-D fBm surface with Hurst exponent H (Saupe 1988). The
    mean (k = 0) is dropped. The surface is periodic; the tilt added by `synthesize_terrain`
    breaks the periodicity where it matters (towards the outlet).

    Args:
        ny, nx: grid size.
        hurst: Hurst exponent H in (0, 1).
        generator: the only source of randomness.

    Returns:
        The surface, (ny, nx) float64.
    """
    ky = torch.fft.fftfreq(ny, dtype=torch.float64)[:, None]
    kx = torch.fft.rfftfreq(nx, dtype=torch.float64)[None, :]
    k = torch.sqrt(ky**2 + kx**2)
    amplitude = torch.where(k > 0, k.clamp_min(1e-12) ** -(hurst + 1.0), torch.zeros_like(k))
    noise = torch.randn((ny, nx), generator=generator, dtype=torch.float64)
    surface = torch.fft.irfft2(torch.fft.rfft2(noise) * amplitude, s=(ny, nx))
    return (surface - surface.mean()) / surface.std()


def edge_distance(ny: int, nx: int, edge: str) -> Tensor:
    """Distance of each cell from the outlet edge, 0 on the edge and 1 on the far edge, (ny, nx)."""
    rows = torch.arange(ny, dtype=torch.float64)[:, None].expand(ny, nx)
    cols = torch.arange(nx, dtype=torch.float64)[None, :].expand(ny, nx)
    distance = {"north": rows, "south": (ny - 1) - rows, "west": cols, "east": (nx - 1) - cols}[edge]
    return distance / distance.max()


def outlet_cells(ny: int, nx: int, edge: str) -> Tensor:
    """Boolean (ny, nx): the cells of the outlet edge, which drain out of the grid."""
    return edge_distance(ny, nx, edge) == 0


def synthesize_terrain(
    ny: int,
    nx: int,
    *,
    hurst: float,
    relief_m: float,
    tilt_m: float,
    base_elevation_m: float,
    outlet_edge: str,
    generator: torch.Generator,
) -> Tensor:
    """Elevation (m): base + tilt·distance-from-outlet-edge + relief·fBm, (ny, nx) float64.

    The fractal part is shifted to be zero on average along the outlet edge, so the edge sits
    near `base_elevation_m`; pits that remain are removed later by `fill_depressions`.
    """
    surface = fractal_surface(ny, nx, hurst, generator)
    distance = edge_distance(ny, nx, outlet_edge)
    surface = surface - surface[distance == 0].mean()
    return base_elevation_m + tilt_m * distance + relief_m * surface
