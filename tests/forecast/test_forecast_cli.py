"""`python -m dynlearn forecast`: a job killed by SIGKILL resumes to the uninterrupted job's store, bit
for bit, computing each remaining chunk once; bad input is one line, exit 2, nothing written."""

import shutil
import signal
import time

import pytest
import zarr

from dynlearn.cli import main
from dynlearn.models import ALRNN
from tests.forecast.conftest import ingest_npy
from tests.helpers import REPO, popen_cli, tree

# 600 test inits x 3 members x 50 leads in 30 chunks of 20 inits: a few seconds in all, each
# chunk long enough (~10-20 ms) that the kill lands between the first and the last.
JOB = ["forecast.lead=50", "forecast.stride=4", "forecast.members=3", "forecast.perturbation=0.01",
       "forecast.chunk_inits=20", "forecast.progress=false", "threads=1"]


def _copy_run(run_dir, to):
    shutil.copytree(run_dir, to, ignore=shutil.ignore_patterns("forecast-*"))
    return to


def _progress(run_dir):
    stores = list(run_dir.glob("forecast-*/forecast.zarr"))
    if not stores:
        return None, {}
    try:
        return stores[0], dict(zarr.open_group(str(stores[0]), mode="r", use_consolidated=False).attrs["progress"])
    except (KeyError, FileNotFoundError, ValueError):  # being created
        return None, {}


def test_sigkill_then_rerun_computes_each_remaining_chunk_once_and_equals_an_uninterrupted_job(
        lorenz_run, tmp_path, monkeypatch):
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    run_dir, store = lorenz_run
    killed, clean = _copy_run(run_dir, tmp_path / "killed"), _copy_run(run_dir, tmp_path / "clean")
    args = [f"input={store}", *JOB]
    process = popen_cli(["forecast", f"run={killed}", *args], tmp_path)
    deadline, record = time.monotonic() + 120, {}
    while time.monotonic() < deadline and process.poll() is None:
        path, record = _progress(killed)
        if record.get("chunks_done", 0) >= 1:
            break
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    path, record = _progress(killed)  # what the killed job recorded, up to its last write
    done = record.get("chunks_done", 0)
    n_chunks = 30
    assert 1 <= done < n_chunks, (record, process.stderr.read())
    assert [c for c, _ in record["computed"]] == list(range(done)) and record["jobs"] == 1
    assert not zarr.open_group(str(path), mode="r", use_consolidated=False).attrs.get("complete")

    assert main(["forecast", f"run={killed}", *args]) == 0  # the same command resumes
    assert main(["forecast", f"run={clean}", *args]) == 0
    (clean_path,) = clean.glob("forecast-*/forecast.zarr")
    assert clean_path.parent.name == path.parent.name
    resumed, fresh = (zarr.open_group(str(p), mode="r") for p in (path, clean_path))
    computed = resumed.attrs["progress"]["computed"]
    assert sorted(c for c, _ in computed) == list(range(n_chunks))  # each chunk once
    assert [c for c, job in computed if job == 1] == list(range(done, n_chunks))  # the rerun: only the rest
    assert resumed.attrs["complete"] and fresh.attrs["complete"]
    assert sorted(resumed.array_keys()) == sorted(fresh.array_keys())
    for name in fresh.array_keys():
        a, b = resumed[name][...], fresh[name][...]
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name

    before = tree(killed)
    assert main(["forecast", f"run={killed}", *args]) == 0  # complete: reused, nothing computed
    assert tree(killed) == before and zarr.open_group(str(path), mode="r").attrs["progress"]["jobs"] == 2


CASES = {
    "missing run directory": ("run={tmp}/runs/none", "input={store}", "is not a trained run directory"),
    "missing run=": ("", "input={store}", "add run="),
    "missing input=": ("run={run}", "", "add input="),
    "missing input store": ("run={run}", "input={tmp}/none.zarr", "no data store at"),
    "store of another system": ("run={run}", "input={rossler}", "holds 'rossler' data"),
    "store of another dimension": ("run={run}", "input={flat}", "has states of shape (2,)"),
    "lead beyond max_lead": ("run={run}", "input={store}", "forecast.lead=101 is beyond"),
    "members without perturbation": ("run={run}", "input={store}", "needs forecast.perturbation > 0"),
    "no init in the split": ("run={run}", "input={store}", "has no segment with 5000 observations"),
}
EXTRA = {"lead beyond max_lead": ["forecast.lead=101"], "members without perturbation": ["forecast.members=3"],
         "no init in the split": ["forecast.context=5000"]}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, lorenz_run, tmp_path, monkeypatch, capsys, rng):
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ALRNN, "max_lead", 100)  # a family that forecasts at most 100 steps
    run_dir, store = lorenz_run
    names = {"run": run_dir, "store": store, "tmp": tmp_path}
    if "another" in case:  # stores ingested from .npy take their file's name as their system
        names |= {"rossler": ingest_npy(tmp_path, "rossler", rng.normal(size=(6, 50, 3))),
                  "flat": ingest_npy(tmp_path, "lorenz63", rng.normal(size=(6, 50, 2)))}
    *args, expected = CASES[case]
    args = [a.format(**names) for a in args if a] + EXTRA.get(case, [])
    before, run_before = tree(tmp_path), tree(run_dir)
    capsys.readouterr()
    assert main(["forecast", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert tree(tmp_path) == before and tree(run_dir) == run_before
