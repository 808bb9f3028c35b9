"""Readers for plain arrays (.npy) and tables (.csv): trajectory ensembles, single series, stations.

CSV layouts (wide, one header line, one row per time):

- stations (default): the first column is time (dates, or numbers), every other column is one
  station, named by its header; empty cells are missing observations (masked, not refused).
- a series of states (``ingest.kind=ode`` or ``series``): the time column (named ``time`` or
  ``t``, else the first), then one column per state dimension, named by its header. The series
  has no mask, so an empty or NaN cell is refused, and so is an irregular time step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import DataError
from ._ingest_checks import check_regular, check_time, float_dtype, time_step
from ._ingest_write import Source

SERIES_KINDS = ("ode", "series")  # ingest.kind values that read one recorded series as a `series` store
_TIME_NAMES = ("time", "t")


def read_npy(path: Path, spec) -> Source:
    """(time, dim) or (1, time, dim) -> ``series``; (traj, time, dim) -> ``ode`` (``field1d`` if asked);
    (traj, time, y, x) -> ``field2d``."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise DataError(f"cannot read {path.name} as a .npy array ({error}); save it with numpy.save") from None
    dtype = float_dtype(array.dtype, path.name)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[0] == 1 and spec.kind != "field1d"):
        kind = "series"
    elif array.ndim == 3:
        kind = "field1d" if spec.kind == "field1d" else "ode"
    elif array.ndim == 4:
        kind = "field2d"
    else:
        raise DataError(f"{path.name} has shape {array.shape}; ingest reads (time, dim), (traj, time, dim), "
                        "(traj, time, x) with ingest.kind=field1d, or (traj, time, y, x)")
    if spec.dt is None:
        raise DataError(f"{path.name} has no time coordinate; set ingest.dt=<time step between rows>")
    if kind == "series":
        return _npy_series(path, array, dtype, spec)
    n, steps = array.shape[:2]
    coords = {"traj": np.arange(n), "time": np.arange(steps) * spec.dt}
    if kind == "field1d":
        coords["x"] = np.arange(array.shape[2], dtype=np.float64)
    elif kind == "field2d":
        coords["y"] = np.arange(array.shape[2], dtype=np.float64)
        coords["x"] = np.arange(array.shape[3], dtype=np.float64)
    names = [f"x{i}" for i in range(array.shape[2])] if kind == "ode" else ["u" if kind == "field1d" else "field"]

    def read(start: int, stop: int, steps: slice = slice(None)) -> np.ndarray:
        return np.load(path, mmap_mode="r")[start:stop, steps]

    return Source(kind=kind, shape=array.shape, dtype=dtype, read=read, coords=coords,
                  units=spec.units or "dimensionless",
                  attrs={"dt": float(spec.dt), "state_names": names, "source": {"variable": None}})


def _npy_series(path: Path, array: np.ndarray, dtype: np.dtype, spec) -> Source:
    squeeze = array.ndim == 3  # (1, time, dim)
    steps, width = array.shape[-2:]

    def read(start: int, stop: int) -> np.ndarray:
        stored = np.load(path, mmap_mode="r")
        return (stored[0] if squeeze else stored)[start:stop]

    return Source(kind="series", shape=(steps, width), dtype=dtype, read=read,
                  coords={"time": np.arange(steps) * spec.dt}, units=spec.units or "dimensionless",
                  attrs={"dt": float(spec.dt), "state_names": [f"x{i}" for i in range(width)],
                         "source": {"variable": None}})


def read_csv(path: Path, spec) -> Source:
    """Wide station series -> ``stations``; with ``ingest.kind=ode``/``series``, one series of states -> ``series``."""
    series = spec.kind in SERIES_KINDS
    if not series and not spec.units:
        raise DataError(f"{path.name}: a CSV carries no units; set ingest.units=<units of the values> (e.g. m3/s)")
    table = _table(path, "state dimension" if series else "station")
    return _csv_series(path, table, spec) if series else _csv_stations(path, table, spec)


def _csv_stations(path: Path, table, spec) -> Source:
    """``discharge(station, time)`` with ``station_id`` strings; empty cells masked."""
    time_column, stations = table.columns[0], [str(c) for c in table.columns[1:]]
    time = check_time(_time(table, time_column, path.name), path.name)
    values = table.iloc[:, 1:]
    _check_numeric(values, path.name, "leave missing values empty")
    data = np.ascontiguousarray(values.to_numpy(np.float64).T)  # (station, time)
    return Source(kind="stations", shape=data.shape, dtype=np.dtype(np.float64), read=lambda a, b: data[a:b],
                  coords={"station": np.arange(len(stations)), "time": time,
                          "station_id": ("station", np.array(stations))},
                  units=spec.units, attrs={**_time_attrs(time, time_column), "state_names": ["discharge"]})


def _csv_series(path: Path, table, spec) -> Source:
    """``state(time, dim)``, state names from the header; refuses gaps and irregular steps."""
    import pandas as pd

    if all(_is_number(c) for c in table.columns):
        raise DataError(f"{path.name}: the first line holds numbers, not column names; add a header line "
                        "(e.g. time,x,z) and ingest again")
    time_column = next((c for c in table.columns if str(c).strip().lower() in _TIME_NAMES), table.columns[0])
    values = table.drop(columns=time_column)
    _check_numeric(values, path.name, "a series holds numbers only")
    data = values.to_numpy(np.float64)  # (time, dim)
    bad = ~np.isfinite(data) | pd.isna(table[time_column]).to_numpy()[:, None]
    if bad.any():
        row, column = np.argwhere(bad)[0]
        where = time_column if pd.isna(table[time_column].iloc[row]) else values.columns[column]
        raise DataError(f"{path.name}: data row {row + 1} has an empty, NaN or Inf value in column {where}; a series "
                        "has no mask: fill the gap (e.g. interpolate) and ingest again")
    time = check_time(_time(table, time_column, path.name), path.name)
    check_regular(time, path.name)
    attrs = _time_attrs(time, time_column)
    if time.dtype == np.float64 and time.size > 1:  # the mean step of a regular series: exact for a printed grid
        attrs["dt"] = float((time[-1] - time[0]) / (time.size - 1))
    if spec.dt is not None and attrs["dt"] is not None and abs(spec.dt - attrs["dt"]) > 1e-6 * attrs["dt"]:
        raise DataError(f"{path.name}: ingest.dt={spec.dt:g} disagrees with the step {attrs['dt']:g} of the time "
                        f"column {time_column}; drop ingest.dt (the time column sets it)")
    return Source(kind="series", shape=data.shape, dtype=np.dtype(np.float64), read=lambda a, b: data[a:b],
                  coords={"time": time}, units=spec.units or "dimensionless",
                  attrs={**attrs, "state_names": [str(c) for c in values.columns]})


def _table(path: Path, column: str):
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as error:
        raise DataError(f"cannot read {path.name} as CSV ({str(error).splitlines()[0]})") from None
    if table.shape[1] < 2 or len(table) < 1:
        raise DataError(f"{path.name} has {table.shape[1]} columns and {len(table)} rows; ingest reads a time "
                        f"column and one column per {column}")
    return table


def _time(table, column, name: str) -> np.ndarray:
    """A time column as float64 numbers or datetime64[ns]."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(table[column]):
        return table[column].to_numpy(np.float64)
    try:
        return pd.to_datetime(table[column]).to_numpy("datetime64[ns]")
    except (ValueError, TypeError):
        raise DataError(f"{name}: the time column ({column}) is not dates or numbers; put the time in the first "
                        "column (or, for a series, a column named time)") from None


def _time_attrs(time: np.ndarray, time_column) -> dict:
    dt, dt_units = time_step(time)
    attrs = {"dt": dt, "source": {"variable": None, "time_column": str(time_column)}}
    if dt_units:
        attrs["dt_units"] = dt_units
    return attrs


def _check_numeric(values, name: str, fix: str) -> None:
    import pandas as pd

    text = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if text:
        raise DataError(f"{name}: column {text[0]} holds non-numbers; {fix}")


def _is_number(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
