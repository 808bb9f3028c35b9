"""The main pipeline as a Prefect flow: generate -> train -> evaluate -> publish.

Run it with `python -m dynlearn pipeline +exp=lorenz` (or `make run`), or `python -m
flows.pipeline +exp=lorenz [retrain=true]`. Without PREFECT_API_URL, Prefect starts an embedded
server (SQLite under PREFECT_HOME) for the run; `make serve` runs it on a schedule against a
Prefect server on PostgreSQL (`flows.serve`). The flow composes the configuration once; its
tasks (flows.generate, flows.train, flows.evaluate) pass store paths and run directories, never
arrays. The same config with the same code and data returns the run trained and evaluated
before (while it is still there); ``retrain=true`` trains anew.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from prefect import flow

import dynlearn
from flows._shared import checked_settings, command_line, flag, publish_evaluation
from flows.evaluate import evaluation
from flows.generate import generate_task
from flows.train import trained_run


def check(overrides: list[str] | None, retrain: bool = False) -> dynlearn.Settings:
    """The settings; a user error raises `dynlearn.DynlearnError` (nothing is written)."""
    return checked_settings(overrides)


@flow(name="dynlearn-pipeline", log_prints=True)
def pipeline(overrides: list[str] | None = None, retrain: bool = False) -> dict:
    """Generate -> train -> evaluate for one experiment; publishes the metrics table, a report
    with the plots and a link to the run directory.

    Args:
        overrides: Hydra overrides, e.g. ``["+exp=lorenz"]``, composed once into the settings
            every task receives.
        retrain: train anew even if this config, code and data trained a run before.

    Returns:
        ``{"store": path, "run_dir": path, "evaluation": folder, "metrics": {...}, "artifact_id": id}``.
    """
    settings = check(overrides, retrain)
    store = generate_task(settings)
    run_dir = trained_run(settings, retrain)
    folder = evaluation(run_dir, settings.eval)
    artifact_id = publish_evaluation(settings.name, run_dir, folder)
    metrics = json.loads((Path(folder) / "metrics.json").read_text())
    print(f"store {store}; run {run_dir}; evaluation {folder}")
    return {"store": store, "run_dir": run_dir, "evaluation": folder, "metrics": metrics, "artifact_id": artifact_id}


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.pipeline [key=value ...]``; returns the exit code (2: bad input, nothing written)."""
    return command_line("flows.pipeline", pipeline, check, sys.argv[1:] if argv is None else argv, {"retrain": flag})


if __name__ == "__main__":
    sys.exit(main())
