"""Readers for plain arrays (.npy trajectory ensembles) and station tables (.csv).

CSV layout (wide): the first column is time (dates, or numbers), every other column is one
station, named by its header; empty cells are missing observations (masked, not refused).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import DataError
from ._ingest_checks import check_time, float_dtype, time_step
from ._ingest_write import Source


def read_npy(path: Path, spec) -> Source:
    """(traj, time, dim) -> ``ode`` (or ``field1d`` if asked); (traj, time, y, x) -> ``field2d``."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise DataError(f"cannot read {path.name} as a .npy array ({error}); save it with numpy.save") from None
    dtype = float_dtype(array.dtype, path.name)
    if array.ndim == 3:
        kind = "field1d" if spec.kind == "field1d" else "ode"
    elif array.ndim == 4:
        kind = "field2d"
    else:
        raise DataError(f"{path.name} has shape {array.shape}; ingest reads (traj, time, dim), (traj, time, x) "
                        "with ingest.kind=field1d, or (traj, time, y, x)")
    if spec.dt is None:
        raise DataError(f"{path.name} has no time coordinate; set ingest.dt=<time step between rows>")
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


def read_csv(path: Path, spec) -> Source:
    """Wide station series -> ``stations`` ``discharge(station, time)`` with ``station_id`` strings."""
    import pandas as pd

    if not spec.units:
        raise DataError(f"{path.name}: a CSV carries no units; set ingest.units=<units of the values> (e.g. m3/s)")
    try:
        table = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as error:
        raise DataError(f"cannot read {path.name} as CSV ({str(error).splitlines()[0]})") from None
    if table.shape[1] < 2 or len(table) < 1:
        raise DataError(f"{path.name} has {table.shape[1]} columns and {len(table)} rows; ingest reads a time "
                        "column followed by one column per station")
    time_column, stations = table.columns[0], [str(c) for c in table.columns[1:]]
    if pd.api.types.is_numeric_dtype(table[time_column]):
        time = table[time_column].to_numpy(np.float64)
    else:
        try:
            time = pd.to_datetime(table[time_column]).to_numpy("datetime64[ns]")
        except (ValueError, TypeError):
            raise DataError(f"{path.name}: the first column ({time_column}) is not dates or numbers; "
                            "put the time in the first column") from None
    time = check_time(time, path.name)
    values = table.iloc[:, 1:]
    text = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if text:
        raise DataError(f"{path.name}: column {text[0]} holds non-numbers; leave missing values empty")
    data = np.ascontiguousarray(values.to_numpy(np.float64).T)  # (station, time)
    dt, dt_units = time_step(time)
    attrs = {"dt": dt, "state_names": ["discharge"], "source": {"variable": None, "time_column": str(time_column)}}
    if dt_units:
        attrs["dt_units"] = dt_units
    return Source(kind="stations", shape=data.shape, dtype=np.dtype(np.float64), read=lambda a, b: data[a:b],
                  coords={"station": np.arange(len(stations)), "time": time,
                          "station_id": ("station", np.array(stations))},
                  units=spec.units, attrs=attrs)
