"""Simulate the synthetic river basin into a grid store, chunk of days by chunk, resumable."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import zarr

from .._errors import ConfigError, DataError
from ..atomic import atomic_directory
from ._chunks import CHECKSUMMED
from ._datasheet import write_datasheet
from ..systems.river import FORCING, GRID, VARIABLE_ATTRS, basin_dataset
from ._schema import COMPLETE, MASK, SPLIT, SPLITS, TIME
from ._moments import Moments
from ._store import (
    PROGRESS,
    check_reusable,
    chunk_generator,
    finalize_store,
    generated_store_attrs,
    read_progress,
    remaining_chunks,
    write_progress,
)

_RESUME = "_resume_state"  # a group: one (2, ...) array per state variable, slots ping-pong
START_DATE = "2000-01-01"


def generate_grid_store(path: Path, river, spec, *, config_hash: str, progress: bool = False) -> Path:
    """Simulate `river` (a `RiverSystem`) into ``discharge(time, lat, lon)`` + forcing + static maps.

    The store is one series split by contiguous periods in the proportions
    n_train : n_val : n_test; ``transient_time`` days of spin-up are simulated and dropped
    (soil and channels start empty-ish). Each chunk of ``chunk_steps`` days draws its weather
    from its own generator, seeded by (seed, chunk), and starts from the float64 state the
    previous chunk left, stored in the store; so a killed run resumes bit for bit.
    """
    if spec.save_every != 1:
        raise ConfigError("the river basin is stored daily; set data.save_every=1")
    if spec.observation_noise:
        raise ConfigError("the river basin is stochastic already; set data.observation_noise=0")
    if path.exists():
        check_reusable(path, config_hash, problem="was generated from a different config",
                       fix="delete it, or set data.name=<new name> to keep both")
        if read_progress(path).get(COMPLETE):
            return path
    started, fresh = time.perf_counter(), not path.exists()
    basin = river.basin(spec.seed)
    if fresh:
        _create_template(path, river, basin, spec, config_hash)
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    done = read_progress(path)["chunks_done"]
    if done == -1:
        days = int(round(spec.transient_time))
        # The spin-up ends where the stored series starts (1 January), so seasons match dates.
        start_day = float(pd.Timestamp(START_DATE).day_of_year - 1 - days)
        state = basin.initial_state(1, day_of_year=start_day)
        if days:
            _, state = basin.simulate(state, days, chunk_generator(spec.seed, -1))  # -1: the spin-up
        _save_state(group, state, slot=0)
        write_progress(path, chunks_done=0)
        done = 0
    state = _load_state(group, slot=done % 2)
    mask, train = basin.mask.numpy(), group[SPLIT][:] == 0
    stats = read_progress(path).get("train_stats")
    moments = Moments.empty(1) if stats is None else Moments.from_dict(stats)
    for k, start, length in remaining_chunks(path, done, spec.n_steps, spec.chunk_steps, progress=progress):
        outputs, state = basin.simulate(state, length, chunk_generator(spec.seed, k))
        on_river = outputs["discharge"][0].numpy()[:, mask]  # (days, river cells)
        if not np.isfinite(on_river).all() or (on_river < 0).any():
            raise DataError(f"river simulation into {path} produced negative or non-finite discharge; "
                            "check the river config, delete the store and rerun")
        group["discharge"][start:start + length] = np.where(mask, outputs["discharge"][0].numpy(), np.nan)
        for name in FORCING:
            group[name][start:start + length] = outputs[name][0].numpy()
        _save_state(group, state, slot=(k + 1) % 2)  # the slot progress does not point at
        # River cells of the train period: one mean and std, carried in the progress record.
        moments = moments.add(on_river[train[start:start + length]].reshape(-1, 1))
        write_progress(path, chunks_done=k + 1, train_stats=moments.to_dict())
    finalize_store(path, {"norm_mean": moments.mean.tolist(), "norm_std": moments.std.tolist()},
                   drop=[_RESUME])
    write_datasheet(path, river, seconds=time.perf_counter() - started if fresh else None)
    return path


def _save_state(group: zarr.Group, state: dict, slot: int) -> None:
    for name, value in state.items():
        group[_RESUME][name][slot] = value.numpy()


def _load_state(group: zarr.Group, slot: int) -> dict:
    resume = group[_RESUME]
    return {name: torch.from_numpy(np.asarray(resume[name][slot])) for name in resume.array_keys()}


def _create_template(path: Path, river, basin, spec, config_hash: str) -> None:
    n = spec.n_steps
    days = pd.date_range(START_DATE, periods=n, freq="D").values
    weights = np.array([spec.n_train, spec.n_val, spec.n_test], dtype=float)
    bounds = np.floor(np.cumsum(weights / weights.sum())[:2] * n + 0.5).astype(int)
    split = np.searchsorted(bounds, np.arange(n), side="right").astype(np.int8)
    statics = basin_dataset(basin, days, statics=(MASK, "upstream_area", "elevation")).assign_coords(
        {SPLIT: (TIME, split, {"flag_values": [0, 1, 2], "flag_meanings": " ".join(SPLITS)})})
    units = river.to_dict()["units"]
    attrs = {**generated_store_attrs(river, spec, config_hash=config_hash, dt_simulated=float(river.dt),
                                     solver=river.default_solver, units=units["discharge"]),
             "dt_units": "days", "basin": basin.to_dict()}
    ny, nx = river.state_shape
    with atomic_directory(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr: consolidated metadata is not in the v3 spec yet
        statics.to_zarr(str(tmp), mode="w-", zarr_format=3, consolidated=False)
        group = zarr.open_group(str(tmp), mode="r+", use_consolidated=False)
        group.attrs.update(attrs)
        for name in ("discharge", *FORCING):
            group.create_array(name, shape=(n, ny, nx), chunks=(spec.chunk_steps, ny, nx), dtype="f8",
                               fill_value=np.nan, dimension_names=(TIME, *GRID), compressors=CHECKSUMMED,
                               attributes={**VARIABLE_ATTRS[name], "coordinates": SPLIT})
        resume = group.create_group(_RESUME)
        for name, value in basin.initial_state(1).items():
            resume.create_array(name, shape=(2, *value.shape), dtype="f8", fill_value=np.nan)
        group.attrs[PROGRESS] = {"chunks_done": -1}
