"""The river basin in xarray: its variables, coordinates and static maps, described once.

Both writers of river data use this: `simulate_river_dataset` (an in-memory Dataset, e.g. for
a GloFAS-style NetCDF file) and the grid-store generator in `dynlearn.data`, so a generated store
and a file describe the basin alike (CF conventions).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from dynlearn.systems.river._basin import RiverBasin

CF_COORD_ATTRS = {
    "lat": {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude", "axis": "Y"},
    "lon": {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude", "axis": "X"},
    "time": {"standard_name": "time", "long_name": "time", "axis": "T"},  # units: xarray encodes datetimes
}
VARIABLE_ATTRS = {
    "discharge": {"units": "m3 s-1", "long_name": "daily mean river discharge"},
    "precipitation": {"units": "mm day-1", "long_name": "daily precipitation"},
    "evapotranspiration": {"units": "mm day-1", "long_name": "daily actual evapotranspiration"},
    "mask": {"units": "1", "long_name": "river cells (upstream area above threshold)"},
    "upstream_area": {"units": "km2", "long_name": "upstream area"},
    "elevation": {"units": "m", "long_name": "elevation (pits filled)"},
    "ldd": {"units": "1", "long_name": "local drain direction (keypad codes, 5 = outlet)"},
}
GRID = ("lat", "lon")
FORCING = ("precipitation", "evapotranspiration")  # the weather that drives the basin
STATIC_MAPS = ("mask", "upstream_area", "elevation", "ldd")


def basin_dataset(basin: RiverBasin, days: np.ndarray | None, statics: tuple[str, ...] = STATIC_MAPS) -> xr.Dataset:
    """The basin's static maps on its CF grid, with a daily ``time`` coordinate `days`
    (datetime64; None: no time coordinate, for a store whose days come later)."""
    maps = {"mask": basin.mask.numpy(), "upstream_area": basin.upstream_area_km2.numpy(),
            "elevation": basin.elevation.numpy(), "ldd": basin.ldd.numpy().astype(np.int8)}
    time = {} if days is None else {"time": ("time", days, CF_COORD_ATTRS["time"])}
    return xr.Dataset(
        {name: (GRID, maps[name], VARIABLE_ATTRS[name]) for name in statics},
        coords={**time, "lat": ("lat", basin.lat.numpy(), CF_COORD_ATTRS["lat"]),
                "lon": ("lon", basin.lon.numpy(), CF_COORD_ATTRS["lon"])},
    )
