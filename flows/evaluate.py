"""Evaluate a trained run, as a flow: invariants of its free runs beside the true-vs-true floor.

``python -m flows.evaluate run=<run dir> [eval.*]``: a run in state ``trained`` is evaluated into
its own directory and becomes ``complete``; a complete run gets a new ``eval-<time>/`` folder.
A failure removes what the evaluation added. Cached by the run, the protocol (``eval.*``) and
the code version: evaluating the same run the same way again returns the evaluation made before.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from prefect import flow, task

import dynlearn
from flows._shared import (
    additions_removed_on_failure,
    cache_key,
    cached,
    checked_settings,
    command_line,
    digest,
    publish_evaluation,
    run_state,
    task_options,
)


def evaluation_key(context, parameters: dict) -> str:
    return cache_key("evaluate", digest(dataclasses.asdict(parameters["spec"])), Path(parameters["run_dir"]).resolve())


@task(cache_key_fn=evaluation_key, **task_options("evaluate"))
def evaluate_task(run_dir: str, spec: dynlearn.EvalSpec) -> str:
    """Evaluate a trained or complete run; returns the folder that holds the evaluation."""
    run_dir = Path(run_dir)
    with additions_removed_on_failure(run_dir):
        if run_state(run_dir) == "complete":
            return str(dynlearn.evaluate_run(run_dir, spec))
        dynlearn.complete_run(run_dir, spec)
        return str(run_dir)


def evaluation(run_dir: str, spec: dynlearn.EvalSpec) -> str:
    """The evaluation made before of this run under `spec`, if still there; else a new one."""
    return cached(evaluate_task, lambda folder: (Path(folder) / "metrics.json").exists(), run_dir, spec)


def check(overrides: list[str] | None) -> dynlearn.Settings:
    """The settings, with a run that can be evaluated; a user error raises `dynlearn.DynlearnError`."""
    settings = checked_settings(overrides)
    if settings.run is None:
        raise dynlearn.ConfigError("evaluate needs the run to evaluate: add run=<run directory> (under runs/)")
    state = run_state(settings.run)
    if state not in ("trained", "complete"):
        what = "not a run directory" if state is None else f"a run in state {state}"
        raise dynlearn.ConfigError(f"run {settings.run} is {what}; give a trained or complete run (runs/<name>/<time>)")
    return settings


@flow(name="dynlearn-evaluate", log_prints=True)
def evaluate(overrides: list[str] | None = None) -> dict:
    """Evaluate one run; publishes the metrics table, a report with the plots, and a link to the run.

    Args:
        overrides: Hydra overrides with the run, e.g. ``["run=runs/lorenz/<time>", "eval.n_ics=20"]``.

    Returns:
        ``{"run_dir": path, "evaluation": folder, "metrics": {...}, "artifact_id": id}``.
    """
    settings = check(overrides)
    folder = evaluation(str(settings.run), dynlearn.load_eval_spec(settings.run, settings, overrides or []))
    artifact_id = publish_evaluation(settings.run.resolve().parent.name, settings.run, folder)
    print(f"evaluation: {folder}")
    return {"run_dir": str(settings.run), "evaluation": folder, "artifact_id": artifact_id,
            "metrics": json.loads((Path(folder) / "metrics.json").read_text())}


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.evaluate [key=value ...]``; returns the exit code (2: bad input, nothing written)."""
    return command_line("flows.evaluate", evaluate, check, sys.argv[1:] if argv is None else argv, {})


if __name__ == "__main__":
    sys.exit(main())
