"""Flow overhead: the Lorenz pipeline through Prefect against the same library calls without it.

Times, in one process and interleaved (plain, embedded, server, plain, ...), the same run:
- plain: `dynlearn.generate` (the store, made once beforehand, is reused), `dynlearn.train(...,
  run_evaluation=False)`, `dynlearn.complete_run`, `dynlearn.metrics_table`;
- embedded: `flows.pipeline.pipeline(overrides, retrain=True)` on Prefect's embedded server
  (SQLite, what `make run` uses); its first call also starts that server (cold, reported apart);
- server: the same flow against `prefect server start` on PostgreSQL (a database of its own,
  dropped afterwards), as `make serve` runs it.
Prints the machine load before and after, each time, and the overhead (flow minus plain: the
cold first call, then medians over the later repeats) against the issue's target of at most 20 s.

    .venv/bin/python bench/bench_flow_overhead.py                       # +exp=lorenz trainer.epochs=20
    .venv/bin/python bench/bench_flow_overhead.py --repeats 3 +exp=lorenz   # the full experiment (~10 min a run)
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.update(PREFECT_SERVER_EPHEMERAL_ENABLED="true", PREFECT_SERVER_ANALYTICS_ENABLED="false",
                  PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
                  MPLBACKEND="Agg")
os.environ.pop("PREFECT_API_URL", None)

REPO = Path(__file__).resolve().parents[1]
TARGET = 20.0  # seconds of overhead at most (issue 10)


def plain(overrides: list[str]) -> None:
    import dynlearn

    settings = dynlearn.load_settings(overrides)
    dynlearn.generate(settings, progress=False)
    run_dir = dynlearn.train(settings, run_evaluation=False)
    dynlearn.metrics_table(dynlearn.complete_run(run_dir, settings.eval))


def flow(overrides: list[str]) -> None:
    from flows.pipeline import pipeline

    pipeline(overrides=overrides, retrain=True)


def timed(fn, overrides: list[str]) -> float:
    started = time.perf_counter()
    fn(overrides)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", default=["+exp=lorenz", "trainer.epochs=20"])
    args = parser.parse_args()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import dynlearn
    from flows.server import prefect_server

    work = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    os.environ.update(PREFECT_HOME=str(work / "prefect-home"), DYNLEARN_CONF=str(REPO / "conf"))
    os.chdir(work)
    overrides = [*args.overrides, "trainer.progress=false"]
    print(f"bench_flow_overhead: {' '.join(overrides)}, {args.repeats} repeats, in {work}")
    print(f"load before: {os.getloadavg()}, {os.cpu_count()} cores, python {sys.version.split()[0]}")
    dynlearn.generate(dynlearn.load_settings(overrides), progress=False)  # every variant reuses the store

    times = {"plain": [], "embedded": [], "server": []}
    database = f"dynlearn_bench_{uuid.uuid4().hex[:8]}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with prefect_server(database, port, home=work / "server-home", drop=True) as url:
        for repeat in range(args.repeats):
            times["plain"].append(timed(plain, overrides))
            times["embedded"].append(timed(flow, overrides))
            with temporary_settings(updates={PREFECT_API_URL: url}):
                times["server"].append(timed(flow, overrides))
            print(f"repeat {repeat}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    print(f"load after: {os.getloadavg()}")
    # Repeat 0's embedded run started the embedded server in a fresh PREFECT_HOME (its database
    # migrated first): what a first `make run` pays. The medians are over the later repeats.
    report("embedded, cold (server start included)", times["embedded"][0], times["plain"][0])
    later = {k: statistics.median(v[1:] or v) for k, v in times.items()}
    for variant in ("embedded", "server"):
        report(variant, later[variant], later["plain"])


def report(name: str, flow_seconds: float, plain_seconds: float) -> None:
    overhead = flow_seconds - plain_seconds
    print(f"{name}: {flow_seconds:.1f} s vs plain {plain_seconds:.1f} s: overhead {overhead:+.1f} s "
          f"(target <= {TARGET:.0f} s: {'pass' if overhead <= TARGET else 'FAIL'})")


if __name__ == "__main__":
    main()
