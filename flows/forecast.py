"""Batch forecasts from every init of a store with a trained run, as a flow.

``python -m flows.forecast run=<run dir> input=<store> [forecast.*]`` takes the keys of
``python -m dynlearn forecast``. No Prefect cache: the forecast store is its own cache (its
folder ``<run dir>/forecast-<key>/`` is keyed by the checkpoint, the input store and the spec, and
a complete one is returned as it is). A failed forecast removes the folder it added.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

import dynlearn
from dynlearn.data import open_forecast
from flows._shared import additions_removed_on_failure, artifact_key, command_line, run_state, task_options

SKILL = ("rmse", "acc", "crps", "nse", "kge")


@task(cache_policy=NO_CACHE, **task_options("forecast"))
def forecast_task(run_dir: str, input_store: str, spec: dynlearn.ForecastSpec) -> str:
    """Forecast into (or reuse) the run's forecast store for `spec`; returns its path."""
    with additions_removed_on_failure(Path(run_dir)):
        return str(dynlearn.forecast(run_dir, input_store, spec))


def check(overrides: list[str] | None) -> tuple[Path, Path, dynlearn.ForecastSpec]:
    """``(run, input store, spec)``; a user error raises `dynlearn.DynlearnError` (nothing is written)."""
    run_dir, store, spec = dynlearn.load_forecast(list(overrides or []))
    if run_state(run_dir) is None:
        raise dynlearn.ConfigError(f"run={run_dir} is not a run directory; give a folder under runs/ that training wrote")
    dynlearn.open_store(store)  # a missing or partial input store stops here
    return run_dir, store, spec


@flow(name="dynlearn-forecast", log_prints=True)
def forecast(overrides: list[str] | None = None) -> str:
    """Forecast from every init of the input store's split; publishes skill by lead and a link to the store.

    Args:
        overrides: Hydra overrides, e.g. ``["run=runs/lorenz/<time>", "input=data/lorenz63.zarr",
            "forecast.members=10", "forecast.perturbation=0.01"]``.

    Returns:
        The forecast store's path.
    """
    run_dir, store, spec = check(overrides)
    path = Path(forecast_task(str(run_dir), str(store), spec))
    ds = open_forecast(path)
    rows = [{"lead": int(step), **{name: float(ds[name].values[i]) for name in SKILL if name in ds},
             "n_verified": int(ds.n_verified.values[i])} for i, step in enumerate(ds.lead_step.values)]
    name = run_dir.resolve().parent.name
    create_table_artifact(table=rows, key=artifact_key("skill", name), description=f"skill by lead of {path}")
    create_link_artifact(link=path.resolve().as_uri(), link_text=str(path), key=artifact_key("forecast", name),
                         description=f"forecast store of {run_dir}")
    print(f"forecast: {path}")
    return str(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.forecast [key=value ...]``; returns the exit code (2: bad input, nothing written)."""
    return command_line("flows.forecast", forecast, check, sys.argv[1:] if argv is None else argv, {})


if __name__ == "__main__":
    sys.exit(main())
