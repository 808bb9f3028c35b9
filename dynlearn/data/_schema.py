"""The on-disk format of a dynlearn store, and the one `validate()` every reader calls.

A store is one Zarr (format 3) group read as one xarray Dataset:

- ODE trajectories: ``state(traj, time, dim)`` float, no NaN;
- coordinates: ``traj`` (int), ``time`` (float, in system time units), ``split(traj)`` (int8,
  CF flags 0 = train, 1 = val, 2 = test); state names live in the ``state_names`` attr;
- attrs: ``schema_version``, ``kind``, ``system``, ``params``, ``dt`` (stored), ``dt_simulated``,
  ``solver``, ``seed``, ``config_hash``, ``dynlearn_version``, ``created`` (the only attr that
  differs between identical runs), ``units``, ``lyapunov_time``, ``norm_mean`` / ``norm_std``
  (train split only) and ``complete``, written last together with consolidated metadata.

A store whose ``complete`` attr is not true is partial: a generator resumes it, every reader
refuses it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from .._errors import DataError

SCHEMA_VERSION = 1
STATE = "state"
TRAJ, TIME, DIM = "traj", "time", "dim"
SPLIT = "split"
SPLITS = ("train", "val", "test")
COMPLETE = "complete"
REQUIRED_ATTRS = (
    "schema_version", "kind", "system", "params", "dt", "dt_simulated", "solver", "seed",
    "config_hash", "dynlearn_version", "created", "norm_mean", "norm_std", COMPLETE,
)
# Set on every group dynlearn creates, so it never deletes or resumes a folder it did not make.
MARKER = "dynlearn_store"


def is_dynlearn_store(path: str | Path) -> bool:
    """Whether `path` holds a Zarr group created by dynlearn (complete or not)."""
    try:
        group = zarr.open_group(str(path), mode="r", use_consolidated=False)
    except (FileNotFoundError, ValueError, zarr.errors.GroupNotFoundError):
        return False
    return bool(group.attrs.get(MARKER, False))


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
    ds = xr.open_zarr(str(path), chunks=None, consolidated=True)
    if STATE not in ds or ds[STATE].dims != (TRAJ, TIME, DIM):
        raise DataError(f"store {path} has no variable state(traj, time, dim); regenerate or re-ingest it")
    if SPLIT not in ds.coords or set(np.unique(ds[SPLIT].values)) - {0, 1, 2}:
        raise DataError(f"store {path} has no valid split(traj) coordinate; regenerate or re-ingest it")
    if not np.all(np.diff(ds[TIME].values) > 0):
        raise DataError(f"store {path} has a time coordinate that is not increasing; re-ingest it")
    if check_values:
        _check_finite(ds, path)
    return ds


def _check_finite(ds: xr.Dataset, path: Path) -> None:
    state = ds[STATE]
    chunk = max(1, state.shape[0] // 8)
    for start in range(0, state.shape[0], chunk):
        block = state.isel({TRAJ: slice(start, start + chunk)}).values
        if not np.isfinite(block).all():
            bad = start + int(np.argwhere(~np.isfinite(block))[0][0])
            raise DataError(f"store {path} has NaN/Inf values (first in trajectory {bad}) and no mask "
                            "allows them; fix or drop those trajectories and re-ingest")


def split_indices(ds: xr.Dataset, split: str) -> np.ndarray:
    """Trajectory indices of one split ('train', 'val' or 'test')."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    return np.flatnonzero(ds[SPLIT].values == SPLITS.index(split))
