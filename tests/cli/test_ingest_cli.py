"""`python -m dynlearn ingest`: a store from a file, or one line, exit code 2 and nothing written."""

import numpy as np
import pandas as pd
import pytest

from dynlearn.cli import main
from dynlearn.data import validate
from tests.helpers import REPO, run_cli, tree


@pytest.fixture
def workdir(tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    np.save(tmp_path / "lorenz_runs.npy", rng.normal(size=(10, 40, 3)))
    values = 5 + rng.random((30, 2))
    table = pd.DataFrame({"date": pd.date_range("2010-01-01", periods=30, freq="D").strftime("%Y-%m-%d"),
                          "6335020": values[:, 0], "6335500": values[:, 1]})
    table.to_csv(tmp_path / "rhine.csv", index=False)
    return tmp_path


def test_real_process_refuses_missing_units_in_one_line(workdir):
    before = tree(workdir)
    result = run_cli(["ingest", "source=rhine.csv", "name=rhine"], workdir)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "set ingest.units" in result.stderr
    assert tree(workdir) == before


def test_csv_ingested_with_station_ids_and_units(workdir, capsys):
    assert main(["ingest", "source=rhine.csv", "name=rhine", "ingest.units=m3/s"]) == 0
    assert capsys.readouterr().out.strip() == "store: data/rhine.zarr"
    ds = validate(workdir / "data" / "rhine.zarr")
    table = pd.read_csv(workdir / "rhine.csv")
    np.testing.assert_array_equal(ds["discharge"].values, table[["6335020", "6335500"]].to_numpy().T)
    assert list(ds["station_id"].values) == ["6335020", "6335500"] and ds.attrs["units"] == "m3/s"
    assert list(ds["split"].values) == [0] * 21 + [1] * 5 + [2] * 4  # contiguous periods of time


def test_name_defaults_to_the_file_stem_and_the_store_is_reused(workdir, capsys):
    assert main(["ingest", "source=lorenz_runs.npy", "ingest.dt=0.01", "ingest.split=[0.6,0.2,0.2]"]) == 0
    assert capsys.readouterr().out.strip() == "store: data/lorenz_runs.zarr"
    ds = validate(workdir / "data" / "lorenz_runs.zarr")
    assert list(ds["split"].values) == [0] * 6 + [1] * 2 + [2] * 2
    np.testing.assert_array_equal(ds["state"].values, np.load(workdir / "lorenz_runs.npy"))
    before = tree(workdir)
    assert main(["ingest", "source=lorenz_runs.npy", "ingest.dt=0.01", "ingest.split=[0.6,0.2,0.2]"]) == 0
    assert tree(workdir) == before


CASES = {
    "no source": ([], "ingest needs the file to read: add source="),
    "missing file": (["source=nope.nc"], "source nope.nc does not exist"),
    "missing dt": (["source=lorenz_runs.npy"], "set ingest.dt"),
    "bad split": (["source=lorenz_runs.npy", "ingest.dt=0.1", "ingest.split=[0.5,0.6,0.1]"], "summing to 1"),
    "unknown format": (["source=lorenz_runs.npy", "ingest.format=grib"], "unknown ingest.format 'grib'"),
    "wrong type": (["source=lorenz_runs.npy", "ingest.dt=fast"], "ingest.dt must be float or null"),
    "misspelled key": (["source=lorenz_runs.npy", "ingest.unit=m"], "did you mean 'ingest.units'"),
    "wrong kind for the file": (["source=lorenz_runs.npy", "ingest.dt=0.1", "ingest.kind=grid"],
                                "holds a ode dataset, not grid"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_errors_are_one_line_exit_2_and_write_nothing(case, workdir, capsys):
    overrides, expected = CASES[case]
    before = tree(workdir)
    code = main(["ingest", *overrides])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert tree(workdir) == before


def test_help_lists_the_ingest_options(capsys):
    assert main(["ingest", "--help"]) == 0
    out = capsys.readouterr().out
    assert "source=<file>" in out and "ingest.units" in out and "ingest.variable" in out
    assert main(["--help"]) == 0
    assert "ingest" in capsys.readouterr().out
