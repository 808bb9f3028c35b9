"""Scheduled deployments served against a real `prefect server start` on PostgreSQL (127.0.0.1).

The test creates its own database and server (scheduler loops shortened to 1 s so a new
deployment's first run starts within seconds), serves the nightly pipeline every 5 s with a
tiny config through `python -m flows.serve`, waits (bounded) for a completed run, and removes
the server and the database afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.flows.support import read_artifacts_of, read_flow_runs
from tests.helpers import REPO

EVERY = 5  # seconds: shorter than a run, so a run comes due while the last one still runs
WAIT = 240  # seconds, at most, for the first run to complete on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(API client, deployment id, work folder, database) with a completed scheduled run."""
    from flows.server import prefect_server

    work = tmp_path_factory.mktemp("served")
    database, port = f"dynlearn_test_{uuid.uuid4().hex[:8]}", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=f"http://127.0.0.1:{port}/api", PREFECT_HOME=str(work / "serve-home"),
               PREFECT_RUNNER_POLL_FREQUENCY="1", PREFECT_LOGGING_LEVEL="WARNING",
               DYNLEARN_CONF=str(REPO / "conf"), MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    with open(work / "serve.log", "wb") as log:  # started first: it waits for the server (flows.serve)
        serve = subprocess.Popen(
            [sys.executable, "-m", "flows.serve", "nightly-pipeline", f"every={EVERY}", "debug=fast",
             "trainer.eval_every=0", "trainer.epochs=2", "eval.lyap_steps=200",
             "name=served", f"paths.data={work / 'data'}", f"paths.runs={work / 'runs'}"],
            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with prefect_server(database, port, home=work / "server-home", drop=True, scheduler_seconds=1,
                            log=work / "server.log") as url:
            with httpx.Client(base_url=url, timeout=30) as client:
                deployment = _wait_for(lambda: _deployment(client), 60, serve, work)
                _wait_for(lambda: any(r["state_type"] == "COMPLETED" for r in read_flow_runs(client, deployment["id"])),
                          WAIT, serve, work)
                yield client, deployment, work, database
            _stop(serve)  # before the server goes
    finally:
        _stop(serve)


def _stop(serve: subprocess.Popen) -> None:
    """Stop serve and the flow runs it started (its process group)."""
    if serve.poll() is None:
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(serve.pid, signal.SIGKILL)  # whatever is left of the group
    except ProcessLookupError:
        pass
    serve.wait()


def _deployment(client: httpx.Client) -> dict | None:
    response = client.get("/deployments/name/dynlearn-pipeline/nightly-pipeline")
    return response.json() if response.status_code == 200 else None


def _wait_for(condition, seconds: float, serve: subprocess.Popen, work):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert serve.poll() is None, (work / "serve.log").read_text()[-3000:]
        if result := condition():
            return result
        time.sleep(0.5)
    pytest.fail(f"not within {seconds} s; serve.log:\n{(work / 'serve.log').read_text()[-3000:]}")


def test_a_scheduled_run_completes_with_its_outputs_and_artifact(served):
    client, deployment, work, database = served
    assert deployment["schedules"][0]["schedule"]["interval"] == EVERY
    run = next(r for r in read_flow_runs(client, deployment["id"]) if r["state_type"] == "COMPLETED")
    run_dirs = [p for p in (work / "runs" / "served").iterdir()]
    assert len(run_dirs) == 1 and (work / "data" / "lorenz63-debug.zarr").is_dir()
    run_dir = run_dirs[0]
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    metrics = json.loads((run_dir / "metrics.json").read_text())

    table = next(a for a in read_artifacts_of(client, run["id"]) if a["key"] == "metrics-served")
    rows = json.loads(table["data"]) if isinstance(table["data"], str) else table["data"]
    assert rows[0]["metric"].startswith("D_stsp") and rows[0]["model"] == pytest.approx(metrics["d_stsp"], abs=1e-4)
    # The state lives in PostgreSQL: the completed run is a row of this test's database.
    count = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-tAc",
                            f"SELECT count(*) FROM flow_run WHERE id = '{run['id']}' AND state_type = 'COMPLETED'"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert count == "1"


def test_the_concurrency_limit_cancels_a_run_due_while_one_runs(served):
    client, deployment, work, _ = served
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    runs = read_flow_runs(client, deployment["id"])
    refused = [r for r in runs if r["state_type"] == "CANCELLED" and "concurrency limit" in (r["state"]["message"] or "")]
    assert refused, [(r["state_name"], r["state"]["message"]) for r in runs]
    ran = sorted((r["start_time"], r["end_time"] or "9999", r["state_name"]) for r in runs if r["run_count"])
    assert all(end <= next_start for (_, end, _), (next_start, _, _) in zip(ran, ran[1:])), ran  # never two at once
