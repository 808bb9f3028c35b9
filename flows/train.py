"""Train one run, as a flow: the run appears under ``runs/<name>/`` only when training has finished.

``python -m flows.train +exp=lorenz [retrain=true]`` generates the store if it is missing, then
trains in a private folder (``runs/.incomplete/``) and moves the run into place in state
``trained``; ``python -m flows.evaluate run=<it>`` completes it. A failure leaves no run
directory; a diverged run is kept, marked ``diverged``, as ``python -m dynlearn train`` keeps it.

Cached: the key holds the run's config hash, the code version, the store (path and config hash)
and the runs folder, so the same config with the same code and data returns the run trained
before, while it is still there, instead of training again; ``retrain=true`` trains anew.
"""

from __future__ import annotations

import sys
from prefect import flow, task

import dynlearn
from flows._shared import (
    cache_key,
    cached,
    checked_settings,
    command_line,
    flag,
    move_into_place,
    publish_run,
    run_state,
    staged_run,
    task_options,
)
from flows.generate import generate_task


def training_key(context, parameters: dict) -> str | None:
    settings = parameters["settings"]
    store = settings.data_store
    if not store.exists():
        return None  # nothing to key on yet: training generates it, uncached
    return cache_key("train", settings.run_hash, dynlearn.open_store(store).attrs.get("config_hash"),
                     store.resolve(), settings.runs_root.resolve())


@task(cache_key_fn=training_key, **task_options("train"))
def train_task(settings: dynlearn.Settings) -> str:
    """Train a new run (state ``trained``, not yet evaluated); returns its directory."""
    with staged_run(settings) as staged:
        try:
            run_dir = dynlearn.train(staged, run_evaluation=False)
        except dynlearn.TrainingDiverged:
            # A finished record of a failure (its last good checkpoint), not a half-written run.
            for run_dir in (staged.runs_root / settings.name).iterdir():
                move_into_place(run_dir, settings)
            raise
        return str(move_into_place(run_dir, settings))


def trained_run(settings: dynlearn.Settings, retrain: bool = False) -> str:
    """The run this config trained before with the same code, if still there; else a new one."""
    if retrain:
        return train_task.with_options(refresh_cache=True)(settings)
    return cached(train_task, lambda run_dir: run_state(run_dir) in ("trained", "complete"), settings)


def check(overrides: list[str] | None, retrain: bool = False) -> dynlearn.Settings:
    """The settings; a user error raises `dynlearn.DynlearnError` (nothing is written)."""
    return checked_settings(overrides)


@flow(name="dynlearn-train", log_prints=True)
def train(overrides: list[str] | None = None, retrain: bool = False) -> str:
    """Generate (or reuse) the store and train one run; publishes a link to the run directory.

    Args:
        overrides: Hydra overrides, e.g. ``["+exp=lorenz"]``.
        retrain: train anew even if this config, code and data trained a run before.

    Returns:
        The run directory (state ``trained``; ``complete`` once a cached run has been evaluated).
    """
    settings = check(overrides, retrain)
    generate_task(settings)
    run_dir = trained_run(settings, retrain)
    publish_run(settings.name, run_dir)
    print(f"run: {run_dir} ({run_state(run_dir)})")
    return run_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.train [key=value ...]``; returns the exit code (2: bad input, nothing written)."""
    return command_line("flows.train", train, check, sys.argv[1:] if argv is None else argv, {"retrain": flag})


if __name__ == "__main__":
    sys.exit(main())
