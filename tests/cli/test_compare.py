"""`compare`: invariants of runs side by side, only for the same test data and protocol."""

import csv
import json

import pytest
import yaml

from dynlearn import compare_runs
from dynlearn.cli import main
from tests.helpers import tree

TEST_DATA = {"store": "/data/lorenz63.zarr", "store_hash": "0123456789abcdef", "cases": [[0, 0], [1, 0]],
             "n_steps": 500, "transient": 100, "context": 1}


def metrics(d_stsp, *, version=2, **changes):
    """A protocol-v2 metrics.json as the evaluation writes it (floors 0.05 / 0.01)."""
    return {"protocol_version": version, "test_data": {**TEST_DATA, **changes},
            "d_stsp": d_stsp, "d_stsp_floor": 0.05, "d_h": 0.03, "d_h_floor": 0.01,
            "lyap_max": 0.8, "lyap_max_reference": 0.9056, "vpt": 2.5, "vpt_unit": "lyapunov_times",
            "n_ics": 2, "n_collapsed": 1, "n_diverged": 0, "bins": 30, "per_ic": []}


def make_run(path, values, *, seed=0, state="complete", evals=(), model="alrnn", seconds=None):
    """A run directory holding `values` as its metrics.json and each of `evals` in an eval-<i>/."""
    path.mkdir(parents=True)
    status = {"state": state, "config_hash": f"hash{seed}"}
    (path / "status.json").write_text(json.dumps(status if seconds is None else {**status, "train_seconds": seconds}))
    (path / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "model": {"name": model}}))
    if values is not None:
        (path / "metrics.json").write_text(json.dumps(values))
    for i, later in enumerate(evals):
        (path / f"eval-2026-12-0{i + 1}").mkdir()
        (path / f"eval-2026-12-0{i + 1}" / "metrics.json").write_text(json.dumps(later))
    return path


def test_rows_use_the_newest_protocol_2_metrics_of_each_run(workdir):
    make_run(workdir / "runs/lorenz/a", metrics(0.2), seed=0)
    # b: a later v2 evaluation wins over training's; a still later v1 one does not count.
    make_run(workdir / "runs/lorenz/b", metrics(0.9), seed=1, evals=[metrics(0.4), metrics(0.1, version=1)])
    make_run(workdir / "runs/lorenz/c", None, state="diverged")  # no metrics: not a comparable run
    rows = compare_runs(["runs/lorenz"])
    assert [r["run"] for r in rows] == ["runs/lorenz/a", "runs/lorenz/b"]
    assert [r["d_stsp"] for r in rows] == [0.2, 0.4]
    assert [r["evaluation"] for r in rows] == [".", "eval-2026-12-01"]
    assert rows[1]["seed"] == 1 and rows[1]["model"] == "alrnn"
    assert rows[0]["d_stsp_floor"] == 0.05 and rows[0]["n_collapsed"] == 1 and rows[0]["n_diverged"] == 0


def test_cli_prints_and_writes_the_table(workdir, capsys):
    make_run(workdir / "runs/lorenz/a", metrics(0.2))
    make_run(workdir / "elsewhere/b", metrics(0.4), seed=1)
    assert main(["compare", "runs=[runs/lorenz/a,elsewhere/b]"]) == 0
    out = capsys.readouterr().out
    written = sorted((workdir / "runs/compare").iterdir())
    assert [p.suffix for p in written] == [".csv", ".md"] and written[0].stem.startswith("compare-")
    markdown = written[1].read_text()
    assert markdown in out and "| D_stsp | D_stsp floor |" in markdown
    assert "[runs/lorenz/a](../lorenz/a)" in markdown and "[elsewhere/b](../../elsewhere/b)" in markdown
    rows = list(csv.DictReader(written[0].open()))
    assert [(r["run"], r["d_stsp"], r["d_h_floor"]) for r in rows] == [
        ("elsewhere/b", "0.4", "0.01"), ("runs/lorenz/a", "0.2", "0.01")]


@pytest.mark.parametrize("difference, words", [
    ({"store_hash": "fedcba9876543210"}, "test_data.store_hash"),
    ({"cases": [[0, 0], [2, 0]]}, "test_data.cases"),
    ({"version": 3}, "protocol_version 2 vs 3"),
])
def test_runs_evaluated_differently_are_refused_in_one_line(workdir, capsys, difference, words):
    make_run(workdir / "runs/lorenz/a", metrics(0.2))
    make_run(workdir / "runs/lorenz/b", metrics(0.4, **difference))
    before = tree(workdir)
    assert main(["compare", "runs=runs/lorenz"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert "runs/lorenz/a" in err and "runs/lorenz/b" in err
    assert tree(workdir) == before


@pytest.mark.parametrize("args, words", [
    ([], "compare needs runs="),
    (["runs=nowhere"], "nowhere does not exist"),
    (["runs=."], "no evaluated runs"),
])
def test_missing_runs_are_one_line_errors(workdir, capsys, args, words):
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert tree(workdir) == set()


def test_compare_is_a_command_with_help(workdir, capsys):
    assert main(["--help"]) == 0 and "compare" in capsys.readouterr().out
    assert main(["compare", "--help"]) == 0
    out = capsys.readouterr().out
    assert "runs=" in out and "protocol version 2" in out


def test_families_are_summarized_by_the_median_over_their_seeds(workdir, capsys):
    for seed, (d, lyap, secs) in enumerate([(0.2, 0.8, 100.0), (0.6, 0.9, 300.0), (0.3, 1.0, 200.0)]):
        make_run(workdir / f"runs/lorenz/alrnn{seed}", {**metrics(d), "lyap_max": lyap}, seed=seed, seconds=secs)
    make_run(workdir / "runs/lorenz/node0", {**metrics(1.5), "lyap_max": None, "n_collapsed": 3},
             model="neural_ode", seconds=50.0)
    rows = compare_runs(["runs/lorenz"])
    assert rows[0]["lyap_rel_error"] == pytest.approx(abs(0.8 - 0.9056) / 0.9056)
    assert [r["train_seconds"] for r in rows] == [100.0, 300.0, 200.0, 50.0]
    from dynlearn._compare import by_family
    alrnn, node = by_family(rows)
    assert alrnn["model"] == "alrnn" and alrnn["runs"] == 3
    assert alrnn["d_stsp"] == 0.3 and alrnn["train_seconds"] == 200.0  # medians, not means
    assert alrnn["lyap_rel_error"] == pytest.approx(abs(1.0 - 0.9056) / 0.9056)  # median of the errors
    assert node["runs"] == 1 and node["lyap_rel_error"] is None and node["n_collapsed"] == 3
    assert main(["compare", "runs=runs/lorenz"]) == 0
    out = capsys.readouterr().out
    assert "| model | runs | D_stsp | D_H | λ_max rel. error | VPT | collapsed | diverged | training [s] |" in out
    assert "| neural_ode | 1 | 1.5 | 0.03 | n/a | 2.5 | 3 | 0 | 50 |" in out


def test_a_family_trained_with_other_options_gets_a_row_of_its_own(workdir):
    from dynlearn._compare import by_family
    for seed in (0, 1):
        make_run(workdir / f"runs/k/plain{seed}", metrics(0.2 + seed), seed=seed, model="koopman")
        make_run(workdir / f"runs/k/reenc{seed}", metrics(0.6 + seed), seed=seed, model="koopman")
        config = workdir / f"runs/k/reenc{seed}/config.yaml"
        config.write_text(yaml.safe_dump({"seed": seed, "model": {"name": "koopman", "reencode_every": 10, "seed": seed}}))
    rows = by_family(compare_runs(["runs/k"]))
    assert [r["runs"] for r in rows] == [2, 2] and sorted(r["d_stsp"] for r in rows) == [0.7, 1.1]
    assert all(r["model"].startswith("koopman [") for r in rows) and rows[0]["model"] != rows[1]["model"]
