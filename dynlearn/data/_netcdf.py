"""GloFAS-style NetCDF4 files: a packed, compressed, CF-encoded writer and its reader.

GloFAS and ERA5 distribute daily grids as NetCDF4 (HDF5) with ``time``/``lat``/``lon``
coordinates, CF time units (``days since …``) and, for many products, integers packed with
``scale_factor``/``add_offset`` and a ``_FillValue`` for cells off the land/river mask. The
writer produces such files from a Dataset in the dynlearn grid layout, so loaders can be tested
on files shaped like the real ones; the reader decodes one whole file into memory. Ingest
(`dynlearn.data.ingest`) opens files the same way (`open_netcdf`) but streams one variable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._errors import DataError
from ..atomic import atomic_file
from ..systems.river import CF_COORD_ATTRS  # the river grid's, as the grid stores write them

ENGINE = "h5netcdf"  # NetCDF4 needs h5netcdf (or netCDF4); xarray's scipy fallback is NetCDF3 only
GRID_DIMS = ("time", "lat", "lon")
_PACK_DTYPES = {"int16": np.int16, "int32": np.int32}
_COMPRESSION = {"zlib": True, "complevel": 4, "shuffle": True}
_RENAME = {"latitude": "lat", "longitude": "lon"}  # ERA5's names -> the schema's


def packing(values: np.ndarray, dtype: str = "int16") -> dict[str, object]:
    """The CF packing of `values` into `dtype`: scale_factor, add_offset and _FillValue.

    The finite range [lo, hi] is mapped onto the 2ⁿ − 2 integers symmetric about 0, leaving
    the most negative integer for _FillValue; decoding then errs by at most scale_factor/2.
    A constant (or all-NaN) array gets scale_factor 1.
    """
    info = np.iinfo(_PACK_DTYPES[dtype])
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    scale = (hi - lo) / (2.0 * info.max) if hi > lo else 1.0
    return {"dtype": dtype, "scale_factor": np.float64(scale), "add_offset": np.float64((hi + lo) / 2),
            "_FillValue": info.min}


def write_glofas_netcdf(
    ds: xr.Dataset, path: str | Path, *, packed: bool = True, pack_dtype: str = "int16"
) -> Path:
    """Write `ds` as a GloFAS-style NetCDF4 file, atomically (temporary file, then rename).

    Float variables are gzip-compressed (with shuffle) and, if `packed`, stored as `pack_dtype`
    integers with scale_factor/add_offset from their range; NaNs become _FillValue. Booleans are
    stored as int8 (xarray restores them). Time is encoded as ``days since <first day>``; lat and
    lon get CF units. Other attributes are kept.

    Args:
        ds: a Dataset with ``lat`` and ``lon`` coordinates (and usually ``time``).
        path: the ``.nc`` file to create or replace.
        packed: pack floats into integers; else store them in their own float dtype (NaN fill).
        pack_dtype: ``"int16"`` (GloFAS-like, 65534 levels) or ``"int32"``.

    Returns:
        The path written.

    Raises:
        DataError: if `ds` lacks lat/lon or `pack_dtype` is unknown.
    """
    path = Path(path)
    missing = [name for name in ("lat", "lon") if name not in ds.coords]
    if missing:
        raise DataError(f"cannot write {path}: the dataset has no {missing} coordinate(s); "
                        "name the grid coordinates lat and lon")
    if pack_dtype not in _PACK_DTYPES:
        raise DataError(f"unknown pack_dtype {pack_dtype!r}; use one of {sorted(_PACK_DTYPES)}")
    ds = ds.copy()
    for name in ds.variables:  # a dataset read from a file carries that file's encoding: start afresh
        ds[name].encoding = {}
    encoding: dict[str, dict] = {}
    for name in ("lat", "lon", "time"):
        if name in ds.coords:
            ds[name].attrs = {**ds[name].attrs, **CF_COORD_ATTRS[name]}
            encoding[name] = {"_FillValue": None}
    if "time" in ds.coords and np.issubdtype(ds["time"].dtype, np.datetime64):
        first = pd.Timestamp(ds["time"].values[0]).normalize()
        encoding["time"].update(units=f"days since {first:%Y-%m-%d}", calendar="proleptic_gregorian",
                                dtype="float64")
    for name, var in ds.data_vars.items():
        if np.issubdtype(var.dtype, np.floating):
            values = np.asarray(var.values, dtype=np.float64)
            fill = packing(values, pack_dtype) if packed else {"_FillValue": np.nan}
            encoding[name] = {**_COMPRESSION, **fill}
        else:
            encoding[name] = dict(_COMPRESSION)
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE, encoding=encoding)
    return path


def read_glofas_netcdf(path: str | Path) -> xr.Dataset:
    """Read a GloFAS-style NetCDF4 grid file fully into memory, decoded (unpacked, fill → NaN, CF time).

    ``latitude``/``longitude`` are renamed to ``lat``/``lon``.

    Raises:
        DataError: if the file is missing or unreadable, or its variables are not on
            (time,) lat, lon grids.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no NetCDF file at {path}; fix the path")
    with open_netcdf(path) as opened:
        ds = opened.load()
    for name, var in ds.data_vars.items():
        if not {"lat", "lon"} <= set(var.dims) or not set(var.dims) <= set(GRID_DIMS):
            raise DataError(f"{path}: variable {name!r} has dims {var.dims}, expected a subset of "
                            f"{GRID_DIMS} with lat and lon; re-export it on a lat/lon grid")
    return ds


@contextmanager
def open_netcdf(path: Path, *, fix: str = "re-download or re-export it") -> Iterator[xr.Dataset]:
    """`path` opened lazily and decoded (CF time, unpacked, fill → NaN), with ``lat``/``lon`` for
    ``latitude``/``longitude``; closed on leaving the block.

    Args:
        fix: the second half of the one-line error for an unreadable file.

    Raises:
        DataError: if the file cannot be read as NetCDF4.
    """
    try:
        opened = xr.open_dataset(path, engine=ENGINE)
    except (OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{path} is not a readable NetCDF4 file ({reason}); {fix}") from None
    with opened:  # the renamed copy does not hold the file: close the one opened
        yield opened.rename({k: v for k, v in _RENAME.items() if k in opened.variables or k in opened.dims})
