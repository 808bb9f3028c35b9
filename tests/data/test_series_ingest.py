"""One recorded series (.npy or CSV) -> a `series` store: contiguous periods, train-only statistics,
windows equal to the raw data; gaps, irregular steps and too-short periods refused in one line.

The series is Lorenz-63 observed through x and z only, with 2 % Gaussian noise: what a real
measurement of a chaotic system looks like. Everything runs through `python -m dynlearn ingest`
in-process, with ``paths.data`` in the test's temporary folder.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from dynlearn.cli import main
from dynlearn.data import WindowDataset, split_indices, validate
from dynlearn.data._schema import layout_of
from dynlearn.solvers import make_step, rollout
from dynlearn.systems import make_system
from tests.helpers import REPO, tree

DT, STEPS, WINDOW = 0.01, 1200, 16


@pytest.fixture(scope="module")
def observed():
    """(STEPS, 2): x and z of Lorenz-63 on its attractor, each with noise of 2 % of its std."""
    step = make_step(make_system("lorenz63"), DT)
    with torch.no_grad():
        states = rollout(step, torch.tensor([[1.0, 1.0, 20.0]], dtype=torch.float64), STEPS, n_transient=1000)
    xz = states[0][:, [0, 2]].numpy()
    noise = np.random.default_rng(7).normal(size=xz.shape)
    return xz + 0.02 * xz.std(axis=0) * noise


@pytest.fixture
def workdir(tmp_path, monkeypatch, observed):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    np.save(tmp_path / "xz.npy", observed)
    np.save(tmp_path / "xz1.npy", observed[None])
    table = pd.DataFrame({"time": np.arange(STEPS) * DT, "x": observed[:, 0], "z": observed[:, 1]})
    table.to_csv(tmp_path / "xz.csv", index=False)
    return tmp_path


def ingest(workdir, *overrides):
    return main(["ingest", f"paths.data={workdir / 'data'}", *overrides])


def periods(n, fractions=(0.7, 0.15, 0.15)):
    """The documented contiguous split: round-half-up boundaries at the cumulative fractions."""
    b1, b2 = (int(np.floor(f * n + 0.5 + 1e-9)) for f in np.cumsum(fractions)[:2])
    return [0] * b1 + [1] * (b2 - b1) + [2] * (n - b2)


def check_series_store(path, raw, names):
    ds = validate(path)
    assert ds.attrs["kind"] == "series" and layout_of(ds).split_dim == "time"
    assert ds["state"].dims == ("time", "dim") and ds.attrs["state_names"] == names
    assert ds.attrs["dt"] == pytest.approx(DT, rel=1e-12) and ds.attrs["lyapunov_time"] is None
    np.testing.assert_array_equal(ds["state"].values, raw)
    np.testing.assert_allclose(ds["time"].values, np.arange(len(raw)) * DT, rtol=1e-12, atol=1e-12)
    labels = periods(len(raw))
    assert list(ds["split"].values) == labels
    train = raw[np.asarray(labels) == 0]
    np.testing.assert_allclose(ds.attrs["norm_mean"], train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ds.attrs["norm_std"], train.std(axis=0), rtol=1e-12)
    assert not np.allclose(ds.attrs["norm_mean"], raw.mean(axis=0), rtol=1e-3)  # not the whole series
    return ds


@pytest.mark.parametrize("source", ["xz.npy", "xz1.npy"])
def test_npy_series(workdir, observed, source, capsys):
    assert ingest(workdir, f"source={source}", "name=xz", f"ingest.dt={DT}") == 0
    assert capsys.readouterr().out.strip().endswith("xz.zarr")
    check_series_store(workdir / "data" / "xz.zarr", observed, ["x0", "x1"])


@pytest.mark.parametrize("kind", ["ode", "series"])
def test_csv_series(workdir, observed, kind):
    assert ingest(workdir, "source=xz.csv", "name=xz", f"ingest.kind={kind}") == 0
    ds = check_series_store(workdir / "data" / "xz.zarr", observed, ["x", "z"])
    assert ds.attrs["source"]["time_column"] == "time" and ds.attrs["units"] == "dimensionless"


def test_csv_time_column_found_by_name(workdir, observed):
    table = pd.DataFrame({"x": observed[:, 0], "t": np.arange(STEPS) * DT, "z": observed[:, 1]})
    table.to_csv(workdir / "tx.csv", index=False)
    assert ingest(workdir, "source=tx.csv", "ingest.kind=ode", "ingest.units=m") == 0
    ds = check_series_store(workdir / "data" / "tx.zarr", observed, ["x", "z"])
    assert ds.attrs["units"] == "m"


def test_windows_are_the_normalized_raw_series(workdir, observed):
    assert ingest(workdir, "source=xz.npy", f"ingest.dt={DT}") == 0
    store = workdir / "data" / "xz.zarr"
    ds = validate(store)
    mean, std = np.asarray(ds.attrs["norm_mean"]), np.asarray(ds.attrs["norm_std"])
    for split in ("train", "val", "test"):
        steps = split_indices(ds, split)
        period = (observed[steps] - mean) / std
        windows = WindowDataset(store, split, WINDOW, dtype=torch.float64)
        assert len(windows) == len(steps) - WINDOW + 1 and len(windows.segments) == 1
        np.testing.assert_allclose(windows.trajectory(0)["x"].numpy(), period, rtol=1e-12, atol=1e-12)
        for i in (0, len(windows) // 2, len(windows) - 1):
            assert windows.locate(i) == (-1, steps[0] + i)
            np.testing.assert_allclose(windows[i]["x"].numpy(), period[i:i + WINDOW], rtol=1e-12, atol=1e-12)
        lazy = WindowDataset(store, split, WINDOW, dtype=torch.float64, in_memory=False)
        np.testing.assert_allclose(lazy.trajectory(0)["x"].numpy(), period, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lazy[1]["x"].numpy(), period[1:1 + WINDOW], rtol=1e-12, atol=1e-12)


def _with_gap(table):
    table.loc[41, "z"] = np.nan
    return table


def _irregular(table):
    return table.drop(index=300)  # a missing sample: one step twice as long


def _jittered(table):
    table.loc[500, "time"] += 1e-5 * DT  # 10 times the tolerance
    return table


def _headerless(table):
    return pd.DataFrame(table.to_numpy()[1:], columns=[str(v) for v in table.to_numpy()[0]])


CSV_CASES = {
    "NaN row": (_with_gap, [], "data row 42 has an empty, NaN or Inf value in column z"),
    "irregular step": (_irregular, [], "irregular time step at row 301"),
    "jittered step": (_jittered, [], "irregular time step at row 501"),
    "no header": (_headerless, [], "add a header line"),
    "dt disagrees": (lambda t: t, ["ingest.dt=0.02"], "drop ingest.dt"),
    "short test period": (lambda t: t.iloc[:12], ["ingest.split=[0.7,0.2,0.1]"],
                          "leaves the test period 1 of the 12 time steps; each needs at least 2"),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_csv_refusals_are_one_line_exit_2_and_write_nothing(case, workdir, observed, capsys):
    edit, overrides, expected = CSV_CASES[case]
    edit(pd.read_csv(workdir / "xz.csv")).to_csv(workdir / "bad.csv", index=False)
    before = tree(workdir)
    code = ingest(workdir, "source=bad.csv", "ingest.kind=ode", *overrides)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert tree(workdir) == before


@pytest.mark.parametrize("case", ["short val period", "NaN", "several trajectories as series"])
def test_npy_refusals(case, workdir, observed, capsys):
    array, overrides, expected = {
        "short val period": (observed[:10], ["ingest.split=[0.8,0.1,0.1]"], "leaves the val period 1"),
        "NaN": (np.where(np.arange(STEPS)[:, None] == 99, np.nan, observed), [], "NaN/Inf at time step 99"),
        "several trajectories as series": (observed.reshape(2, -1, 2), ["ingest.kind=series"],
                                           "holds a ode dataset, not series"),
    }[case]
    np.save(workdir / "bad.npy", array)
    before = tree(workdir)
    code = ingest(workdir, "source=bad.npy", f"ingest.dt={DT}", *overrides)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert tree(workdir) - {"data"} == before  # a NaN found while writing may leave the empty data folder
