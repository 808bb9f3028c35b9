"""The river observation feed, as a flow: the synthetic basin one simulated day further per run,
or the days of NetCDF files dropped in a folder (a real feed).

``python -m flows.river_feed system=river data=river [days=<n>] [drop=<folder>]`` appends to
``<paths.data>/<data.name>-feed.zarr`` (generating the river store first if it is missing, for
its basin). With ``drop=``, every ``*.nc`` file there (GloFAS-style: discharge, precipitation and
evapotranspiration by day on the store's grid) is appended in date order and then moved to
``<drop>/done/``. No Prefect cache: each run adds what is new; a day appears whole or not at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

import dynlearn
from dynlearn.data import advance_river_feed, append_observation_files, create_observation_store
from flows._shared import artifact_key, checked_settings, command_line, positive_int, task_options


@task(cache_policy=NO_CACHE, **task_options("river_feed"))
def feed_task(settings: dynlearn.Settings, days: int, drop: str | None) -> str:
    """Append to the observation store; returns its path."""
    store = settings.data_store if settings.data_given else dynlearn.generate(settings, progress=False)
    if drop is None:
        return str(advance_river_feed(store, settings.system, days=days))
    observations = create_observation_store(store)
    files = sorted(Path(drop).glob("*.nc"))
    done = Path(drop) / "done"
    for file in append_observation_files(observations, files) if files else []:
        done.mkdir(exist_ok=True)
        file.replace(done / file.name)  # after its days are in: a crash before leaves it to be read again
    return str(observations)


def check(overrides: list[str] | None, days: int = 1, drop: str | None = None) -> dynlearn.Settings:
    """The settings; a user error raises `dynlearn.DynlearnError` before anything is written."""
    settings = checked_settings(overrides, check_model=False)
    if settings.system is None or settings.system.kind != "grid":
        raise dynlearn.ConfigError("the feed advances a river basin: add system=river data=river")
    if drop is not None and not Path(drop).is_dir():
        raise dynlearn.ConfigError(f"drop={drop} is not a folder; give the folder the feed's NetCDF files arrive in")
    return settings


@flow(name="dynlearn-river-feed", log_prints=True)
def river_feed(overrides: list[str] | None = None, days: int = 1, drop: str | None = None) -> str:
    """Append `days` simulated days (or the dropped files' days) to the observation store; publishes
    its newest days. Returns the store's path."""
    settings = check(overrides, days, drop)
    path = feed_task(settings, days, drop)
    ds = dynlearn.open_store(path)
    newest = ds.isel(time=slice(-min(7, ds.sizes["time"]), None)) if ds.sizes["time"] else ds
    river = ds["mask"].values
    rows = [{"date": str(t)[:10], "mean_discharge_m3s": float(q[river].mean()), "max_discharge_m3s": float(q[river].max()),
             "mean_precipitation_mm": float(p.mean())}
            for t, q, p in zip(newest["time"].values, newest["discharge"].values, newest["precipitation"].values)]
    if rows:
        create_table_artifact(table=rows, key=artifact_key("feed", settings.name),
                              description=f"newest days of {path} ({ds.sizes['time']} days)")
    print(f"observation store {path}: {ds.sizes['time']} days, newest {rows[-1]['date'] if rows else '-'}")
    return str(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.river_feed [key=value ...] [days=<n>] [drop=<folder>]``."""
    return command_line("flows.river_feed", river_feed, check, sys.argv[1:] if argv is None else argv,
                        {"days": positive_int, "drop": str})


if __name__ == "__main__":
    sys.exit(main())
