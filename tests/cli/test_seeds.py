"""`train seeds=<n>`: independent seeds, skipped when finished, and their median ± MAD summary."""

import csv
import json

import pytest
import yaml

from dynlearn._seeds import SeedRun, summarize_seeds, write_seed_summary
from dynlearn.cli import main
from tests.cli.test_compare import make_run, metrics
from tests.helpers import REPO, TINY_DATA, TINY_TRAIN, run_cli, tree

D_STSP = [0.1, 0.2, 0.3, 0.4, 1.0]  # median 0.3; |deviations| 0.2, 0.1, 0, 0.1, 0.7 -> MAD 0.1


@pytest.fixture
def five_seeds(tmp_path):
    runs = []
    for seed, value in enumerate(D_STSP):
        values = {**metrics(value), "lyap_max": 0.9056 * (1 + 0.1 * seed), "n_collapsed": seed % 2}
        runs.append(make_run(tmp_path / "runs/lorenz" / f"2026-12-06_0{seed}", values, seed=seed))
    runs.append(make_run(tmp_path / "runs/lorenz/2026-12-06_05", None, seed=5, state="diverged"))
    return runs


def test_summary_is_median_and_unscaled_mad_over_seeds_with_metrics(five_seeds):
    rows = {row["invariant"]: row for row in summarize_seeds(five_seeds)}
    d_stsp = rows["d_stsp"]
    assert d_stsp["n"] == 5  # the diverged seed has no metrics
    assert d_stsp["median"] == pytest.approx(0.3) and d_stsp["mad"] == pytest.approx(0.1)
    assert (d_stsp["min"], d_stsp["max"]) == (0.1, 1.0)
    assert rows["d_stsp_excess"]["median"] == pytest.approx(0.25)  # floor 0.05
    assert rows["d_h_excess"]["median"] == pytest.approx(0.02) and rows["d_h_excess"]["mad"] == 0
    # |λ - λ_ref| / λ_ref = 0, 0.1, ..., 0.4: median 0.2, MAD 0.1
    assert rows["lyap_rel_error"]["median"] == pytest.approx(0.2)
    assert rows["lyap_rel_error"]["mad"] == pytest.approx(0.1)
    assert rows["n_collapsed"]["median"] == 0 and rows["n_collapsed"]["max"] == 1


def test_summary_files_link_every_run_and_report_the_diverged_one(five_seeds, tmp_path):
    out = tmp_path / "runs/lorenz/seeds-abc"
    runs = [SeedRun(seed, run, "complete") for seed, run in enumerate(five_seeds)]
    text = write_seed_summary(runs, out, title="lorenz: 6 seeds")
    assert (out / "summary.md").read_text() == text
    assert "5 of 6 seeds complete" in text
    assert "| D_stsp | 0.3 ± 0.1 (0.1–1) | 5 |" in text
    assert "(../2026-12-06_00)" in text and "| 5 | diverged |" in text
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["seed"] for r in rows] == ["0", "1", "2", "3", "4", "5", "median", "mad", "min", "max"]
    assert rows[0]["run"] == "../2026-12-06_00" and rows[5]["state"] == "diverged" and rows[5]["d_stsp"] == ""
    assert float(rows[6]["d_stsp"]) == pytest.approx(0.3) and float(rows[7]["d_stsp"]) == pytest.approx(0.1)


@pytest.mark.parametrize("args, words", [
    (["seeds=0"], "seeds must be a positive integer or null"),
    (["seeds=two"], "seeds must be a positive integer or null"),
    (["seeds=2", "jobs=0"], "jobs must be a positive integer"),
    (["jobs=2"], "add seeds=<n>"),
    (["seeds=2", "resume=true"], "resume does not combine with seeds"),
])
def test_bad_seed_keys_are_one_line_errors(tmp_path, monkeypatch, capsys, args, words):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert tree(tmp_path) == set()


def test_two_seeds_train_summarize_and_are_skipped_when_rerun(tmp_path):
    args = ["train", "seeds=2", "jobs=2", "seed=7", *TINY_DATA, *TINY_TRAIN,
            f"paths.data={tmp_path / 'data'}", f"paths.runs={tmp_path / 'runs'}"]
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    found = {yaml.safe_load((p.parent / "config.yaml").read_text())["seed"]: p.parent
             for p in (tmp_path / "runs/lorenz63").glob("*/status.json")}
    assert sorted(found) == [7, 8]
    runs = [found[7], found[8]]
    status = [json.loads((run / "status.json").read_text()) for run in runs]
    assert [s["state"] for s in status] == ["complete", "complete"]
    group = status[0]["seed_group"]
    assert status[1]["seed_group"] == group and status[0]["config_hash"] != status[1]["config_hash"]
    summary = tmp_path / "runs/lorenz63" / f"seeds-{group}"
    assert first.stdout.endswith((summary / "summary.md").read_text())
    assert "2 of 2 seeds complete" in first.stdout
    assert sorted(line.split(":")[0] for line in first.stdout.splitlines() if line.startswith("seed ")) == \
        ["seed 7 (1/2)", "seed 8 (2/2)"]
    rows = list(csv.DictReader((summary / "summary.csv").open()))
    assert [r["seed"] for r in rows[:2]] == ["7", "8"] and rows[0]["run"] == f"../{runs[0].name}"

    again = run_cli(args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"seed 7 (1/2): skipped (finished: {runs[0]})" in again.stdout
    assert f"seed 8 (2/2): skipped (finished: {runs[1]})" in again.stdout
    assert sorted(p.parent for p in (tmp_path / "runs/lorenz63").glob("*/status.json")) == sorted(runs)


def test_diverged_seeds_are_reported_and_exit_2(tmp_path):
    # Any loss counts as divergence: every seed diverges in its first batch, one after another.
    result = run_cli(["train", "seeds=2", *TINY_DATA, *TINY_TRAIN, "trainer.max_loss=1e-12",
                      f"paths.data={tmp_path / 'data'}", f"paths.runs={tmp_path / 'runs'}"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "2 of 2 seeds did not finish" in result.stderr, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("seed ")]
    assert len(lines) == 2 and all("diverged: training diverged in epoch 1" in line for line in lines), lines
    assert "0 of 2 seeds complete" in result.stdout and "| 0 | diverged |" in result.stdout and "| 1 | diverged |" in result.stdout
    for status in (tmp_path / "runs/lorenz63").glob("*/status.json"):
        assert json.loads(status.read_text())["state"] == "diverged" and "seed_group" in json.loads(status.read_text())
