"""Low-level store writing: the attrs a store starts with, atomic creation, a progress record, and
the final commit.

Zarr's local store writes every object through a temporary file and a rename, so each chunk
and each metadata document is replaced atomically. On top of that, a store is created whole
(built in a temporary folder and renamed into place), and made `complete` last, together with
its consolidated metadata: readers only trust the consolidated view.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import zarr

from .._errors import DataError
from .._version import __version__
from ..atomic import atomic_directory
from ._schema import COMPLETE, LAYOUTS, MARKER, SCHEMA_VERSION, is_dynlearn_store

PROGRESS = "progress"


def store_attrs(*, kind: str, system: str, params: dict, state_names: list[str], dt: float | None,
                dt_simulated: float | None, solver: str, seed: int | None, lyapunov_time: float | None,
                units: str, config_hash: str) -> dict:
    """The attrs every store is created with, generated or ingested (`dynlearn.data` schema).

    The schema's marker and version, what the store holds (the keyword arguments: `kind`,
    `system`, its `params`, `state_names`, the stored `dt` and the simulated one, `solver`,
    `seed`, `lyapunov_time`, the data's `units`), its provenance (`config_hash`, the dynlearn
    version, the UTC creation time) and ``complete`` false until `finalize_store`.
    """
    return {
        MARKER: True, "schema_version": SCHEMA_VERSION, "kind": kind, "system": system, "params": params,
        "state_names": state_names, "dt": dt, "dt_simulated": dt_simulated, "solver": solver, "seed": seed,
        "lyapunov_time": lyapunov_time, "units": units, "config_hash": config_hash,
        "dynlearn_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        COMPLETE: False,
    }


def generated_store_attrs(system, spec, *, config_hash: str, dt_simulated: float, solver: str, units: str) -> dict:
    """`store_attrs` of a store simulated from `system` with a `GenerationSpec`, kept whole beside
    the system's own description (both for the datasheet and for a rerun)."""
    kind = system.kind
    state_names = list(system.state_names) if kind == "ode" else [LAYOUTS[kind].variable]
    return {**store_attrs(kind=kind, system=system.name, params=dict(system.params), state_names=state_names,
                          dt=dt_simulated * spec.save_every, dt_simulated=dt_simulated, solver=solver,
                          seed=spec.seed, lyapunov_time=system.lyapunov_time, units=units,
                          config_hash=config_hash),
            "generation": dataclasses.asdict(spec), "system_description": system.to_dict()}


@contextmanager
def store_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the one writer's lock of the store at `path` for the block (with `shared`, one of the
    parts of a generation that write disjoint chunks side by side, which exclude a whole writer).

    A second job writing the same store (two `generate` of one config at once) waits here, with a
    message, until the first is done, then finds the store complete (or resumes it). The lock is
    an advisory ``flock`` on a hidden ``.<store>.lock`` file beside the store, removed by its
    holder on release (a job that refuses its input leaves nothing behind). A waiter that wakes on
    a file already removed tries again on the new one, so only one job ever holds the live file.
    The kernel drops a lock when its holder dies (kill -9 included): a killed job's file stays,
    unlocked, and the next job takes it. Local file systems only (object stores have no flock).
    """
    lock = path.parent / f".{path.name}.lock"
    made_parent, said = not path.parent.exists(), False
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a")
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if not said:
                print(f"dynlearn: waiting for another job writing {path} to finish", file=sys.stderr, flush=True)
                said = True
            fcntl.flock(handle, mode)
        if lock.exists() and os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino:
            break  # the live lock file, not one its previous holder removed
        handle.close()
    try:
        yield
    finally:
        if not shared:  # the only holder: remove it while still holding it (waiters on this inode retry)
            lock.unlink(missing_ok=True)
        handle.close()
        if made_parent:  # a refused job leaves no empty folder either
            try:
                path.parent.rmdir()
            except OSError:
                pass  # not empty: the store (or another job's) is in it


def create_store_atomically(path: Path, build: Callable[[zarr.Group], None]) -> None:
    """Create a Zarr group at `path` with `build(group)`, all or nothing."""
    with atomic_directory(path) as tmp:
        group = zarr.open_group(str(tmp), mode="w-", zarr_format=3)
        build(group)
        group.attrs[PROGRESS] = {"chunks_done": -1}


def read_progress(path: Path) -> dict:
    """``{"chunks_done": k, "complete": bool, ...}`` for a store being written (or finished);
    the rest is what the writer keeps beside the count (e.g. a noise scale)."""
    attrs = zarr.open_group(str(path), mode="r", use_consolidated=False).attrs
    record = dict(attrs.get(PROGRESS, {}))
    return {**record, "chunks_done": int(record.get("chunks_done", -1)), COMPLETE: is_complete(path)}


def write_progress(path: Path, *, chunks_done: int, **extra) -> None:
    """Record `chunks_done` (and `extra`, JSON values) in one attribute write."""
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    group.attrs[PROGRESS] = {"chunks_done": chunks_done, **extra}


def is_complete(path: Path) -> bool:
    """True only when the consolidated metadata, written last, says the store is complete."""
    try:
        group = zarr.open_group(str(path), mode="r", use_consolidated=True)
    except (ValueError, FileNotFoundError, zarr.errors.GroupNotFoundError):
        return False
    return bool(group.attrs.get(COMPLETE, False))


def finalize_store(path: Path, attrs: dict, drop: list[str] = ()) -> None:
    """Add final attrs, drop working arrays, then mark complete and consolidate (last)."""
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    for name in drop:
        if name in group:
            del group[name]
    group.attrs.update({**attrs, COMPLETE: True})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr warns that v3 consolidation is not in the spec yet
        zarr.consolidate_metadata(str(path))


def remaining_chunks(path: Path, done: int, n_steps: int, chunk_steps: int, *, progress: bool):
    """(chunk index, first step, length) of the chunks still to write, with a progress bar if asked."""
    n_chunks = -(-n_steps // chunk_steps)
    chunks = range(done, n_chunks)
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, desc=f"generate {path.name}", unit="chunk", initial=done, total=n_chunks)
    for k in chunks:
        yield k, k * chunk_steps, min(chunk_steps, n_steps - k * chunk_steps)


def check_reusable(path: Path, config_hash: str, *, problem: str, fix: str, complete: bool = False) -> None:
    """Refuse to reuse or resume the folder at `path` unless it is a dynlearn store made from the
    same config (`config_hash`) and, with `complete`, finished. Every writer (generate, ingest,
    delay embedding) asks this before touching an existing target.

    Args:
        problem, fix: the two halves of the one-line refusal, ``f"{path} {problem}; {fix}"``.
    """
    if not is_dynlearn_store(path):
        raise DataError(f"{path} exists and is not a dynlearn store; move it away or choose another name")
    stored = zarr.open_group(str(path), mode="r", use_consolidated=False).attrs.get("config_hash")
    if stored != config_hash or (complete and not is_complete(path)):
        raise DataError(f"{path} {problem}; {fix}")


def chunk_generator(seed: int, chunk: int) -> torch.Generator:
    """An independent random stream per (seed, chunk), the same on every run and resume."""
    entropy = np.random.SeedSequence([seed, chunk + 1]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))
