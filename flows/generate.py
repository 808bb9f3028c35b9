"""Simulate the configured system into Zarr stores, fanned out over ensembles of initial conditions.

``python -m flows.generate +exp=lorenz parts=4`` simulates four independent ensembles at once
(one process each, up to the number of cores): part k draws its initial conditions with
``data.seed + k`` into ``<paths.data>/<data.name>-part<k>.zarr``, each with its own split. One
part (the default) is ``<data.name>.zarr``, the store ``train`` and ``pipeline`` read.

No Prefect cache here: a store is its own cache. A complete store with the same config hash
is reused as it is and a partial one is resumed (`dynlearn.generate`), also by a retry; a
store still partial when its task has failed for good is removed.
"""

from __future__ import annotations

import os
import sys

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner

import dynlearn
from flows._shared import checked_settings, command_line, positive_int, publish_stores, store_or_nothing, task_options


@task(cache_policy=NO_CACHE, **task_options("generate"))
def generate_task(settings: dynlearn.Settings) -> str:
    """Simulate (or reuse / resume) the configured store; returns its path."""
    if settings.data_given:
        dynlearn.open_store(settings.data_store)  # a partial or foreign store stops here (train scans values)
        return str(settings.data_store)
    with store_or_nothing(settings.data_store):
        return str(dynlearn.generate(settings, progress=False))


def check(overrides: list[str] | None, parts: int = 1) -> list[dynlearn.Settings]:
    """The settings of every part; a user error raises `dynlearn.DynlearnError` (nothing is written)."""
    overrides = list(overrides or [])
    if parts < 1:
        raise dynlearn.ConfigError(f"parts must be a positive integer, got {parts!r}")
    settings = checked_settings(overrides, check_model=False)
    if settings.data_given:
        raise dynlearn.ConfigError("data.path names an existing store, so there is nothing to generate; drop data.path")
    if parts == 1:
        return [settings]
    name, seed = settings.data_store.stem, settings.data.seed
    return [checked_settings([*overrides, f"data.name={name}-part{k}", f"data.seed={seed + k}"], check_model=False)
            for k in range(parts)]


# Generation is CPU-bound Python and torch: processes, not threads, run parts side by side (and
# only in the main thread of a process does a task's timeout interrupt it).
@flow(name="dynlearn-generate", log_prints=True, task_runner=ProcessPoolTaskRunner(max_workers=os.cpu_count()))
def generate(overrides: list[str] | None = None, parts: int = 1) -> list[str]:
    """Simulate `parts` ensembles of the configured system; publishes a table of the stores.

    Args:
        overrides: Hydra overrides, e.g. ``["+exp=lorenz"]``.
        parts: independent ensembles of initial conditions, simulated in parallel processes.

    Returns:
        The store paths.
    """
    settings = check(overrides, parts)
    stores = [generate_task(settings[0])] if parts == 1 else generate_task.map(settings).result()
    publish_stores(settings[0].name, stores)
    print(f"stores: {', '.join(stores)}")
    return stores


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.generate [key=value ...]``; returns the exit code (2: bad input, nothing written)."""
    return command_line("flows.generate", generate, check, sys.argv[1:] if argv is None else argv, {"parts": positive_int})


if __name__ == "__main__":
    sys.exit(main())
