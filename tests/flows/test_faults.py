"""Faults injected mid-write: a failed flow leaves no partial store and no half-written run.

Retries are for faults that can pass (OSError): a retried generation resumes its store from the
last chunk; a user error, a bug or a timeout is not retried.
"""

import json

import pytest

import dynlearn
from tests.flows.support import FAST
from tests.helpers import TINY_DATA, tree


def failing_chunk(monkeypatch, error: Exception, at_call: int) -> list:
    """Simulation raises `error` at its `at_call`-th chunk (once), after the chunks before it were written."""
    import dynlearn.data._generate as generation

    real, calls = generation._simulate_chunk, []

    def simulate(*args, **kwargs):
        calls.append(1)
        if len(calls) == at_call:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(generation, "_simulate_chunk", simulate)
    return calls


def test_a_generation_failing_mid_write_leaves_no_store(prefect_server, workdir, monkeypatch):
    from flows.pipeline import pipeline

    calls = failing_chunk(monkeypatch, RuntimeError("injected fault"), at_call=2)
    with pytest.raises(RuntimeError, match="injected fault"):
        pipeline(overrides=[*FAST, "name=faulty"])
    assert len(calls) == 2  # one chunk of three was written, then the fault; a bug is not retried
    assert not (workdir / "data" / "lorenz63.zarr").exists() and not (workdir / "runs").exists()
    assert not any(p.is_file() for p in (workdir / "data").rglob("*"))  # no datasheet, no lock either


def test_a_transient_fault_is_retried_and_the_store_resumed(prefect_server, workdir, monkeypatch):
    import flows.generate

    monkeypatch.setattr(flows.generate, "generate_task", flows.generate.generate_task.with_options(retry_delay_seconds=0))
    calls = failing_chunk(monkeypatch, OSError("injected I/O fault"), at_call=2)
    store = flows.generate.generate(overrides=TINY_DATA)
    assert len(calls) == 4  # chunk 0, the fault at chunk 1; the retry resumed at chunk 1: chunks 1 and 2
    dynlearn.validate(store)


def test_a_training_failing_mid_write_leaves_no_run_directory(prefect_server, workdir, monkeypatch):
    import dynlearn._workflow as workflow
    from flows.pipeline import pipeline

    real_fit = workflow.fit

    def fit_then_fail(*args, **kwargs):  # checkpoints and the log are written, the run is not finished
        real_fit(*args, **kwargs)
        raise RuntimeError("injected fault")

    monkeypatch.setattr(workflow, "fit", fit_then_fail)
    with pytest.raises(RuntimeError, match="injected fault"):
        pipeline(overrides=[*FAST, "name=faulty"])
    dynlearn.validate(workdir / "data" / "lorenz63.zarr")  # the store, finished before, stays
    assert tree(workdir / "runs") == {".incomplete"}  # no run directory; the staging folder is empty


def test_an_evaluation_failing_mid_write_leaves_the_trained_run_as_it_was(prefect_server, workdir, monkeypatch):
    import dynlearn._evaluate as evaluation
    from flows.evaluate import evaluate
    from flows.train import train

    run_dir = workdir / train(overrides=[*FAST, "name=faulty"])
    trained = tree(run_dir)

    def fail(*args, **kwargs):  # after the plots and metrics.json, before the tables
        raise RuntimeError("injected fault")

    monkeypatch.setattr(evaluation, "atomic_write_text", fail)
    with pytest.raises(RuntimeError, match="injected fault"):
        evaluate(overrides=[f"run={run_dir}", *(o for o in FAST if o.startswith("eval."))])
    assert tree(run_dir) == trained
    assert json.loads((run_dir / "status.json").read_text())["state"] == "trained"


def test_only_transient_faults_are_retried():
    from prefect.states import Failed

    from flows._shared import retry_can_help

    assert retry_can_help(None, None, Failed(data=OSError("disk")))
    assert not retry_can_help(None, None, Failed(data=TimeoutError("stage took too long")))
    assert not retry_can_help(None, None, Failed(data=dynlearn.DataError("NaN in the store")))
    assert not retry_can_help(None, None, Failed(data=RuntimeError("a bug")))
