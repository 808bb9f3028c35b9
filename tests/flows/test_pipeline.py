"""The Prefect pipeline on a real (embedded, test-harness) Prefect server."""

import json
import shutil

import pytest

from tests.flows.support import FAST, read_artifact
from tests.helpers import tree


def test_pipeline_generates_trains_evaluates_and_publishes_the_table(prefect_server, workdir):
    from prefect.client.orchestration import get_client

    from flows.pipeline import pipeline

    result = pipeline(overrides=[*FAST, "name=flowtest"])
    run_dir = workdir / result["run_dir"]
    assert run_dir.parent == workdir / "runs" / "flowtest" and result["evaluation"] == result["run_dir"]
    assert (workdir / "data" / "lorenz63.zarr").exists()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    saved = json.loads((run_dir / "artifact.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert saved["table"][0]["metric"].startswith("D_stsp")
    assert saved["table"][0]["model"] == pytest.approx(metrics["d_stsp"], abs=1e-4)
    assert not any((workdir / "runs" / ".incomplete").iterdir())  # the staging folder is gone

    with get_client(sync_client=True) as client:
        artifact = read_artifact(client, result["artifact_id"])
    assert artifact["key"] == "metrics-flowtest" and artifact["type"] == "table"
    assert artifact["data"][0]["metric"].startswith("D_stsp")
    assert artifact["data"][0]["model"] == pytest.approx(metrics["d_stsp"], abs=1e-4)


def test_a_rerun_returns_the_cached_run_until_it_is_gone(prefect_server, workdir):
    """Same config, code and data: no second training or evaluation; a deleted run is trained again."""
    from flows.pipeline import pipeline

    overrides = [*FAST, "name=cached"]
    first = pipeline(overrides=overrides)
    files = tree(workdir)
    second = pipeline(overrides=overrides)
    assert (second["run_dir"], second["evaluation"]) == (first["run_dir"], first["evaluation"])
    assert tree(workdir) == files and second["metrics"] == first["metrics"]

    shutil.rmtree(workdir / first["run_dir"])
    third = pipeline(overrides=overrides)
    assert third["run_dir"] != first["run_dir"]
    assert json.loads((workdir / third["run_dir"] / "status.json").read_text())["state"] == "complete"
