"""Reading a Prefect server back over its REST API; the tiny config of the flow tests.

Prefect 3.8.8's own readers (read_flow_runs, read_artifacts) send nulls its server rejects
(422), so these ask with every field given.
"""

from __future__ import annotations

import json

from tests.helpers import TINY_DATA, TINY_TRAIN


def read_artifact(client, artifact_id: str) -> dict:
    """An artifact by id, a table's data decoded."""
    artifact = client.request("GET", f"/artifacts/{artifact_id}").json()
    if artifact["type"] == "table" and isinstance(artifact.get("data"), str):
        artifact["data"] = json.loads(artifact["data"])
    return artifact


def read_flow_runs(client, deployment_id: str) -> list[dict]:
    """Every flow run of a deployment, earliest expected start first."""
    body = {"deployments": {"id": {"any_": [deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 200}
    return client.request("POST", "/flow_runs/filter", json=body).json()


def read_artifacts_of(client, flow_run_id: str) -> list[dict]:
    """The artifacts a flow run created."""
    body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "CREATED_DESC", "limit": 50}
    return client.request("POST", "/artifacts/filter", json=body).json()


# The tiny config of tests/helpers.py, cut further: no validation free runs during training,
# two epochs, a short Lyapunov estimate (a pipeline in about 3 s instead of 7 s).
FAST = [*TINY_DATA, *TINY_TRAIN, "trainer.eval_every=0", "trainer.epochs=2", "eval.lyap_steps=200"]
