"""Simulate the configured system into its Zarr store, fanned out over slices of its initial conditions.

``python -m flows.generate +exp=lorenz parts=4`` writes ``<paths.data>/<data.name>.zarr`` (the
store ``train`` and ``pipeline`` read) with four processes side by side, each simulating a slice
of the trajectories (whole Zarr chunks of them) after one task has simulated the first chunk of
time for all of them; a last task adds the statistics and marks it complete. The store equals,
bit for bit, the one a single process writes (`dynlearn.data.prepare_parts`). One part (the
default) is one process, `dynlearn.generate`. A corpus of many systems (``+exp=dynamix_pretrain``,
``data=corpus``) fans out over its systems instead: one task per system writes that system's part
(`dynlearn.data.simulate_part`), a last one writes them all into the store (`dynlearn.generate`,
which finds every part written).

No Prefect cache here: a store is its own cache. A complete store with the same config hash
is reused as it is and a partial one is resumed, also by a retry; a store still partial when
its task has failed for good is removed.
"""

from __future__ import annotations

import os
import sys

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner

import torch

import dynlearn
from dynlearn.data import finish_parts, generate_part, prepare_parts, simulate_part
from flows._shared import checked_settings, command_line, positive_int, publish_stores, store_or_nothing, task_options


@task(cache_policy=NO_CACHE, **task_options("generate"))
def generate_task(settings: dynlearn.Settings) -> str:
    """Simulate (or reuse / resume) the configured store; returns its path."""
    if settings.data_given:
        dynlearn.open_store(settings.data_store)  # a partial or foreign store stops here (train scans values)
        return str(settings.data_store)
    with store_or_nothing(settings.data_store):
        return str(dynlearn.generate(settings, progress=False))


@task(cache_policy=NO_CACHE, **task_options("generate"))
def prepare_task(settings: dynlearn.Settings, parts: int) -> int:
    """Create the store and simulate its first chunk for every trajectory; returns the number of
    parts to run (0: the store is complete already)."""
    with store_or_nothing(settings.data_store):
        return len(prepare_parts(settings.data_store, settings.system, settings.data, config_hash=settings.data_hash,
                                 parts=parts, dt=settings.dt))


@task(cache_policy=NO_CACHE, **task_options("generate"))
def part_task(settings: dynlearn.Settings, part: int, parts: int) -> int:
    """Simulate one slice of the trajectories through the remaining time."""
    torch.set_num_threads(1)  # the parts share the cores
    generate_part(settings.data_store, settings.system, settings.data, part=part, parts=parts, dt=settings.dt)
    return part


@task(cache_policy=NO_CACHE, **task_options("generate"))
def finish_task(settings: dynlearn.Settings) -> str:
    with store_or_nothing(settings.data_store):
        return str(finish_parts(settings.data_store, settings.system, settings.data))


@task(cache_policy=NO_CACHE, **task_options("generate"))
def corpus_system_task(settings: dynlearn.Settings, name: str) -> str:
    """Simulate one system of a corpus into its part file (kept when there from the same config)."""
    torch.set_num_threads(1)  # the systems share the cores
    return str(simulate_part(settings.data_store, name, settings.corpus))


@task(cache_policy=NO_CACHE, **task_options("generate"))
def corpus_assemble_task(settings: dynlearn.Settings) -> str:
    """Write the systems' parts into the corpus store (all or nothing, under the store's lock), or
    reuse the complete store: `dynlearn.generate` finds every part written and only assembles."""
    return str(dynlearn.generate(settings, progress=False))


def check(overrides: list[str] | None, parts: int = 1) -> dynlearn.Settings:
    """The settings; a user error raises `dynlearn.DynlearnError` (nothing is written)."""
    if parts < 1:
        raise dynlearn.ConfigError(f"parts must be a positive integer, got {parts!r}")
    settings = checked_settings(overrides, check_model=False)
    if settings.data_given:
        raise dynlearn.ConfigError("data.path names an existing store, so there is nothing to generate; drop data.path")
    if parts > 1 and settings.system is not None and settings.system.kind == "grid":
        raise dynlearn.ConfigError(f"{settings.system.name} is simulated as one series, not an ensemble: use parts=1")
    return settings


# Generation is CPU-bound Python and torch: processes, not threads, run parts side by side (and
# only in the main thread of a process does a task's timeout interrupt it).
@flow(name="dynlearn-generate", log_prints=True, task_runner=ProcessPoolTaskRunner(max_workers=os.cpu_count()))
def generate(overrides: list[str] | None = None, parts: int = 1) -> str:
    """Simulate the configured system into its store, `parts` slices of its initial conditions in
    parallel processes; publishes a table of the store.

    Args:
        overrides: Hydra overrides, e.g. ``["+exp=lorenz"]``.
        parts: processes side by side, each a slice of the trajectories.

    Returns:
        The store path.
    """
    settings = check(overrides, parts)
    if settings.corpus is not None:  # data=corpus: one process per system, then one store of them all
        names = [] if settings.data_store.exists() else settings.corpus.system_names()
        corpus_system_task.map([settings] * len(names), names).result()
        store = corpus_assemble_task(settings)
    elif parts == 1:
        store = generate_task(settings)
    else:
        running = prepare_task(settings, parts)
        part_task.map([settings] * running, list(range(running)), [running] * running).result()
        store = finish_task(settings)
    publish_stores(settings.name, [store])
    print(f"store: {store}")
    return store


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.generate [key=value ...]``; returns the exit code (2: bad input, nothing written)."""
    return command_line("flows.generate", generate, check, sys.argv[1:] if argv is None else argv, {"parts": positive_int})


if __name__ == "__main__":
    sys.exit(main())
