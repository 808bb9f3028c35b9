"""The on-disk format of a dynlearn store, and the one `validate()` every reader calls.

A store is one Zarr (format 3) group read as one xarray Dataset. Its ``kind`` attr names its
layout (`LAYOUTS`): the data variable and its dims, and the dimension the split runs along.

- ``ode``: ``state(traj, time, dim)``; state names in the ``state_names`` attr;
- ``series``: ``state(time, dim)``, one recorded multivariate series (state names as for ``ode``);
- ``field1d``: ``u(traj, time, x)``; ``field2d``: ``vorticity(traj, time, y, x)``;
- ``grid``: ``discharge(time, lat, lon)`` plus forcing variables on the same dims and a boolean
  ``mask(lat, lon)`` (true on river cells); ``stations``: ``discharge(station, time)``, with an
  optional boolean ``mask(station, time)`` (true where observed);
- coordinates: integer ``traj`` / ``station``; ``time`` float (system time units) or
  datetime64; ``x, y, lat, lon`` float; ``split`` (int8, CF flags 0 = train, 1 = val, 2 = test, 3 = floor: true trajectories
  kept apart for the true-vs-true floor of the evaluation)
  on ``traj`` for ensembles, on ``time`` (contiguous periods) for series, grids and stations;
- NaN only where a mask is false;
- attrs: ``schema_version``, ``kind``, ``system``, ``params``, ``dt`` (stored), ``dt_simulated``,
  ``solver``, ``seed``, ``config_hash``, ``dynlearn_version``, ``created`` (the only attr that
  differs between identical runs), ``units``, ``lyapunov_time``, ``norm_mean`` / ``norm_std``
  (train split only: per state dimension for ``ode`` and ``series``, one value for a field or grid) and
  ``complete``, written last together with consolidated metadata.

A store whose ``complete`` attr is not true is partial: a generator resumes it, every reader
refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from .._errors import DataError
from ._chunks import readable

SCHEMA_VERSION = 1
STATE = "state"
TRAJ, TIME, DIM = "traj", "time", "dim"
MASK = "mask"
SPLIT = "split"
SPLITS = ("train", "val", "test", "floor")  # floor: true trajectories for the true-vs-true floor
COMPLETE = "complete"
REQUIRED_ATTRS = (
    "schema_version", "kind", "system", "params", "dt", "dt_simulated", "solver", "seed",
    "config_hash", "dynlearn_version", "created", "norm_mean", "norm_std", COMPLETE,
)


@dataclass(frozen=True)
class Layout:
    """Where a kind of store keeps its data.

    Attributes:
        variable: the data variable models learn from.
        dims: its dimensions, in order.
        split_dim: the dimension the train/val/test split runs along.
    """

    variable: str
    dims: tuple[str, ...]
    split_dim: str


LAYOUTS = {
    "ode": Layout(STATE, (TRAJ, TIME, DIM), TRAJ),
    "series": Layout(STATE, (TIME, DIM), TIME),
    "field1d": Layout("u", (TRAJ, TIME, "x"), TRAJ),
    "field2d": Layout("vorticity", (TRAJ, TIME, "y", "x"), TRAJ),
    "grid": Layout("discharge", (TIME, "lat", "lon"), TIME),
    "stations": Layout("discharge", ("station", TIME), TIME),
}


def forcing_variables(ds: xr.Dataset) -> tuple[str, ...]:
    """The store's exogenous forcing: every data variable other than the states on the states'
    dims (a river grid's precipitation and evapotranspiration), sorted by name; () for none."""
    layout = layout_of(ds)
    return tuple(sorted(name for name, v in ds.data_vars.items()
                        if name != layout.variable and v.dims == layout.dims))


def climatological_forcing(ds: xr.Dataset) -> np.ndarray:
    """The training split's mean of each forcing variable per cell, (U, *state dims without traj
    and time), NaN where a cell has no finite value: what a forecaster knows of the future forcing
    at its issue time (the forcing's climate, not the weather to come)."""
    layout = layout_of(ds)
    train = split_indices(ds, "train")
    lead = (TRAJ, TIME) if layout.split_dim == TRAJ else (TIME,)
    means = []
    for name in forcing_variables(ds):
        values = ds[name].isel({layout.split_dim: train}).transpose(*lead, ...).values
        means.append(np.nanmean(values.reshape(-1, *values.shape[len(lead):]), axis=0))
    return np.stack(means) if means else np.zeros((0,))


def layout_of(ds_or_attrs) -> Layout:
    """The `Layout` of a store, from its Dataset or attrs."""
    attrs = getattr(ds_or_attrs, "attrs", ds_or_attrs)
    return LAYOUTS[attrs["kind"]]


# Set on every group dynlearn creates, so it never deletes or resumes a folder it did not make.
MARKER = "dynlearn_store"


def is_dynlearn_store(path: str | Path) -> bool:
    """Whether `path` holds a Zarr group created by dynlearn (complete or not)."""
    try:
        group = zarr.open_group(str(path), mode="r", use_consolidated=False)
    except (FileNotFoundError, ValueError, zarr.errors.GroupNotFoundError):
        return False
    return bool(group.attrs.get(MARKER, False))


def open_store(path: str | Path) -> xr.Dataset:
    """A store for reading, as a lazy xarray Dataset: its schema and completeness are checked,
    its values are not scanned (the writers refuse NaN/Inf; `validate` scans them again, which
    reads every chunk).

    Raises:
        DataError: not a store, a partial store, or one that breaks the schema (one line).
    """
    return validate(path, check_values=False)


def validate(path: str | Path, *, check_values: bool = True) -> xr.Dataset:
    """Check a store against the schema and open it lazily.

    Args:
        path: the store directory (``*.zarr``).
        check_values: also scan the data for NaN/Inf (reads every chunk once).

    Returns:
        The store as a lazily loaded xarray Dataset.

    Raises:
        DataError: with one line naming the problem and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no data store at {path}; run `python -m dynlearn generate` for it or fix the path")
    if not is_dynlearn_store(path):
        raise DataError(f"{path} is not a dynlearn Zarr store; point data.path at a store made by "
                        "`python -m dynlearn generate` or `ingest`")
    try:  # trust only the consolidated view: it is written last, when the store is complete
        attrs = dict(zarr.open_group(str(path), mode="r", use_consolidated=True).attrs)
    except ValueError:
        attrs = {}
    if not attrs.get(COMPLETE, False):
        raise DataError(f"store {path} is partial (its generation was interrupted); rerun the same "
                        "generate command to resume it, or delete the store")
    if attrs.get("schema_version") != SCHEMA_VERSION:
        raise DataError(f"store {path} has schema_version {attrs.get('schema_version')}, this dynlearn "
                        f"reads {SCHEMA_VERSION}; regenerate the store")
    missing = [key for key in REQUIRED_ATTRS if key not in attrs]
    if missing:
        raise DataError(f"store {path} lacks attrs {missing}; regenerate or re-ingest it")
    if attrs.get("kind") not in LAYOUTS:
        raise DataError(f"store {path} has unknown kind {attrs.get('kind')!r} (known: {', '.join(LAYOUTS)}); "
                        "regenerate or re-ingest it")
    layout = LAYOUTS[attrs["kind"]]
    with readable(path):  # a chunk that cannot be read back is named in one line
        ds = xr.open_zarr(str(path), chunks=None, consolidated=True)
        _check_layout(ds, path, layout)
        if check_values:
            _check_finite(ds, path, layout)
    return ds


def _check_layout(ds: xr.Dataset, path: Path, layout: Layout) -> None:
    if layout.variable not in ds or ds[layout.variable].dims != layout.dims:
        raise DataError(f"store {path} has no variable {layout.variable}({', '.join(layout.dims)}); "
                        "regenerate or re-ingest it")
    if SPLIT not in ds.coords or ds[SPLIT].dims != (layout.split_dim,) or set(np.unique(ds[SPLIT].values)) - set(range(len(SPLITS))):
        raise DataError(f"store {path} has no valid split({layout.split_dim}) coordinate; regenerate or re-ingest it")
    time = ds[TIME].values
    if time.size > 1 and not np.all(time[1:] > time[:-1]):
        raise DataError(f"store {path} has a time coordinate that is not increasing; re-ingest it")
    if MASK in ds and (ds[MASK].dtype != bool or not set(ds[MASK].dims) <= set(layout.dims)):
        raise DataError(f"store {path} has a mask that is not boolean over {layout.dims}; re-ingest it")


def _check_finite(ds: xr.Dataset, path: Path, layout: Layout) -> None:
    """No NaN/Inf in the data variable except where the mask is false (read in blocks)."""
    data = ds[layout.variable]
    mask = ds[MASK] if MASK in ds else None
    outer = layout.dims[0]
    block = max(1, data.sizes[outer] // 8)
    for start in range(0, data.sizes[outer], block):
        part = data.isel({outer: slice(start, start + block)})
        finite = np.isfinite(part.values)
        if mask is not None:
            allowed = mask.isel({outer: slice(start, start + block)}) if outer in mask.dims else mask
            finite |= ~allowed.broadcast_like(part).transpose(*part.dims).values
        if not finite.all():
            where = start + int(np.argwhere(~finite)[0][0])
            noun = {TRAJ: "trajectory", TIME: "time step"}.get(outer, outer)
            raise DataError(f"store {path} has NaN/Inf values (first in {noun} {where}) where no mask allows "
                            "them; fix or mask those values and re-ingest")


def split_indices(ds: xr.Dataset, split: str) -> np.ndarray:
    """Indices along the split dimension (trajectories, or time steps) of one split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    return np.flatnonzero(ds[SPLIT].values == SPLITS.index(split))
