"""The daily river forecast, as a flow: 1–7 days ahead from the newest observed day, and the
scores of earlier forecasts against it (`dynlearn.river_daily`).

``python -m flows.river_daily system=river data=river model=arx [run=<run dir>] [lead=<days>]``
forecasts with `run` (default: the newest complete run of the config under ``<paths.runs>/<name>/``)
from the observation store ``<paths.data>/<data.name>-feed.zarr`` (``python -m flows.river_feed``
fills it). No Prefect cache: the forecast of a day is made once per run of the flow, and a rerun
the same day replaces it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

import dynlearn
from dynlearn.data import feed_store_path
from flows._shared import artifact_key, checked_settings, command_line, positive_int, run_state, task_options


@task(cache_policy=NO_CACHE, **task_options("river_daily"))
def daily_task(run_dir: str, observations: str, lead: int) -> dict:
    """Forecast from the newest day and score the history; returns `dynlearn.river_daily`'s summary."""
    return dynlearn.river_daily(run_dir, observations, lead=lead)


def check(overrides: list[str] | None, run: str | None = None, lead: int = 7) -> dynlearn.Settings:
    """The settings (a user error raises `dynlearn.DynlearnError`, nothing written). What a day
    needs besides (a trained run, observations) may come later: see `inputs`."""
    settings = checked_settings(overrides, check_model=False)
    if run is not None and run_state(run) != "complete":
        raise dynlearn.ConfigError(f"run={run} is not a complete run directory; give one that training and "
                                   "evaluation finished")
    return settings


def inputs(settings: dynlearn.Settings, run: str | None) -> tuple[Path, Path]:
    """(run directory, observation store) of today's forecast.

    Raises:
        dynlearn.ConfigError: no complete run of the config yet, or no observations yet.
    """
    run_dir = Path(run) if run is not None else _newest_complete_run(settings)
    observations = feed_store_path(settings.data_store)
    if not observations.exists():
        raise dynlearn.ConfigError(f"no observations at {observations} yet; feed them first (python -m flows.river_feed "
                                   "with the same config)")
    dynlearn.open_store(observations)  # a partial store: one line
    return run_dir, observations


@flow(name="dynlearn-river-daily", log_prints=True)
def river_daily(overrides: list[str] | None = None, run: str | None = None, lead: int = 7) -> dict:
    """Today's forecast and the scores of the forecasts valid today; publishes both and links. A
    scheduled run before the first trained model or the first observed day does nothing and says why."""
    settings = check(overrides, run, lead)
    try:
        run_dir, observations = inputs(settings, run)
    except dynlearn.ConfigError as missing:
        print(f"nothing to forecast yet: {missing}")
        return {"skipped": str(missing)}
    summary = daily_task(str(run_dir), str(observations), lead)
    name = run_dir.resolve().parent.name
    if summary["scores"]:
        create_table_artifact(table=summary["scores"], key=artifact_key("river-skill", name),
                              description=f"forecasts valid {summary['issue_date']} against its observations")
    for what in ("forecast_store", "skill_history"):
        path = Path(summary[what]).resolve()
        create_link_artifact(link=path.as_uri(), link_text=str(path), key=artifact_key(what, name),
                             description=f"{what.replace('_', ' ')} of {run_dir}")
    print(f"forecast issued {summary['issue_date']} -> {summary['forecast_store']}; "
          f"{len(summary['scores'])} earlier forecasts scored")
    return summary


def _newest_complete_run(settings: dynlearn.Settings) -> Path:
    runs = sorted(p for p in (settings.runs_root / settings.name).glob("*") if run_state(p) == "complete")
    if not runs:
        raise dynlearn.ConfigError(f"no complete run of '{settings.name}' under {settings.runs_root}; train one "
                                   "(python -m flows.pipeline system=river data=river model=arx) or give run=<run dir>")
    return runs[-1]


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.river_daily [key=value ...] [run=<run dir>] [lead=<days>]``."""
    def ready(overrides: list[str], run: str | None = None, lead: int = 7) -> None:
        inputs(check(overrides, run, lead), run)  # from a terminal, what is missing is an error

    return command_line("flows.river_daily", river_daily, ready, sys.argv[1:] if argv is None else argv,
                        {"run": str, "lead": positive_int})


if __name__ == "__main__":
    sys.exit(main())
