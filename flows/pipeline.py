"""The main pipeline as a Prefect flow: generate -> train -> evaluate.

Run it with `python -m dynlearn pipeline +exp=lorenz` (or `make run`). Without
PREFECT_API_URL, Prefect starts an embedded server (SQLite under PREFECT_HOME) for the run.
The flow composes the configuration once; tasks take the typed settings and return small values
(paths, the metrics dict), never arrays.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

import dynlearn
from dynlearn import Settings
from dynlearn.atomic import atomic_write_json


@task(name="generate", cache_policy=NO_CACHE)
def generate_task(settings: Settings) -> str:
    """Simulate (or reuse / resume) the configured store; returns its path."""
    if settings.data_given:
        dynlearn.open_store(settings.data_store)  # a partial or foreign store stops here (train scans values)
        return str(settings.data_store)
    return str(dynlearn.generate(settings, progress=False))


@task(name="train", cache_policy=NO_CACHE)
def train_task(settings: Settings) -> str:
    """Train on the store; returns the run directory."""
    return str(dynlearn.train(settings, run_evaluation=False))


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_task(run_dir: str, settings: Settings) -> dict:
    """Evaluate the trained run's kept model into the run directory; returns the metrics."""
    return dynlearn.complete_run(run_dir, settings.eval)


@flow(name="dynlearn-pipeline", log_prints=True)
def pipeline(overrides: list[str] | None = None) -> dict:
    """Generate -> train -> evaluate for one experiment; publishes the metrics table.

    Args:
        overrides: Hydra overrides, e.g. ``["+exp=lorenz"]``, composed once into the settings
            every task receives.

    Returns:
        ``{"store": path, "run_dir": path, "metrics": {...}, "artifact_id": id}``.
    """
    settings = dynlearn.load_settings(list(overrides or []))
    store = generate_task(settings)
    run_dir = train_task(settings)
    metrics = evaluate_task(run_dir, settings)
    rows = dynlearn.metrics_table(metrics)
    key = "metrics-" + "".join(c if c.isalnum() else "-" for c in settings.name.lower())
    artifact_id = create_table_artifact(table=rows, key=key, description=f"Invariants of {run_dir} (beside the true-vs-true floor)")
    create_markdown_artifact(markdown=(Path(run_dir) / "metrics_table.md").read_text(), key=key + "-md",
                             description=f"run directory: {run_dir}")
    # The same table stays readable after the embedded server has stopped.
    atomic_write_json({"key": key, "artifact_id": str(artifact_id), "table": rows}, Path(run_dir) / "pipeline_artifact.json")
    print(f"store {store}; run {run_dir}; D_stsp {metrics['d_stsp']:.3f} (floor {metrics['d_stsp_floor']:.3f}), "
          f"D_H {metrics['d_h']:.3f} (floor {metrics['d_h_floor']:.3f}), lyap_max {metrics['lyap_max']:.3f}")
    return {"store": store, "run_dir": run_dir, "metrics": metrics, "artifact_id": str(artifact_id)}


if __name__ == "__main__":
    import sys

    pipeline(sys.argv[1:])
