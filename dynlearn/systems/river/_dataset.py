"""A synthetic river basin's daily simulation as an xarray Dataset in the dynlearn grid layout."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
import xarray as xr

from dynlearn.systems.river._basin import RiverBasin
from dynlearn.systems.river._config import RiverConfig

_LAT = {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude", "axis": "Y"}
_LON = {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude", "axis": "X"}


def simulate_river_dataset(
    config: RiverConfig,
    n_days: int,
    generator: torch.Generator,
    start_date: str | np.datetime64 = "2000-01-01",
) -> xr.Dataset:
    """Synthesize a basin and simulate one member for `n_days` from `start_date`.

    Terrain and then weather are drawn from `generator`. The first day's seasonality follows the
    day of year of `start_date`. Values are daily means labelled by their day.

    Returns:
        ``discharge(time, lat, lon)`` m³/s (NaN off the river mask), ``precipitation`` and
        ``evapotranspiration(time, lat, lon)`` mm/day, static ``mask(lat, lon)`` bool,
        ``upstream_area`` km², ``elevation`` m (filled) and ``ldd`` (LDD codes); coords
        ``time`` (datetime64, daily), ``lat`` (descending) and ``lon``; attrs describe the basin.
    """
    start = pd.Timestamp(start_date).normalize()
    basin = RiverBasin.synthesize(config, generator)
    state = basin.initial_state(1, day_of_year=float(start.day_of_year - 1))
    outputs, _ = basin.simulate(state, n_days, generator)
    mask = basin.mask.numpy()
    grid = ("lat", "lon")
    discharge = np.where(mask, outputs["discharge"][0].numpy(), np.nan)
    data_vars = {
        "discharge": (("time", *grid), discharge,
                      {"units": "m3 s-1", "long_name": "daily mean river discharge"}),
        "precipitation": (("time", *grid), outputs["precipitation"][0].numpy(),
                          {"units": "mm day-1", "long_name": "daily precipitation"}),
        "evapotranspiration": (("time", *grid), outputs["evapotranspiration"][0].numpy(),
                               {"units": "mm day-1", "long_name": "daily actual evapotranspiration"}),
        "mask": (grid, mask, {"units": "1", "long_name": "river cells (upstream area above threshold)"}),
        "upstream_area": (grid, basin.upstream_area_km2.numpy(), {"units": "km2", "long_name": "upstream area"}),
        "elevation": (grid, basin.elevation.numpy(), {"units": "m", "long_name": "elevation (pits filled)"}),
        "ldd": (grid, basin.ldd.numpy().astype(np.int8),
                {"units": "1", "long_name": "local drain direction (keypad codes, 5 = outlet)"}),
    }
    coords = {
        "time": ("time", pd.date_range(start, periods=n_days, freq="D").values, {"long_name": "time"}),
        "lat": ("lat", basin.lat.numpy(), _LAT),
        "lon": ("lon", basin.lon.numpy(), _LON),
    }
    attrs = {"title": "dynlearn synthetic river basin", "Conventions": "CF-1.8",
             "basin": json.dumps(basin.to_dict())}
    return xr.Dataset(data_vars, coords, attrs)
