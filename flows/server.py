"""A Prefect server on PostgreSQL, as a child process; ``python -m flows.server`` serves the schedules on it.

``make serve`` runs ``python -m flows.server [deployment ...] [key=value ...]``: it creates the
database if it is missing (DYNLEARN_PREFECT_DB, default ``dynlearn_prefect``, on the PostgreSQL
at 127.0.0.1:5432, user postgres), starts ``prefect server start`` on 127.0.0.1
(DYNLEARN_PREFECT_PORT, default 4200; the UI at http://127.0.0.1:4200), waits for it, then serves the deployments
(`flows.serve`, same arguments) until stopped, and stops the server. The database is kept.
The tests and ``bench/bench_flow_overhead.py`` use `prefect_server` with a database of their own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dynlearn

POSTGRES = "postgres@127.0.0.1:5432"
STARTUP_SECONDS = 120  # a fresh database is migrated first (~10 s on 2 idle cores)


def database_url(database: str) -> str:
    """Prefect's connection URL (asyncpg driver) for `database` on the local PostgreSQL."""
    return f"postgresql+asyncpg://{POSTGRES}/{database}"


def create_database(database: str) -> bool:
    """Create `database` unless it exists; returns whether it was created."""
    async def create(connection) -> bool:
        if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            return False
        await connection.execute(f'CREATE DATABASE "{database}"')
        return True

    return asyncio.run(_on_postgres(create))


def drop_database(database: str) -> None:
    """Drop `database`, closing the connections still open to it."""
    async def drop(connection) -> None:
        await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    asyncio.run(_on_postgres(drop))


async def _on_postgres(action):
    import asyncpg

    try:
        connection = await asyncpg.connect(f"postgresql://{POSTGRES}/postgres", timeout=10)
    except (OSError, asyncpg.PostgresError) as error:
        raise dynlearn.ConfigError(f"no PostgreSQL at {POSTGRES} ({error}); start it (pg_ctlcluster ... start)") from None
    try:
        return await action(connection)
    finally:
        await connection.close()


@contextmanager
def prefect_server(database: str, port: int = 4200, *, home: Path, drop: bool = False,
                   scheduler_seconds: float | None = None, log: Path | None = None) -> Iterator[str]:
    """Run ``prefect server start`` on 127.0.0.1:`port` with `database` (created if missing) for the block.

    Args:
        database: the PostgreSQL database Prefect keeps its state in.
        port: the server's port.
        home: PREFECT_HOME of the server process.
        drop: drop the database afterwards (tests, benchmarks).
        scheduler_seconds: the scheduler's loop intervals (default 60 s and 5 s), shorter so a
            new deployment's first scheduled run starts within seconds.
        log: where the server's output goes (default: discarded).

    Yields:
        The API URL, ``http://127.0.0.1:<port>/api``, once the server answers.
    """
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_DATABASE_CONNECTION_URL=database_url(database),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_SERVER_LOGGING_LEVEL="WARNING")
    if scheduler_seconds is not None:
        env.update(PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS=str(scheduler_seconds),
                   PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS=str(scheduler_seconds))
    create_database(database)
    output = open(log, "ab") if log else subprocess.DEVNULL
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if log:
            output.close()
        if drop:
            drop_database(database)


def _wait_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise dynlearn.ConfigError(f"prefect server start exited with code {server.returncode}; is port "
                                       f"{url.split(':')[2].split('/')[0]} taken?")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise dynlearn.ConfigError(f"the Prefect server at {url} did not answer within {STARTUP_SECONDS} s")


def main(argv: list[str] | None = None) -> int:
    """The server, then `flows.serve.main(argv)` against it; returns serve's exit code."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows import serve

    database = os.environ.get("DYNLEARN_PREFECT_DB", "dynlearn_prefect")
    port = int(os.environ.get("DYNLEARN_PREFECT_PORT", 4200))
    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect"))
    try:
        serve._parse(sys.argv[1:] if argv is None else argv)  # an unknown deployment stops here, before the server
        with prefect_server(database, port, home=home) as url:
            print(f"Prefect server on PostgreSQL database {database}: {url.removesuffix('/api')}", flush=True)
            os.environ["PREFECT_API_URL"] = url  # the flow runs serve starts inherit it
            with temporary_settings(updates={PREFECT_API_URL: url}):
                return serve.main(argv)
    except dynlearn.DynlearnError as error:
        print(f"python -m flows.server: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
