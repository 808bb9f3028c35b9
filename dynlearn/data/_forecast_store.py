"""Forecast stores: forecasts from many inits, written chunk by chunk of inits, resumable after a kill.

One Zarr (format 3) group, read as one xarray Dataset (`open_forecast`), ``kind`` ``"forecast"``:

- ``forecast(init, member, lead, *state dims)``: float64, in the store's physical units; NaN
  where the input's mask is false. ``member`` has length 1 without an ensemble;
- ``ensemble_mean`` and ``ensemble_spread(init, lead, *state dims)`` (the standard deviation over
  members, ddof 1) when there are several members;
- ``observed(init, lead, *state dims)``: the input's observation at each lead, NaN once its data end;
- skill by lead, added when the store is finished: see `dynlearn.forecast`;
- coordinates: ``init`` (0 .. N-1) with ``init_traj`` (trajectory in the input, -1 for a time
  split), ``init_step`` (its time step there) and ``init_time`` (its time, encoded as the input
  encodes ``time``); ``member``; ``lead`` (steps times dt, in the input's time units, e.g. days)
  with ``lead_step`` (1 .. L); the input's coordinates of the state dims (``lat``, ``lon``, ...)
  and its ``mask``;
- attrs: those of every store (`store_attrs`: system, params, dt, units, ``config_hash`` = the
  forecast's key, dynlearn version, ``created``), ``forecast`` (what it was made from) and the
  progress record; ``complete`` is written last, with the consolidated metadata.

Every chunk of `chunk_inits` inits is written whole (its variables, then the progress record
that counts it), so a job killed at any moment resumes at the first chunk the record does not
count. The record also lists which job computed each chunk, ``computed: [[chunk, job], ...]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from .._errors import DataError
from ._chunks import CHECKSUMMED
from ._inits import ForecastInits
from ._schema import MASK, TIME, TRAJ, layout_of
from ._store import (
    check_reusable,
    create_store_atomically,
    finalize_store,
    is_complete,
    read_progress,
    store_attrs,
    store_lock,
    write_progress,
)

FORECAST_KIND = "forecast"
INIT, MEMBER, LEAD = "init", "member", "lead"


@dataclass(frozen=True)
class ForecastStore:
    """A forecast store on disk, complete or being written.

    Attributes:
        path: the store directory.
        n_inits, members, chunk_inits: its size and the inits per chunk (the unit of resumption).
    """

    path: Path
    n_inits: int
    members: int
    chunk_inits: int

    @classmethod
    @contextmanager
    def writing(cls, path: str | Path, **options) -> Iterator[ForecastStore]:
        """`open` the store under its one-writer lock, held for the block: a second job writing the
        same forecast waits, then finds it complete (or resumes it)."""
        with store_lock(Path(path)):
            yield cls.open(path, **options)

    @classmethod
    def open(cls, path: str | Path, *, key: str, source: str | Path, inits: ForecastInits, members: int,
             chunk_inits: int, about: dict) -> ForecastStore:
        """The store at `path`: created empty (atomically) if missing, else the one made with `key`.

        Args:
            path: the store directory.
            key: identifies the forecast (inputs and settings); a store made with another key is
                never resumed or overwritten.
            source: the input store the inits come from (its attrs, coordinates and mask are copied).
            inits: where the forecasts start.
            members: forecasts per init.
            chunk_inits: inits per chunk.
            about: the ``forecast`` attr: what the forecast was made from (JSON values).

        Raises:
            DataError: `path` holds something else, or a forecast made with another key.
        """
        path = Path(path)
        store = cls(path, len(inits), members, chunk_inits)
        if path.exists():
            check_reusable(path, key, problem="holds a forecast made from other inputs or settings",
                           fix="move it away and rerun")
        else:
            create_store_atomically(path, lambda group: _template(group, key, Path(source), inits, members,
                                                                  chunk_inits, about))
        return store

    @property
    def n_chunks(self) -> int:
        return -(-self.n_inits // self.chunk_inits)

    def rows(self, chunk: int) -> slice:
        """The inits of chunk `chunk`."""
        return slice(chunk * self.chunk_inits, min((chunk + 1) * self.chunk_inits, self.n_inits))

    @property
    def complete(self) -> bool:
        return is_complete(self.path)

    @property
    def cells(self) -> np.ndarray:
        """Which state cells are forecast, flattened: the input's mask, or all of them."""
        group = self._group("r")
        if MASK in group:
            return group[MASK][...].ravel()
        return np.ones(math.prod(group["observed"].shape[2:]), dtype=bool)

    def progress(self) -> dict:
        """The progress record: ``chunks_done``, ``computed`` ([chunk, job] pairs), ``jobs`` started."""
        record = read_progress(self.path)
        return {**record, "chunks_done": max(record["chunks_done"], 0), "computed": record.get("computed", []),
                "jobs": record.get("jobs", 0)}

    def start_job(self) -> int:
        """Count one more job writing the store; returns its number (0 for the first)."""
        record = self.progress()
        write_progress(self.path, chunks_done=record["chunks_done"], computed=record["computed"],
                       jobs=record["jobs"] + 1)
        return record["jobs"]

    def write(self, chunk: int, forecast: np.ndarray, observed: np.ndarray, job: int) -> None:
        """Write chunk `chunk`, then count it in the progress record.

        Args:
            forecast: (n, members, lead, *state_shape) in physical units.
            observed: (n, lead, *state_shape).
            job: the job computing it (`start_job`).
        """
        group = self._group("r+")
        rows = self.rows(chunk)
        if MASK in group:  # nothing is forecast off the mask (a grid's land cells)
            forecast = np.where(group[MASK][...], forecast, np.nan)
        group["forecast"][rows] = forecast
        if self.members > 1:
            group["ensemble_mean"][rows] = forecast.mean(axis=1)
            group["ensemble_spread"][rows] = forecast.std(axis=1, ddof=1)
        group["observed"][rows] = observed
        record = self.progress()
        write_progress(self.path, chunks_done=chunk + 1, computed=[*record["computed"], [chunk, job]],
                       jobs=record["jobs"])

    def read(self, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        """(forecast (n, members, lead, ...), observed (n, lead, ...)) of a written chunk."""
        group = self._group("r")
        rows = self.rows(chunk)
        return group["forecast"][rows], group["observed"][rows]

    def finish(self, by_lead: dict[str, np.ndarray]) -> None:
        """Add the variables `by_lead` (each (lead,)), then mark the store complete (last)."""
        group = self._group("r+")
        for name, values in by_lead.items():
            group.create_array(name, data=np.asarray(values), dimension_names=(LEAD,),
                               attributes={"coordinates": "lead_step"}, overwrite=True)
        finalize_store(self.path, {})

    def _group(self, mode: str) -> zarr.Group:
        return zarr.open_group(str(self.path), mode=mode, use_consolidated=False)


def open_forecast(path: str | Path) -> xr.Dataset:
    """A complete forecast store as a lazy xarray Dataset.

    Raises:
        DataError: no store there, a partial one (rerun its forecast command to resume it), or
            not a forecast store.
    """
    path = Path(path)
    if not is_complete(path):
        raise DataError(f"no complete forecast store at {path}; rerun the forecast command that writes it "
                        "(it resumes a partial one)")
    ds = xr.open_zarr(str(path), consolidated=True, chunks=None)
    if ds.attrs.get("kind") != FORECAST_KIND:
        raise DataError(f"{path} is a {ds.attrs.get('kind')} store, not a forecast; give a forecast.zarr")
    return ds


def _template(group: zarr.Group, key: str, source: Path, inits: ForecastInits, members: int,
              chunk_inits: int, about: dict) -> None:
    """The empty store: attrs, coordinates, and NaN-filled variables to be written chunk by chunk."""
    src = zarr.open_group(str(source), mode="r", use_consolidated=True)
    attrs = dict(src.attrs)
    layout = layout_of(attrs)
    state_dims = tuple(d for d in layout.dims if d not in (TRAJ, TIME))
    shape = tuple(src[layout.variable].shape[layout.dims.index(d)] for d in state_dims)
    dt, n, lead = float(attrs["dt"]), len(inits), inits.lead
    group.attrs.update(store_attrs(kind=FORECAST_KIND, system=attrs["system"], params=attrs["params"],
                                   state_names=attrs["state_names"], dt=dt, dt_simulated=attrs["dt_simulated"],
                                   solver=attrs["solver"], seed=about["spec"]["seed"],
                                   lyapunov_time=attrs.get("lyapunov_time"), units=attrs["units"], config_hash=key))
    group.attrs.update({"forecast": about, "state_dims": list(state_dims)})
    time_units = attrs.get("dt_units", "system time units")

    def coordinate(name: str, data, dims: tuple[str, ...], **attributes) -> None:
        group.create_array(name, data=np.asarray(data), dimension_names=dims, attributes=attributes)

    coordinate(INIT, np.arange(n), (INIT,), long_name="forecast init")
    coordinate("init_traj", inits.traj, (INIT,), long_name="trajectory of the init in the input (-1: a time split)")
    coordinate("init_step", inits.step, (INIT,), long_name="time step of the init in the input")
    coordinate("init_time", src[TIME][...][inits.step], (INIT,), **dict(src[TIME].attrs))
    coordinate(MEMBER, np.arange(members), (MEMBER,), long_name="ensemble member")
    # "lead_time_units", not "units": xarray would decode a lead in days into timedeltas, a lead
    # in system time units not; one float lead reads the same for every store.
    coordinate(LEAD, np.arange(1, lead + 1) * dt, (LEAD,), long_name="lead time (steps x dt)",
               lead_time_units=time_units)
    coordinate("lead_step", np.arange(1, lead + 1), (LEAD,), long_name="lead in steps")
    # The state dims' coordinates (lat, lon, station, ...), the ones the input names beside its
    # variable (station_id) and the mask, as the input stores them.
    named = set(src[layout.variable].attrs.get("coordinates", "").split())
    extra = []
    for name in src.array_keys():
        array = src[name]
        dims = tuple(array.metadata.dimension_names or ())
        if dims and set(dims) <= set(state_dims) and (name in state_dims or name in named or name == MASK):
            coordinate(name, array[...], dims, **dict(array.attrs))
            extra += [name] if name in named else []
    coords = {"coordinates": " ".join(["init_traj", "init_step", "init_time", "lead_step", *extra]),
              "units": attrs["units"]}
    variables = {"forecast": (INIT, MEMBER, LEAD), "observed": (INIT, LEAD)}
    if members > 1:
        variables |= {"ensemble_mean": (INIT, LEAD), "ensemble_spread": (INIT, LEAD)}
    sizes = {INIT: n, MEMBER: members, LEAD: lead}
    for name, dims in variables.items():
        group.create_array(name, shape=(*(sizes[d] for d in dims), *shape),
                           chunks=(min(chunk_inits, n), *(sizes[d] for d in dims[1:]), *shape), dtype="f8",
                           fill_value=np.nan, dimension_names=(*dims, *state_dims), compressors=CHECKSUMMED,
                           attributes={**coords, "long_name": f"{name.replace('_', ' ')} of {layout.variable}"})
