"""A synthetic river basin's daily simulation as an xarray Dataset in the dynlearn grid layout."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
import xarray as xr

from dynlearn.systems.river._basin import RiverBasin
from dynlearn.systems.river._config import RiverConfig
from dynlearn.systems.river._xarray import FORCING, GRID, VARIABLE_ATTRS, basin_dataset


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
    ds = basin_dataset(basin, pd.date_range(start, periods=n_days, freq="D").values)
    discharge = np.where(basin.mask.numpy(), outputs["discharge"][0].numpy(), np.nan)
    for name, values in (("discharge", discharge), *((f, outputs[f][0].numpy()) for f in FORCING)):
        ds[name] = (("time", *GRID), values, VARIABLE_ATTRS[name])
    ds.attrs.update(title="dynlearn synthetic river basin", Conventions="CF-1.8", basin=json.dumps(basin.to_dict()))
    return ds[["discharge", *FORCING, *ds.data_vars.keys() - {"discharge", *FORCING}]]
