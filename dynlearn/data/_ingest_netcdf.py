"""Reader for NetCDF grids (GloFAS-style ``discharge(time, lat, lon)``) and station series.

Files are opened as the GloFAS reader opens them (`open_netcdf`: xarray decodes CF time, unpacks
``scale_factor``/``add_offset`` and turns ``_FillValue`` into NaN); blocks of the one variable
ingested are read lazily along time (grids) or stations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .._errors import DataError
from ._ingest_checks import check_time, float_dtype, time_step
from ._ingest_write import Source
from ._netcdf import open_netcdf

_DEFAULT_VARIABLES = ("discharge", "dis24", "dis")
_FIX = "check the file or set ingest.format"

# CF attributes a file's variables and coordinates keep in the store (its encoding attrs,
# scale_factor and the like, are spent once xarray has decoded the values).
CF_KEYS = ("units", "long_name", "standard_name", "axis", "calendar")


def read_netcdf(path: Path, spec) -> Source:
    """``<variable>(time, lat, lon)`` -> ``grid``; ``<variable>(station, time)`` -> ``stations``."""
    with open_netcdf(path, fix=_FIX) as opened:
        return _read(path, opened, spec)


def _read(path: Path, ds: xr.Dataset, spec) -> Source:
    present = [str(v) for v in ds.data_vars]
    name = spec.variable or next((v for v in _DEFAULT_VARIABLES if v in ds), None)
    if name is None or name not in ds.data_vars:
        raise DataError(f"{path.name} has no variable {name or ' or '.join(_DEFAULT_VARIABLES)!s}; variables present: "
                        f"{', '.join(present) or 'none'} (choose with ingest.variable=)")
    da = ds[name]
    if "time" not in da.dims:
        raise DataError(f"{path.name}:{name} has dims {da.dims} and no time dim; ingest reads (time, lat, lon) or "
                        "(station, time)")
    if set(da.dims) == {"time", "lat", "lon"}:
        da, kind = da.transpose("time", "lat", "lon"), "grid"
    elif set(da.dims) == {"station", "time"}:
        da, kind = da.transpose("station", "time"), "stations"
    else:
        raise DataError(f"{path.name}:{name} has dims ({', '.join(map(str, da.dims))}); ingest reads grids "
                        "(time, lat, lon) or station series (station, time)")
    units = spec.units or da.attrs.get("units")
    if not units:
        raise DataError(f"{path.name}:{name} has no units attr; set ingest.units=<units> (e.g. m3/s)")
    time = check_time(ds["time"].values, f"{path.name}")
    dt, dt_units = time_step(time)
    attrs = {"dt": dt, "params": {}, "state_names": [name], "source": {"variable": name}}
    if dt_units:
        attrs["dt_units"] = dt_units
    coord_attrs = {"time": _cf(ds["time"].attrs)}
    if kind == "grid":
        coords = {"time": time, "lat": ds["lat"].values.astype(np.float64), "lon": ds["lon"].values.astype(np.float64)}
        coord_attrs.update(lat=_cf(ds["lat"].attrs), lon=_cf(ds["lon"].attrs))
        mask = _mask(ds, path) if "mask" in ds.data_vars and name != "mask" else None
    else:
        ids = ds["station"].values if "station" in ds.coords else ds["station_id"].values if "station_id" in ds \
            else np.arange(da.sizes["station"])
        coords = {"station": np.arange(da.sizes["station"]), "time": time,
                  "station_id": ("station", np.array([_text(i) for i in ids]))}
        mask = None

    def read(start: int, stop: int) -> np.ndarray:
        with open_netcdf(path, fix=_FIX) as g:
            return g[name].transpose(*da.dims).isel({da.dims[0]: slice(start, stop)}).values

    return Source(kind=kind, shape=tuple(da.shape), dtype=float_dtype(da.dtype, f"{path.name}:{name}"), read=read,
                  coords=coords, coord_attrs=coord_attrs, variable_attrs=_cf(da.attrs, skip=("units",)),
                  units=str(units), attrs=attrs, mask=mask)


def _mask(ds: xr.Dataset, path: Path) -> np.ndarray:
    mask = ds["mask"]
    if set(mask.dims) != {"lat", "lon"}:
        raise DataError(f"{path.name}: the mask variable has dims {mask.dims}; it must be mask(lat, lon)")
    values = mask.transpose("lat", "lon").values
    return np.nan_to_num(values.astype(np.float64), nan=0.0) != 0  # fill (NaN) counts as not river


def _cf(attrs: dict, skip: tuple[str, ...] = ()) -> dict:
    """The CF attrs worth keeping (encoding attrs are gone after decoding)."""
    return {k: _text(v) for k, v in attrs.items() if k in CF_KEYS and k not in skip}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
