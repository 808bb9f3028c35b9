"""Bad input to every flow, and to serve: one line on stderr, exit code 2, nothing written."""

import contextlib
import importlib
import io
import subprocess
import sys

import pytest

from tests.helpers import REPO, cli_env, tree

CASES = [
    ("generate", ["system=nope"], "unknown system 'nope'"),
    ("generate", ["parts=0"], "parts must be a positive integer, got '0'"),
    ("generate", ["data.path=data/missing.zarr"], "data.path data/missing.zarr does not exist"),
    ("ingest", [], "ingest needs the file to read"),
    ("ingest", ["source=missing.npy"], "source missing.npy does not exist"),
    ("train", ["trainer.epochs=many"], "trainer.epochs"),
    ("train", ["resume=true"], "flows start fresh runs"),
    ("train", ["seeds=3"], "flows train one seed per run"),
    ("evaluate", [], "evaluate needs the run to evaluate"),
    ("evaluate", ["run=runs/none"], "run runs/none is not a run directory"),
    ("forecast", ["input=data/x.zarr"], "forecast needs the run to forecast with"),
    ("forecast", ["run=runs/none", "input=data/x.zarr"], "run=runs/none is not a run directory"),
    ("pipeline", ["+exp=nope"], "unknown experiment 'nope'"),
    ("pipeline", ["retrain=maybe"], "retrain must be true or false, got 'maybe'"),
    ("river_feed", ["system=lorenz63"], "the feed advances a river basin: add system=river data=river"),
    ("river_feed", ["system=river", "data=river", "days=0"], "days must be a positive integer, got '0'"),
    ("river_feed", ["system=river", "data=river", "drop=nowhere"], "drop=nowhere is not a folder"),
    ("river_daily", ["system=river", "data=river"], "no complete run of 'river'"),
    ("river_daily", ["system=river", "data=river", "run=runs/none"], "run=runs/none is not a complete run directory"),
    ("serve", ["nightly-pipelin"], "unknown deployment 'nightly-pipelin'; did you mean 'nightly-pipeline'?"),
    ("serve", ["every=soon"], "every must be a positive number of seconds"),
    ("serve", ["nightly-pipeline", "trainer.epochs=many"], "trainer.epochs"),
    ("server", ["weekly"], "unknown deployment 'weekly'"),  # refused before a server starts
]


@pytest.mark.parametrize("module, args, message", CASES, ids=[f"{m}-{' '.join(a)}" for m, a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_written(module, args, message, tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    # stderr into a buffer that stays open: leaving temporary_settings re-binds Prefect's console
    # log handler to the current stderr, and capsys's stream would be closed under later flow tests.
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert importlib.import_module(f"flows.{module}").main(args) == 2  # the server is never contacted
    err = buffer.getvalue()
    assert err.count("\n") == 1 and err.startswith(f"python -m flows.{module}: error: ") and message in err, err
    assert tree(tmp_path) == set()


def test_serve_without_a_server_says_so(tmp_path):
    """The embedded server never fires schedules, so serve refuses to run without PREFECT_API_URL."""
    result = subprocess.run([sys.executable, "-m", "flows.serve"], cwd=tmp_path, env=cli_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "set PREFECT_API_URL" in result.stderr, result.stderr
    assert tree(tmp_path) == set()
