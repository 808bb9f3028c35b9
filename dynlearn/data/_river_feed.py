"""A river observation store that grows by one day per run: the synthetic basin as a live feed.

With no outside data feed here, the basin of a generated river store goes on being simulated,
one day per call, into ``<store>-feed.zarr``: the same terrain and network (the store's seed),
weather from a stream of its own that starts the day after the generated series ends, after a
spin-up of its own. Each day is a valid grid store (`validate` reads it; its days are all
``test``, its normalization the generated store's train split), so forecasts and their scores
run on it as on any store. Day k's weather comes from its own generator (seed, k) and the
basin's hidden state (soil, channels, rain field) is kept in the store, in two slots, so a run
killed at any moment and rerun appends the same day once: the result equals an uninterrupted
feed's. A real feed appends the days of NetCDF files dropped in a folder instead
(`append_observation_files`, README "The daily river forecast").
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
from ..systems.river import FORCING, GRID, VARIABLE_ATTRS
from ._chunks import CHECKSUMMED
from ._schema import COMPLETE, MASK, SPLIT, SPLITS, TIME, forcing_variables, open_store
from ._store import PROGRESS, chunk_generator, store_lock

FEED_SEED_OFFSET = 1_000_003  # the feed's weather: a stream apart from the generated store's chunks
CHUNK_DAYS = 32
_RESUME = "_resume_state"
_EPOCH = "2000-01-01"  # time is stored as days since this date (CF), like the generated stores


def feed_store_path(store: str | Path) -> Path:
    """Where the feed of the generated river store `store` lives: ``<name>-feed.zarr`` beside it."""
    store = Path(store)
    return store.parent / f"{store.name.removesuffix('.zarr')}-feed.zarr"


def create_observation_store(store: str | Path) -> Path:
    """An empty observation store for the days after the grid `store` (generated or ingested):
    its grid, static maps, normalization and attrs, no days yet; its days come from the
    synthetic feed (`advance_river_feed`) or from dropped files (`append_observation_files`).
    An existing one is kept.

    Returns:
        The observation store's path (`feed_store_path`).

    Raises:
        DataError: `store` is not a driven grid store (discharge with its forcing).
    """
    source = open_store(store)
    if source.attrs["kind"] != "grid" or set(forcing_variables(source)) != set(FORCING):
        raise DataError(f"{store} is not a river grid store with {' and '.join(FORCING)}; give the store "
                        "`python -m dynlearn generate system=river data=river` made")
    path = feed_store_path(store)
    with store_lock(path):
        if not path.exists():
            _create(path, source, Path(store))
    return path


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
    if source.attrs["system"] != river.name or "generation" not in source.attrs:
        raise DataError(f"{store} is not a generated river store; give the store `python -m dynlearn generate "
                        "system=river data=river` made")
    if tuple(source.sizes[d] for d in GRID) != tuple(river.state_shape):
        raise DataError(f"{store} holds a {source.sizes['lat']}x{source.sizes['lon']} grid, the river config a "
                        f"{river.state_shape[0]}x{river.state_shape[1]} one; use the config the store was made with")
    path = create_observation_store(store)
    seed = int(source.attrs["seed"])
    basin = river.basin(seed)
    with store_lock(path):
        group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
        if _RESUME not in group:
            _start_basin(group, basin, seed, spin_up=int(round(source.attrs["generation"]["transient_time"])))
        for _ in range(days):
            _append_day(path, group, basin, seed + FEED_SEED_OFFSET)
    return path


def _create(path: Path, source, store: Path) -> None:
    """An empty observation store: the grid store's statics and attrs, no days yet."""
    first_day = pd.Timestamp(source[TIME].values[-1]) + pd.Timedelta(days=1)
    attrs = {key: source.attrs[key] for key in source.attrs if key not in (COMPLETE, PROGRESS, "generation")}
    attrs.update(config_hash=hashlib.sha256(f"{source.attrs['config_hash']}-feed".encode()).hexdigest()[:16],
                 created=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
                 feed={"source_store": str(store.resolve()), "first_day": str(first_day.date())},
                 **{COMPLETE: False})
    statics = source[[name for name in (MASK, "upstream_area", "elevation") if name in source]].drop_vars(
        [TIME, SPLIT], errors="ignore")
    ny, nx = source.sizes["lat"], source.sizes["lon"]
    with atomic_directory(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr: consolidated metadata is not in the v3 spec yet
        statics.load().to_zarr(str(tmp), mode="w-", zarr_format=3, consolidated=False)
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
        group.attrs[PROGRESS] = {"chunks_done": 0, "first_day": str(first_day.date())}


def _start_basin(group: zarr.Group, basin, seed: int, *, spin_up: int) -> None:
    """The synthetic feed's hidden state (soil, channels, rain field) on its first day, spun up
    with its own weather, in slot 0 of two."""
    first_day = pd.Timestamp(group.attrs[PROGRESS]["first_day"])
    state = basin.initial_state(1, day_of_year=float(first_day.day_of_year - 1 - spin_up))
    if spin_up:
        _, state = basin.simulate(state, spin_up, chunk_generator(seed + FEED_SEED_OFFSET, -1))
    resume = group.create_group(_RESUME)
    for name, value in state.items():
        resume.create_array(name, shape=(2, *value.shape), dtype="f8", fill_value=np.nan)
        resume[name][0] = value.numpy()




def _append_day(path: Path, group: zarr.Group, basin, seed: int) -> None:
    """Day k = days done: simulate it from slot k % 2, write row k (again, if a killed run got that
    far), keep the next state in the other slot, then count it and publish the new view."""
    k = int(group.attrs[PROGRESS]["chunks_done"])
    state = {name: torch.from_numpy(np.asarray(group[_RESUME][name][k % 2])) for name in group[_RESUME].array_keys()}
    outputs, state = basin.simulate(state, 1, chunk_generator(seed, k))
    discharge = outputs["discharge"][0, 0].numpy()
    for name, value in state.items():  # the other slot: day k's own start state stays until it is counted
        group[_RESUME][name][(k + 1) % 2] = value.numpy()
    _write_day(path, group, {"discharge": discharge, **{n: outputs[n][0, 0].numpy() for n in FORCING}})


def append_observation_files(store: str | Path, files: list[str | Path]) -> list[Path]:
    """Append the days of GloFAS-style NetCDF files (``discharge`` and the forcing on the store's
    grid, by day) to an observation store: the drop folder of a real feed.

    Days the store holds already are skipped (a file dropped twice adds nothing); a file that
    would leave a gap, or holds another grid or misses a variable, is refused in one line before
    anything of it is written.

    Returns:
        The files whose days were appended or already there, in date order.
    """
    from ._netcdf import read_glofas_netcdf

    path = Path(store)
    with store_lock(path):
        group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
        first_day = pd.Timestamp(group.attrs[PROGRESS]["first_day"])
        datasets = sorted(((read_glofas_netcdf(f), Path(f)) for f in files), key=lambda d: d[0]["time"].values[0])
        for ds, file in datasets:
            _check_file(ds, file, group)
        for ds, file in datasets:
            for day in range(ds.sizes[TIME]):
                k = int(group.attrs[PROGRESS]["chunks_done"])
                date = pd.Timestamp(ds[TIME].values[day]).normalize()
                expected = first_day + pd.Timedelta(days=k)
                if date < expected:
                    continue  # already in the store
                if date > expected:
                    raise DataError(f"{file} starts at {date.date()}, but {path} needs {expected.date()} next; drop "
                                    "the missing days' files first")
                _write_day(path, group, {name: ds[name].values[day] for name in ("discharge", *FORCING)})
    return [file for _, file in datasets]


def _check_file(ds, file: Path, group: zarr.Group) -> None:
    missing = [name for name in ("discharge", *FORCING) if name not in ds]
    if missing:
        raise DataError(f"{file} lacks {', '.join(missing)}; a feed file holds discharge and the forcing by day")
    for name in GRID:
        if ds.sizes.get(name) != group[name].shape[0] or not np.allclose(ds[name].values, group[name][:]):
            raise DataError(f"{file} is on another grid than the observation store ({name} differs); re-export "
                            "it on the store's grid")


def _write_day(path: Path, group: zarr.Group, values: dict[str, np.ndarray]) -> None:
    """Row k = days done of every variable (written again if a killed run got that far), then
    count it and publish the new view: each day appears whole, once."""
    record = dict(group.attrs[PROGRESS])
    k, first_day = int(record["chunks_done"]), pd.Timestamp(record["first_day"])
    mask = group[MASK][:]
    day = (first_day + pd.Timedelta(days=k)).date()
    river = values["discharge"][mask]
    if not np.isfinite(river).all() or (river < 0).any() or not all(np.isfinite(values[n]).all() for n in FORCING):
        raise DataError(f"day {day} for {path} has negative or non-finite discharge on a river cell, or non-finite "
                        "forcing; fix the source of that day and feed it again")
    for name in (TIME, SPLIT, "discharge", *FORCING):
        group[name].resize((k + 1, *group[name].shape[1:]))
    group[TIME][k] = (first_day + pd.Timedelta(days=k) - pd.Timestamp(_EPOCH)).days
    group[SPLIT][k] = SPLITS.index("test")  # every fed day lies after the training series: the future
    group["discharge"][k] = np.where(mask, values["discharge"], np.nan)
    for name in FORCING:
        group[name][k] = values[name]
    # One attribute write counts the day and marks the store readable (every appended day leaves one).
    group.attrs.update({PROGRESS: {**record, "chunks_done": k + 1}, COMPLETE: True})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(path))
