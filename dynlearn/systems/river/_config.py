"""The typed configuration of a synthetic river basin, validated on construction."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, final

from dynlearn._errors import ConfigError

OUTLET_EDGES = ("south", "north", "east", "west")
ROUTING_SCHEMES = ("reservoir", "muskingum")


@final
@dataclass(frozen=True)
class RiverConfig:
    """Everything that defines a synthetic basin; defaults give a 64 × 64 grid at 0.05°.

    Grid rows run north to south (latitude descending, as in GloFAS files), columns west to east.

    Args:
        ny, nx: grid size (cells).
        resolution_deg: cell size in degrees of latitude and longitude.
        lat_north, lon_west: the grid's north and west edges (degrees).
        hurst: Hurst exponent H of the fractal terrain, in (0, 1); larger is smoother.
        relief_m: standard deviation of the fractal part of the terrain (m).
        tilt_m: regional drop towards the outlet edge across the grid (m).
        base_elevation_m: elevation of the outlet edge (m).
        outlet_edge: the edge water leaves through; the other edges are divides.
        fill_epsilon_m: the gradient ε that pit filling imposes on flats (m per cell).
        river_threshold_km2: upstream area from which a cell is a river (the mask).
        rain_mean_mm: annual mean rainfall (mm/day).
        rain_wet_dry_ratio: seasonal peak over trough of the mean rainfall (≥ 1).
        rain_peak_day: day of year of the wettest day.
        rain_wet_fraction: probability that a cell gets rain on a given day.
        rain_length_cells: spatial correlation length of the latent rain field (cells).
        rain_ar1: day-to-day autocorrelation of the latent rain field, in [0, 1).
        pet_mean_mm: annual mean potential evapotranspiration (mm/day).
        pet_amplitude: relative seasonal amplitude of PET, in [0, 1).
        pet_peak_day: day of year of peak PET.
        soil_capacity_mm: bucket capacity; rain above it runs off at once.
        soil_drainage_per_day: fraction of soil storage that drains to the river each day.
        routing: ``"reservoir"`` (a cascade of linear reservoirs per cell) or ``"muskingum"``.
        routing_k_days: storage constant K of one cell's reach (days, for an edge neighbour;
            diagonal reaches get √2·K).
        reservoirs_per_cell: length of the linear-reservoir cascade in each cell.
        muskingum_x: Muskingum weighting factor x in [0, 0.5].
    """

    ny: int = 64
    nx: int = 64
    resolution_deg: float = 0.05
    lat_north: float = 50.0
    lon_west: float = 10.0
    hurst: float = 0.7
    relief_m: float = 80.0
    tilt_m: float = 300.0
    base_elevation_m: float = 100.0
    outlet_edge: Literal["south", "north", "east", "west"] = "south"
    fill_epsilon_m: float = 1e-4
    river_threshold_km2: float = 200.0
    rain_mean_mm: float = 2.5
    rain_wet_dry_ratio: float = 3.0
    rain_peak_day: float = 15.0
    rain_wet_fraction: float = 0.35
    rain_length_cells: float = 4.0
    rain_ar1: float = 0.6
    pet_mean_mm: float = 1.5
    pet_amplitude: float = 0.8
    pet_peak_day: float = 196.0
    soil_capacity_mm: float = 150.0
    soil_drainage_per_day: float = 0.03
    routing: Literal["reservoir", "muskingum"] = "reservoir"
    routing_k_days: float = 1.0
    reservoirs_per_cell: int = 1
    muskingum_x: float = 0.2

    def __post_init__(self) -> None:
        if self.ny < 2 or self.nx < 2:
            raise ConfigError(f"river grid {self.ny}×{self.nx} is too small; set ny and nx ≥ 2")
        positive = ("resolution_deg", "relief_m", "fill_epsilon_m", "river_threshold_km2",
                    "rain_length_cells", "soil_capacity_mm", "routing_k_days")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"river config {name}={getattr(self, name)} must be > 0")
        non_negative = ("tilt_m", "rain_mean_mm", "pet_mean_mm")
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise ConfigError(f"river config {name}={getattr(self, name)} must be ≥ 0")
        unit = (("hurst", 0.0, 1.0, False), ("rain_wet_fraction", 0.0, 1.0, False),
                ("rain_ar1", 0.0, 1.0, True), ("pet_amplitude", 0.0, 1.0, True))
        for name, low, high, closed_low in unit:
            value = getattr(self, name)
            if not ((low <= value if closed_low else low < value) and value < high):
                bracket = "[" if closed_low else "("
                raise ConfigError(f"river config {name}={value} must be in {bracket}{low}, {high})")
        if not 0 < self.soil_drainage_per_day <= 1:
            raise ConfigError(f"river config soil_drainage_per_day={self.soil_drainage_per_day} must be in (0, 1]")
        if not self.rain_wet_dry_ratio >= 1:
            raise ConfigError(f"river config rain_wet_dry_ratio={self.rain_wet_dry_ratio} must be ≥ 1")
        if self.outlet_edge not in OUTLET_EDGES:
            raise ConfigError(f"unknown outlet_edge {self.outlet_edge!r}; use one of {OUTLET_EDGES}")
        if self.routing not in ROUTING_SCHEMES:
            raise ConfigError(f"unknown routing {self.routing!r}; use one of {ROUTING_SCHEMES}")
        if self.reservoirs_per_cell < 1:
            raise ConfigError(f"river config reservoirs_per_cell={self.reservoirs_per_cell} must be ≥ 1")
        if not 0 <= self.muskingum_x <= 0.5:
            raise ConfigError(f"river config muskingum_x={self.muskingum_x} must be in [0, 0.5]")
        if self.routing == "muskingum":  # reach K runs from K (edge) to √2·K (diagonal); Δt = 1 day
            k_low, k_high = self.routing_k_days, math.sqrt(2.0) * self.routing_k_days
            if 2 * k_high * self.muskingum_x > 1 or 2 * k_low * (1 - self.muskingum_x) < 1:
                raise ConfigError(
                    f"Muskingum needs 2Kx ≤ 1 day ≤ 2K(1−x) for K in [{k_low:.3g}, {k_high:.3g}] days with "
                    f"x = {self.muskingum_x}; raise routing_k_days or lower muskingum_x")
        if not -90 <= self.lat_north - self.ny * self.resolution_deg < self.lat_north <= 90:
            raise ConfigError("river grid leaves [-90°, 90°] latitude; lower lat_north, ny or resolution_deg")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serializable dict."""
        return dataclasses.asdict(self)
