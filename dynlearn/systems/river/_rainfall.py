"""Space–time correlated, intermittent, seasonal rainfall and seasonal potential ET (mm/day)."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import final

import torch
from torch import Tensor

_CITATION = (
    "Bell (1987), A space-time stochastic model of rainfall, J. Geophys. Res. 92(D8):9631 "
    "(latent Gaussian field, thresholded); Wilks (1998), J. Hydrol. 210:178 (AR(1) daily rain)"
)
DAYS_PER_YEAR = 365.25


def seasonal_cycle(day: Tensor, mean: float, peak_over_trough: float, peak_day: float) -> Tensor:
    """mean·(1 + A cos(2π(day − peak_day)/365.25)), with A = (r − 1)/(r + 1) so peak/trough = r."""
    amplitude = (peak_over_trough - 1.0) / (peak_over_trough + 1.0)
    return mean * (1.0 + amplitude * torch.cos(2 * math.pi * (day - peak_day) / DAYS_PER_YEAR))


@final
class RainfallModel:
    """Rain = seasonal mean × g(z), with z a latent Gaussian field, AR(1) in time.

    Each day, white noise is smoothed by a Gaussian spectral filter of width `length_cells`
    (periodic in space) and scaled to unit variance; z_t = φ z_{t−1} + √(1−φ²) ε_t keeps z
    standard normal at every cell once stationary. Rain falls where z > q, q = Φ⁻¹(1 − p_wet),
    with g(z) = (z − q)⁺ / E[(Z − q)⁺], so E[rain] equals the seasonal mean exactly
    (E[(Z − q)⁺] = φ(q) − q(1 − Φ(q)) for Z ~ N(0, 1)).

    Args:
        ny, nx: grid size.
        mean_mm, wet_dry_ratio, peak_day: the seasonal mean cycle (`seasonal_cycle`).
        wet_fraction: probability p_wet of rain at a cell on a day.
        length_cells: spatial correlation length (standard deviation of the filter, cells).
        ar1: day-to-day autocorrelation φ of z.
    """

    def __init__(self, ny: int, nx: int, *, mean_mm: float, wet_dry_ratio: float, peak_day: float,
                 wet_fraction: float, length_cells: float, ar1: float) -> None:
        self.shape = (ny, nx)
        self.mean_mm, self.wet_dry_ratio, self.peak_day = mean_mm, wet_dry_ratio, peak_day
        self.ar1 = ar1
        self.threshold = NormalDist().inv_cdf(1.0 - wet_fraction)
        q = self.threshold
        self.excess_mean = math.exp(-q * q / 2) / math.sqrt(2 * math.pi) - q * (1 - NormalDist().cdf(q))
        ky = torch.fft.fftfreq(ny, dtype=torch.float64)[:, None]
        kx = torch.fft.fftfreq(nx, dtype=torch.float64)[None, :]
        gain = torch.exp(-2 * math.pi**2 * length_cells**2 * (ky**2 + kx**2))  # (ny, nx)
        # Var of ifft2(G·fft2(w)) for unit white noise w is Σ|G|²/N: rescale it to 1.
        gain = gain * math.sqrt(ny * nx / float((gain**2).sum()))
        self.gain = gain[:, : nx // 2 + 1].contiguous()  # the rfft2 half-plane

    def smoothed_noise(self, batch: int, generator: torch.Generator) -> Tensor:
        """Unit-variance, spatially correlated Gaussian noise, (batch, ny, nx) float64."""
        white = torch.randn((batch, *self.shape), generator=generator, dtype=torch.float64)
        return torch.fft.irfft2(torch.fft.rfft2(white) * self.gain, s=self.shape)

    def step(self, latent: Tensor, day: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Advance one day.

        Args:
            latent: z of the previous day, (B, ny, nx).
            day: day of year of the new day (days since 1 Jan, may exceed 365), (B,).
            generator: the only source of randomness (one draw of (B, ny, nx) per day).

        Returns:
            The new latent field (B, ny, nx) and the rain (B, ny, nx) in mm/day.
        """
        eps = self.smoothed_noise(latent.shape[0], generator)
        latent = self.ar1 * latent + math.sqrt(1.0 - self.ar1**2) * eps
        mean = seasonal_cycle(day, self.mean_mm, self.wet_dry_ratio, self.peak_day)  # (B,)
        rain = mean[:, None, None] * (latent - self.threshold).clamp_min(0.0) / self.excess_mean
        return latent, rain


def potential_et(day: Tensor, mean_mm: float, amplitude: float, peak_day: float) -> Tensor:
    """Spatially uniform potential evapotranspiration, mean·(1 + a cos(2π(day − peak)/365.25)), (B,)."""
    return mean_mm * (1.0 + amplitude * torch.cos(2 * math.pi * (day - peak_day) / DAYS_PER_YEAR))
