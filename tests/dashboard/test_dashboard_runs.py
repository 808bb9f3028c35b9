"""The dashboard's data layer on real runs (`train +exp=lorenz debug=fast seeds=2`): discovery and
headline figures as the runs' own metrics say, seeds grouped into a leaderboard row with their
median and MAD, broken and unfinished runs shown as such beside the rest, and a catalog that
picks up new runs and rereads only what changed."""

import json
import shutil
import statistics

import pytest

from dynlearn.cli import main
from dynlearn.dashboard import RunCatalog, discover_runs, leaderboard, read_run
from tests.helpers import REPO


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs root with two seeds of one config, trained and evaluated by the library."""
    root = tmp_path_factory.mktemp("dashboard")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
        assert main(["train", "+exp=lorenz", "debug=fast", "seeds=2", "jobs=2", "trainer.eval_every=0",
                     "eval.lyap_steps=200", "paths.data=data"]) == 0
    return root / "runs"


def _copy(runs, tmp_path):
    target = tmp_path / "runs"
    shutil.copytree(runs, target)
    return target


def test_runs_are_found_with_their_own_figures_and_seeds_make_one_leaderboard_row(runs):
    entries = discover_runs(runs)
    assert len(entries) == 2 and {e.seed for e in entries} == {0, 1}
    assert all(e.state == "complete" and e.model == "alrnn" and e.protocol == "attractor" for e in entries)
    assert entries[0].created > entries[1].created  # newest first
    for e in entries:
        metrics = json.loads((e.path / "metrics.json").read_text())
        assert e.figures["d_stsp"] == metrics["d_stsp"] and e.figures["d_h"] == metrics["d_h"]
        assert e.epochs_done == e.epochs_planned == json.loads((e.path / "status.json").read_text())["epochs"]
    (row,) = leaderboard(entries)
    values = [e.figures["d_stsp"] for e in entries]
    assert row["seeds"] == 2 and row["system"] == entries[0].system
    assert row["d_stsp"] == pytest.approx(statistics.median(values))
    assert row["d_stsp_mad"] == pytest.approx(abs(values[0] - values[1]) / 2)


def test_broken_and_unfinished_runs_are_shown_as_such_beside_the_rest(runs, tmp_path):
    root = _copy(runs, tmp_path)
    first, second = sorted(p.parent for p in root.glob("*/*/status.json"))
    corrupt = first.parent / "2099-01-01_00-00-00_000000"
    shutil.copytree(first, corrupt)
    (corrupt / "status.json").write_text("{not json")
    no_config = first.parent / "2099-01-02_00-00-00_000000"
    shutil.copytree(first, no_config)
    (no_config / "config.yaml").unlink()
    running = first.parent / "2099-01-03_00-00-00_000000"
    shutil.copytree(first, running)
    (running / "metrics.json").unlink()
    (running / "status.json").write_text(json.dumps({"state": "running"}))
    log = (running / "checkpoints" / "train_log.csv").read_text().splitlines()
    (running / "checkpoints" / "train_log.csv").write_text("\n".join(log[:2]) + "\n")  # one epoch logged

    entries = {e.path.name: e for e in discover_runs(root)}
    assert len(entries) == 5
    assert entries[corrupt.name].state == "broken" and "JSONDecodeError" in entries[corrupt.name].problem
    assert entries[no_config.name].state == "broken" and entries[no_config.name].problem == "config.yaml is missing"
    live = entries[running.name]
    assert live.state == "running" and live.protocol is None and live.figures == {} and live.epochs_done == 1
    assert entries[first.name].state == entries[second.name].state == "complete"
    assert len(leaderboard(list(entries.values()))) == 1  # only evaluated, readable runs are ranked
    assert read_run(tmp_path / "nowhere").state == "broken"


def test_the_catalog_picks_up_new_runs_and_rereads_only_changed_ones(runs, tmp_path):
    root = _copy(runs, tmp_path)
    catalog = RunCatalog(root)
    before = {e.path: e for e in catalog.refresh()}
    first = min(before)
    fresh = first.parent / "2099-02-01_00-00-00_000000"
    shutil.copytree(first, fresh)
    after = {e.path: e for e in catalog.refresh()}
    assert set(after) == set(before) | {fresh}
    assert all(after[p] is before[p] for p in before)  # unchanged runs are not read again
    (fresh / "status.json").write_text(json.dumps({"state": "diverged"}))
    assert {e.path: e for e in catalog.refresh()}[fresh].state == "diverged"
    shutil.rmtree(fresh)
    assert {e.path for e in catalog.refresh()} == set(before)
    assert RunCatalog(tmp_path / "missing").refresh() == []
