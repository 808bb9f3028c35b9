"""A synthetic river basin: static maps once, then chunked, resumable daily simulation."""

from __future__ import annotations

import math
from typing import Any, final

import torch
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.systems.river import _bucket, _flow_network, _rainfall, _routing, _terrain
from dynlearn.systems.river._config import RiverConfig
from dynlearn.systems.river._flow_network import (
    d8_directions,
    downstream_index,
    fill_depressions,
    flow_accumulation,
    flow_length,
)
from dynlearn.systems.river._rainfall import RainfallModel, potential_et
from dynlearn.systems.river._routing import AbstractRouting, LinearReservoirRouting, MuskingumRouting

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
SECONDS_PER_DAY = 86400.0
M3_PER_MM_KM2 = 1e3  # 1 mm over 1 km² is 1000 m³
_LAND_KEYS = ("soil_storage", "rain_latent", "day")  # the rest of a state belongs to the routing


def cell_areas_km2(config: RiverConfig) -> Tensor:
    """Exact area of each lat/lon cell on the sphere, R²·Δλ·(sin φ_top − sin φ_bottom), (ny, nx)."""
    res = math.radians(config.resolution_deg)
    top = math.radians(config.lat_north) - res * torch.arange(config.ny, dtype=torch.float64)
    band = EARTH_RADIUS_KM**2 * res * (torch.sin(top) - torch.sin(top - res))  # (ny,)
    return band[:, None].expand(config.ny, config.nx).clone()


@final
class RiverBasin:
    """A gridded basin (terrain, D8 network, river mask) with a rainfall–bucket–routing model.

    Build one with `RiverBasin.synthesize` (fractal terrain), or directly on given terrain
    (pits are filled as usual). Simulation is batched over ensemble members (leading dim B) and
    chunked: `simulate` takes and returns a state, and continuing from the returned state gives,
    bit for bit, what one long call would. Randomness comes only from the generators passed to
    `synthesize` and `simulate`.

    Args:
        config: the `RiverConfig`.
        raw_elevation: terrain (m), (ny, nx); the outlet edge is taken from `config`.

    Attributes:
        config: the `RiverConfig`.
        elevation: filled elevation (m), (ny, nx) float64; ``raw_elevation`` before filling.
        ldd: D8 directions as LDD codes (5 = outlet), (ny, nx) int64.
        downstream: flat index of each cell's receiver, −1 for outlets, (ny·nx,) int64.
        cell_area_km2: exact area of each lat/lon cell, (ny, nx) float64.
        upstream_cells, upstream_area_km2: upstream area (cell included) in cells and km², (ny, nx).
        mask: river cells (upstream area ≥ the threshold), (ny, nx) bool.
        routing: the channel-routing scheme.
    """

    def __init__(self, config: RiverConfig, raw_elevation: Tensor) -> None:
        if tuple(raw_elevation.shape) != (config.ny, config.nx):
            raise ConfigError(f"elevation has shape {tuple(raw_elevation.shape)} but the config grid is "
                              f"({config.ny}, {config.nx}); pass terrain of the configured size")
        self.config = config
        outlets = _terrain.outlet_cells(config.ny, config.nx, config.outlet_edge)
        self.raw_elevation = raw_elevation.to(torch.float64)
        self.elevation = fill_depressions(self.raw_elevation, outlets, config.fill_epsilon_m)
        self.ldd = d8_directions(self.elevation, outlets)
        self.downstream = downstream_index(self.ldd)
        self.cell_area_km2 = cell_areas_km2(config)
        self.upstream_cells = flow_accumulation(self.downstream).reshape(config.ny, config.nx)
        self.upstream_area_km2 = flow_accumulation(self.downstream, self.cell_area_km2.flatten()).reshape(
            config.ny, config.nx)
        self.mask = self.upstream_area_km2 >= config.river_threshold_km2
        k_days = config.routing_k_days * flow_length(self.ldd).flatten()
        if config.routing == "muskingum":
            self.routing: AbstractRouting = MuskingumRouting(self.downstream, k_days, config.muskingum_x)
        else:
            self.routing = LinearReservoirRouting(self.downstream, k_days, config.reservoirs_per_cell)
        self.rainfall = RainfallModel(
            config.ny, config.nx, mean_mm=config.rain_mean_mm, wet_dry_ratio=config.rain_wet_dry_ratio,
            peak_day=config.rain_peak_day, wet_fraction=config.rain_wet_fraction,
            length_cells=config.rain_length_cells, ar1=config.rain_ar1)

    @classmethod
    def synthesize(cls, config: RiverConfig, generator: torch.Generator) -> RiverBasin:
        """A basin on fractal terrain drawn from `generator` (`synthesize_terrain`)."""
        elevation = _terrain.synthesize_terrain(
            config.ny, config.nx, hurst=config.hurst, relief_m=config.relief_m, tilt_m=config.tilt_m,
            base_elevation_m=config.base_elevation_m, outlet_edge=config.outlet_edge, generator=generator)
        return cls(config, elevation)

    @property
    def lat(self) -> Tensor:
        """Cell-centre latitudes, north to south, (ny,) degrees."""
        c = self.config
        return c.lat_north - c.resolution_deg * (torch.arange(c.ny, dtype=torch.float64) + 0.5)

    @property
    def lon(self) -> Tensor:
        """Cell-centre longitudes, west to east, (nx,) degrees."""
        c = self.config
        return c.lon_west + c.resolution_deg * (torch.arange(c.nx, dtype=torch.float64) + 0.5)

    def initial_state(self, n_members: int, *, day_of_year: float = 0.0) -> dict[str, Tensor]:
        """Soil half full, channels empty, latent rain field at its mean (0).

        Args:
            n_members: ensemble size B.
            day_of_year: day of year of the first simulated day (days since 1 January).

        Returns:
            ``soil_storage`` (B, ny, nx) mm, ``rain_latent`` (B, ny, nx), ``day`` (B,) and the
            routing stores (``channel_storage`` or ``reach_inflow``/``reach_outflow``, m³).
        """
        shape = (n_members, self.config.ny, self.config.nx)
        return {
            "soil_storage": torch.full(shape, 0.5 * self.config.soil_capacity_mm, dtype=torch.float64),
            "rain_latent": torch.zeros(shape, dtype=torch.float64),
            "day": torch.full((n_members,), float(day_of_year), dtype=torch.float64),
            **self.routing.initial_state(n_members),
        }

    def storage_m3(self, state: dict[str, Tensor]) -> Tensor:
        """All water in the basin, soil plus every channel store, summed from the state (B,) m³."""
        soil = (state["soil_storage"] * self.cell_area_km2).sum(dim=(1, 2)) * M3_PER_MM_KM2
        return soil + self.routing.storage(state)

    def simulate(
        self, state: dict[str, Tensor], n_days: int, generator: torch.Generator
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Simulate `n_days` daily steps from `state` (which is not modified).

        Returns:
            outputs: ``discharge`` (B, T, ny, nx) m³/s (daily mean outflow of every cell),
            ``precipitation``, ``evapotranspiration``, ``runoff`` (B, T, ny, nx) mm/day and
            ``outlet_volume`` (B, T) m³ (water that left the grid that day);
            and the state to continue from.
        """
        c = self.config
        area = self.cell_area_km2.flatten() * M3_PER_MM_KM2  # m³ per mm, (N,)
        routing_state = {key: value for key, value in state.items() if key not in _LAND_KEYS}
        soil, latent, day = state["soil_storage"], state["rain_latent"], state["day"]
        fields = {name: soil.new_zeros((soil.shape[0], n_days, c.ny, c.nx))
                  for name in ("discharge", "precipitation", "evapotranspiration", "runoff")}
        outputs = {**fields, "outlet_volume": soil.new_zeros((soil.shape[0], n_days))}
        for t in range(n_days):
            latent, rain = self.rainfall.step(latent, day, generator)
            pet = potential_et(day, c.pet_mean_mm, c.pet_amplitude, c.pet_peak_day)[:, None, None]
            soil, et, runoff = _bucket.bucket_step(
                soil, rain, pet, capacity=c.soil_capacity_mm, drainage=c.soil_drainage_per_day)
            routing_state, outflow, outlet = self.routing.route(routing_state, runoff.flatten(1) * area)
            outputs["discharge"][:, t] = outflow.reshape(soil.shape) / SECONDS_PER_DAY
            outputs["precipitation"][:, t], outputs["evapotranspiration"][:, t] = rain, et
            outputs["runoff"][:, t], outputs["outlet_volume"][:, t] = runoff, outlet
            day = day + 1.0
        return outputs, {"soil_storage": soil, "rain_latent": latent, "day": day, **routing_state}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable description: parameters, grid, network summary, methods cited."""
        c = self.config
        return {
            "name": "synthetic_river",
            "params": c.to_dict(),
            "grid": {"ny": c.ny, "nx": c.nx, "resolution_deg": c.resolution_deg,
                     "lat_north": c.lat_north, "lon_west": c.lon_west, "row_order": "north_to_south",
                     "cell_height_km": EARTH_RADIUS_KM * math.radians(c.resolution_deg),
                     "mean_cell_area_km2": float(self.cell_area_km2.mean())},
            "dt_days": 1.0,
            "routing": self.routing.to_dict(),
            "n_river_cells": int(self.mask.sum()),
            "n_outlets": int((self.downstream < 0).sum()),
            "units": {"discharge": "m3 s-1", "precipitation": "mm day-1", "evapotranspiration": "mm day-1"},
            "citation": [_terrain._CITATION, _flow_network._CITATION, _rainfall._CITATION,
                         _bucket._CITATION, _routing._CITATION[c.routing]],
        }
