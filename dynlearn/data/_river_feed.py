"""A river observation store that grows by one day per run: the synthetic basin as a live feed.

With no outside data feed here, the basin of a generated river store goes on being simulated,
one day per call, into ``<store>-feed.zarr``: the same terrain and network (the store's seed),
weather from a stream of its own that starts the day after the generated series ends, after a
spin-up of its own. Each day is a valid grid store (`validate` reads it; its days are all
``test``, its normalization the generated store's train split), so forecasts and their scores
run on it as on any store. Day k's weather comes from its own generator (seed, k) and the
basin's hidden state (soil, channels, rain field) is kept in the store, in two slots, so a run
killed at any moment and rerun appends the same day once: the result equals an uninterrupted
feed's. A real feed would append the days of NetCDF/CSV files dropped in a folder instead
(README, "Scheduled pipelines").
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import zarr

from .._errors import DataError
from ..atomic import atomic_directory
from ..systems.river import FORCING, GRID, VARIABLE_ATTRS, basin_dataset
from ._chunks import CHECKSUMMED
from ._schema import COMPLETE, MASK, SPLIT, SPLITS, TIME, open_store
from ._store import PROGRESS, chunk_generator, store_lock

FEED_SEED_OFFSET = 1_000_003  # the feed's weather: a stream apart from the generated store's chunks
CHUNK_DAYS = 32
_RESUME = "_resume_state"
_EPOCH = "2000-01-01"  # time is stored as days since this date (CF), like the generated stores


def feed_store_path(store: str | Path) -> Path:
    """Where the feed of the generated river store `store` lives: ``<name>-feed.zarr`` beside it."""
    store = Path(store)
    return store.parent / f"{store.name.removesuffix('.zarr')}-feed.zarr"


def advance_river_feed(store: str | Path, river, *, days: int = 1) -> Path:
    """Simulate `days` more days of the basin of the generated river `store` into its feed store.

    Args:
        store: a complete grid store generated from `river` (its seed, dates and statistics).
        river: the `RiverSystem` it was generated from (`dynlearn.systems.make_system("river", ...)`).
        days: days to append.

    Returns:
        The feed store's path (`feed_store_path`).

    Raises:
        DataError: `store` is not a generated river store of `river`.
    """
    source = open_store(store)
    if source.attrs["kind"] != "grid" or source.attrs["system"] != river.name or "generation" not in source.attrs:
        raise DataError(f"{store} is not a generated river store; give the store `python -m dynlearn generate "
                        "system=river data=river` made")
    if tuple(source.sizes[d] for d in GRID) != tuple(river.state_shape):
        raise DataError(f"{store} holds a {source.sizes['lat']}x{source.sizes['lon']} grid, the river config a "
                        f"{river.state_shape[0]}x{river.state_shape[1]} one; use the config the store was made with")
    path = feed_store_path(store)
    with store_lock(path):
        if not path.exists():
            _create(path, river, source, Path(store))
        basin = river.basin(int(source.attrs["seed"]))
        group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
        seed = int(source.attrs["seed"]) + FEED_SEED_OFFSET
        for _ in range(days):
            _append_day(path, group, basin, seed)
    return path


def _create(path: Path, river, source, store: Path) -> None:
    """An empty feed: statics, the spun-up hidden state in slot 0, the attrs of a grid store."""
    seed = int(source.attrs["seed"])
    basin = river.basin(seed)
    first_day = pd.Timestamp(source["time"].values[-1]) + pd.Timedelta(days=1)
    spin_up = int(round(source.attrs["generation"]["transient_time"]))
    state = basin.initial_state(1, day_of_year=float(first_day.day_of_year - 1 - spin_up))
    if spin_up:
        _, state = basin.simulate(state, spin_up, chunk_generator(seed + FEED_SEED_OFFSET, -1))
    attrs = {key: source.attrs[key] for key in source.attrs if key not in (COMPLETE, PROGRESS, "generation")}
    attrs.update(config_hash=hashlib.sha256(f"{source.attrs['config_hash']}-feed".encode()).hexdigest()[:16],
                 created=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
                 feed={"source_store": str(store.resolve()), "first_day": str(first_day.date()),
                       "seed_offset": FEED_SEED_OFFSET},
                 norm_mean=source.attrs["norm_mean"], norm_std=source.attrs["norm_std"], **{COMPLETE: False})
    ny, nx = river.state_shape
    with atomic_directory(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr: consolidated metadata is not in the v3 spec yet
        basin_dataset(basin, None, statics=(MASK, "upstream_area", "elevation")).to_zarr(
            str(tmp), mode="w-", zarr_format=3, consolidated=False)
        group = zarr.open_group(str(tmp), mode="r+", use_consolidated=False)
        group.attrs.update(attrs)
        group.create_array(TIME, shape=(0,), chunks=(CHUNK_DAYS,), dtype="i8", dimension_names=(TIME,),
                           attributes={"units": f"days since {_EPOCH}", "calendar": "proleptic_gregorian",
                                       "standard_name": "time", "axis": "T"})
        group.create_array(SPLIT, shape=(0,), chunks=(CHUNK_DAYS,), dtype="i1", dimension_names=(TIME,),
                           attributes={"flag_values": [0, 1, 2], "flag_meanings": " ".join(SPLITS[:3])})
        for name in ("discharge", *FORCING):
            group.create_array(name, shape=(0, ny, nx), chunks=(CHUNK_DAYS, ny, nx), dtype="f8", fill_value=np.nan,
                               dimension_names=(TIME, *GRID), compressors=CHECKSUMMED,
                               attributes={**VARIABLE_ATTRS[name], "coordinates": SPLIT})
        resume = group.create_group(_RESUME)
        for name, value in state.items():
            resume.create_array(name, shape=(2, *value.shape), dtype="f8", fill_value=np.nan)
            resume[name][0] = value.numpy()
        group.attrs[PROGRESS] = {"chunks_done": 0, "first_day": str(first_day.date())}


def _append_day(path: Path, group: zarr.Group, basin, seed: int) -> None:
    """Day k = days done: simulate it from slot k % 2, write row k (again, if a killed run got that
    far), keep the next state in the other slot, then count it and publish the new view."""
    record = dict(group.attrs[PROGRESS])
    k, first_day = int(record["chunks_done"]), pd.Timestamp(record["first_day"])
    state = {name: torch.from_numpy(np.asarray(group[_RESUME][name][k % 2])) for name in group[_RESUME].array_keys()}
    outputs, state = basin.simulate(state, 1, chunk_generator(seed, k))
    mask = basin.mask.numpy()
    discharge = outputs["discharge"][0, 0].numpy()
    if not np.isfinite(discharge[mask]).all() or (discharge[mask] < 0).any():
        raise DataError(f"the river feed {path} produced negative or non-finite discharge on day {k}; check the "
                        "river config, delete the feed store and rerun")
    for name in (TIME, SPLIT, "discharge", *FORCING):
        group[name].resize((k + 1, *group[name].shape[1:]))
    group[TIME][k] = (first_day + pd.Timedelta(days=k) - pd.Timestamp(_EPOCH)).days
    group[SPLIT][k] = SPLITS.index("test")  # every fed day lies after the generated series: the future
    group["discharge"][k] = np.where(mask, discharge, np.nan)
    for name in FORCING:
        group[name][k] = outputs[name][0, 0].numpy()
    for name, value in state.items():
        group[_RESUME][name][(k + 1) % 2] = value.numpy()
    # One attribute write counts the day and marks the store readable (every appended day leaves one).
    group.attrs.update({PROGRESS: {**record, "chunks_done": k + 1}, COMPLETE: True})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(path))
