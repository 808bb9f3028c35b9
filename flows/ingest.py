"""Read a file (HDF5, NetCDF, CSV, .npy) into a validated Zarr store, as a flow.

``python -m flows.ingest source=<file> name=<dataset> ingest.*`` takes the keys of
``python -m dynlearn ingest``. No Prefect cache: `dynlearn.ingest` builds the store beside its
target and renames it into place when complete (a failure leaves nothing), and reuses a store
made from the same file with the same options.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

import dynlearn
from dynlearn.data import IngestSpec
from flows._shared import command_line, publish_stores, task_options


@task(cache_policy=NO_CACHE, **task_options("ingest"))
def ingest_task(source: str, target: str, spec: IngestSpec) -> str:
    """Ingest `source` into the store `target` (or reuse it); returns the store path."""
    return str(dynlearn.ingest(source, target, spec))


def check(overrides: list[str] | None) -> tuple[Path, Path, IngestSpec]:
    """``(source, target, spec)``; a user error raises `dynlearn.DynlearnError` (nothing is written)."""
    source, target, spec = dynlearn.load_ingest(list(overrides or []))
    if not source.is_file():
        raise dynlearn.DataError(f"source {source} does not exist or is not a file; fix source=<path>")
    return source, target, spec


@flow(name="dynlearn-ingest", log_prints=True)
def ingest(overrides: list[str] | None = None) -> str:
    """Ingest one file into ``<paths.data>/<name>.zarr``; publishes a table of the store.

    Args:
        overrides: Hydra overrides, e.g. ``["source=glofas.nc", "name=rhine"]``.

    Returns:
        The store path.
    """
    source, target, spec = check(overrides)
    store = ingest_task(str(source), str(target), spec)
    publish_stores(target.stem, [store])
    print(f"store: {store}")
    return store


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.ingest [key=value ...]``; returns the exit code (2: bad input, nothing written)."""
    return command_line("flows.ingest", ingest, check, sys.argv[1:] if argv is None else argv, {})


if __name__ == "__main__":
    sys.exit(main())
