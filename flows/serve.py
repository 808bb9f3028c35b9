"""``python -m flows.serve``: serve dynlearn's scheduled deployments against a Prefect server.

It needs a real server (``prefect server start``; ``make serve`` starts one on PostgreSQL) named
by PREFECT_API_URL: the embedded server Prefect starts without one never fires schedules.

    python -m flows.serve                                 # every deployment in DEPLOYMENTS
    python -m flows.serve nightly-pipeline debug=fast     # one, with overrides added to its own
    python -m flows.serve nightly-pipeline every=60       # every 60 s instead of its cron (to try it)

Each deployment lets one run through at a time: a run that comes due while the last one still
runs is cancelled, not queued (a nightly job that overruns skips a night instead of piling up
runs). Stopping serve leaves the schedules active (a supervisor restarts it).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
import time
from dataclasses import dataclass, field

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.settings import PREFECT_API_URL
from prefect.types.entrypoint import EntrypointType

import dynlearn
from flows._shared import positive_int


@dataclass(frozen=True)
class Deployment:
    """A scheduled deployment: its flow (``module:attribute``), cron (UTC) and parameters."""

    flow: str
    cron: str
    description: str
    parameters: dict = field(default_factory=dict)


RIVER = ["system=river", "data=river", "model=arx"]  # the basin and the model the daily loop runs

# Every schedule, in one place.
DEPLOYMENTS = {
    "nightly-pipeline": Deployment(
        "flows.pipeline:pipeline", "0 2 * * *",
        "generate -> train -> evaluate at 02:00; reuses the run trained before while config, code and data are unchanged",
        {"overrides": ["+exp=lorenz"]}),
    "weekly-retraining": Deployment(
        "flows.pipeline:pipeline", "0 4 * * 0",
        "train anew and evaluate, Sundays at 04:00", {"overrides": ["+exp=lorenz"], "retrain": True}),
    "daily-river-feed": Deployment(
        "flows.river_feed:river_feed", "30 5 * * *",
        "the river observations of the day at 05:30 (the synthetic basin one day further; drop=<folder> for a real feed)",
        {"overrides": RIVER}),
    "daily-river-forecast": Deployment(
        "flows.river_daily:river_daily", "0 6 * * *",
        "the day's river discharge forecast (1-7 days) at 06:00, and the scores of earlier forecasts valid today",
        {"overrides": RIVER}),
}

ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
SERVER_WAIT_SECONDS = 60


def build(names: list[str], overrides: list[str], every: int | None = None) -> list:
    """The runner deployments of `names`, `overrides` added to each one's own.

    Raises:
        dynlearn.DynlearnError: a deployment's flow is missing or its overrides are bad.
    """
    built = []
    for name in names:
        entry = DEPLOYMENTS[name]
        module_name, attribute = entry.flow.split(":")
        if importlib.util.find_spec(module_name) is None:
            raise dynlearn.ConfigError(f"deployment '{name}' needs {module_name}, which is not in this version")
        module = importlib.import_module(module_name)
        parameters = {**entry.parameters, "overrides": [*entry.parameters.get("overrides", []), *overrides]}
        module.check(**parameters)  # bad overrides stop here, before anything is served
        schedule = {"interval": every} if every else {"cron": entry.cron}
        built.append(getattr(module, attribute).to_deployment(
            name, description=entry.description, parameters=parameters, concurrency_limit=ONE_AT_A_TIME,
            entrypoint_type=EntrypointType.MODULE_PATH, tags=["dynlearn"], **schedule))
    return built


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.serve [deployment ...] [key=value ...] [every=<seconds>]``; serves until
    stopped. Bad input ends with one line on stderr and exit code 2."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        print("deployments:\n" + "\n".join(f"  {n:<22} {d.cron:<11} {d.description}" for n, d in DEPLOYMENTS.items()))
        return 0
    try:
        names, overrides, every = _parse(argv)
        if not PREFECT_API_URL.value():
            raise dynlearn.ConfigError("no Prefect server: set PREFECT_API_URL=http://127.0.0.1:4200/api (make serve "
                                       "starts one); the embedded server never fires schedules")
        if not names:  # all, but only those whose flows exist
            names = [n for n, d in DEPLOYMENTS.items() if importlib.util.find_spec(d.flow.split(":")[0])]
            print(f"serving {', '.join(names)} (not yet: {', '.join(sorted(set(DEPLOYMENTS) - set(names))) or '-'})")
        deployments = build(names, overrides, every)
        _wait_for_server(PREFECT_API_URL.value())
    except dynlearn.DynlearnError as error:
        print(f"python -m flows.serve: error: {error}", file=sys.stderr)
        return 2
    serve(*deployments, pause_on_shutdown=False)
    return 0


def _parse(argv: list[str]) -> tuple[list[str], list[str], int | None]:
    """(deployment names, Hydra overrides, every): a word without '=' names a deployment."""
    names, overrides, every = [], [], None
    for arg in argv:
        if arg.startswith("every="):
            try:
                every = positive_int(arg.removeprefix("every="))
            except ValueError:
                raise dynlearn.ConfigError(f"every must be a positive number of seconds, got {arg!r}") from None
        elif "=" in arg or arg.startswith("~"):
            overrides.append(arg)
        elif arg in DEPLOYMENTS:
            names.append(arg)
        else:
            close = difflib.get_close_matches(arg, list(DEPLOYMENTS), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise dynlearn.ConfigError(f"unknown deployment '{arg}'; {hint}deployments: {', '.join(DEPLOYMENTS)}")
    return names, overrides, every


def _wait_for_server(url: str, seconds: float = SERVER_WAIT_SECONDS) -> None:
    """Return once the server answers its health check (a server just started needs seconds)."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while (error := client.api_healthcheck()) is not None:
            if time.monotonic() > deadline:
                raise dynlearn.ConfigError(f"no Prefect server answers at {url} after {seconds:.0f} s ({type(error).__name__}); "
                                           "start one (make serve) or fix PREFECT_API_URL")
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
