"""A synthetic river basin: fractal terrain, D8 drainage, stochastic rain, bucket runoff, routing.

Public names are re-exported by `dynlearn.systems`; the building blocks stay importable from here
for tests and for readers who want to check them against the papers cited in each module.
"""

from dynlearn.systems.river._basin import RiverBasin
from dynlearn.systems.river._bucket import bucket_step
from dynlearn.systems.river._config import RiverConfig
from dynlearn.systems.river._dataset import simulate_river_dataset
from dynlearn.systems.river._flow_network import (
    d8_directions,
    downstream_index,
    fill_depressions,
    flow_accumulation,
    topological_levels,
)
from dynlearn.systems.river._network_solve import UpstreamSolver
from dynlearn.systems.river._rainfall import RainfallModel, potential_et, seasonal_cycle
from dynlearn.systems.river._system import RiverSystem
from dynlearn.systems.river._routing import AbstractRouting, LinearReservoirRouting, MuskingumRouting
from dynlearn.systems.river._terrain import fractal_surface, synthesize_terrain
from dynlearn.systems.river._xarray import CF_COORD_ATTRS, FORCING, GRID, VARIABLE_ATTRS, basin_dataset

__all__ = [
    "CF_COORD_ATTRS",
    "FORCING",
    "GRID",
    "VARIABLE_ATTRS",
    "AbstractRouting",
    "LinearReservoirRouting",
    "MuskingumRouting",
    "RainfallModel",
    "RiverBasin",
    "RiverConfig",
    "RiverSystem",
    "UpstreamSolver",
    "basin_dataset",
    "bucket_step",
    "d8_directions",
    "downstream_index",
    "fill_depressions",
    "flow_accumulation",
    "fractal_surface",
    "potential_et",
    "seasonal_cycle",
    "simulate_river_dataset",
    "synthesize_terrain",
    "topological_levels",
]
