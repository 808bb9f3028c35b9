"""The store: validation refuses partial and NaN stores; a killed generation resumes bit for bit."""

import signal
import time

import numpy as np
import pytest
import xarray as xr
import zarr

import dynlearn
from dynlearn.data import GenerationSpec, WindowDataset, generate_store, validate
from dynlearn.data._store import read_progress
from dynlearn.systems import make_system
from tests.helpers import popen_cli, run_cli

SPEC = GenerationSpec(n_train=3, n_val=1, n_test=2, n_floor=0, n_steps=900, chunk_steps=300, transient_time=2.0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "lorenz.zarr"
    return generate_store(path, make_system("lorenz63"), SPEC, config_hash="abc")


def test_store_follows_the_schema(store):
    ds = validate(store)
    assert ds["state"].dims == ("traj", "time", "dim")
    assert ds["state"].shape == (6, 900, 3)
    assert list(ds["split"].values) == [0, 0, 0, 1, 2, 2]
    np.testing.assert_allclose(np.diff(ds["time"].values), 0.01, rtol=1e-12)
    train = ds["state"].values[:3]
    np.testing.assert_allclose(ds.attrs["norm_mean"], train.mean(axis=(0, 1)), rtol=1e-12)
    np.testing.assert_allclose(ds.attrs["norm_std"], train.std(axis=(0, 1)), rtol=1e-12)
    assert ds.attrs["complete"] is True and ds.attrs["config_hash"] == "abc"
    assert "_resume_state" not in ds


def test_store_states_follow_the_dynamics(store):
    """Consecutive stored states are one RK4 step apart (chunk boundaries included)."""
    from dynlearn.solvers import make_step

    ds = validate(store)
    x = ds["state"].values
    step = make_step(make_system("lorenz63"), 0.01)
    import torch

    predicted = step(torch.from_numpy(x[:, :-1].reshape(-1, 3))).numpy().reshape(6, 899, 3)
    np.testing.assert_array_equal(predicted, x[:, 1:])


def test_windows_never_cross_trajectories(store):
    data = WindowDataset(store, "train", window=50, normalize=False, dtype=__import__("torch").float64)
    assert len(data) == 3 * (900 - 50 + 1)
    raw = validate(store)["state"].values
    for index in (0, 850, 851, len(data) - 1):
        traj, start = data.locate(index)
        np.testing.assert_array_equal(data[index]["x"].numpy(), raw[traj, start:start + 50])
        assert data[index]["index"].tolist() == [traj, start]
    batch = data.batch(np.array([0, 851, len(data) - 1]))
    np.testing.assert_array_equal(batch["x"].numpy()[1], raw[1, 0:50])
    assert batch["u"].shape == (3, 50, 0)  # an ODE store has no forcing: zero channels, same time axis
    assert batch["index"].tolist() == [[0, 0], [1, 0], [2, 850]]


def test_a_horizon_keeps_windows_in_the_first_steps_of_each_trajectory(store):
    data = WindowDataset(store, "train", window=50, normalize=False, dtype=__import__("torch").float64, horizon=120)
    assert len(data) == 3 * (120 - 50 + 1) and data.n_time == 120
    raw = validate(store)["state"].values
    last = data[len(data) - 1]
    assert last["index"].tolist() == [2, 70]  # the last window ends at step 119
    np.testing.assert_array_equal(last["x"].numpy(), raw[2, 70:120])


def test_normalized_windows_use_train_statistics(store):
    data = WindowDataset(store, "test", window=10)
    x = data.trajectory(0)["x"].double().numpy()
    raw = validate(store)["state"].values[4]
    ds = validate(store)
    expected = (raw - np.array(ds.attrs["norm_mean"])) / np.array(ds.attrs["norm_std"])
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-6)


def test_reused_when_config_matches_refused_when_not(store):
    before = (store / "zarr.json").stat().st_mtime_ns
    generate_store(store, make_system("lorenz63"), SPEC, config_hash="abc")
    assert (store / "zarr.json").stat().st_mtime_ns == before
    with pytest.raises(dynlearn.DataError, match="different config"):
        generate_store(store, make_system("lorenz63"), SPEC, config_hash="other")


def test_validate_refuses_partial_store_in_one_line(tmp_path):
    path = tmp_path / "partial.zarr"
    with pytest.raises(ZeroDivisionError):  # interrupt generation after the first chunk
        generate_store(path, _Exploding(make_system("lorenz63")), SPEC, config_hash="p")
    assert read_progress(path)["chunks_done"] >= 0
    with pytest.raises(dynlearn.DataError) as error:
        validate(path)
    message = str(error.value)
    assert "partial" in message and "resume" in message and "\n" not in message
    with pytest.raises(dynlearn.DataError, match="partial"):
        dynlearn.open_store(path)  # the read path refuses it too


def test_validate_refuses_nan(tmp_path, store):
    import shutil

    path = tmp_path / "nan.zarr"
    shutil.copytree(store, path)
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    group["state"][4, 10, 1] = np.nan
    with pytest.raises(dynlearn.DataError, match="NaN") as error:
        validate(path)
    assert "trajectory 4" in str(error.value)
    # open_store checks schema and completeness only: the value scan is validate's.
    assert np.isnan(dynlearn.open_store(path)["state"].values[4, 10, 1])


def test_killed_generate_resumes_bitwise(tmp_path):
    """SIGKILL `generate` mid-run, rerun the same command: arrays equal an uninterrupted run."""
    args = ["generate", "data.n_train=4", "data.n_val=1", "data.n_test=1", "data.n_floor=0", "data.n_steps=2000",
            "data.chunk_steps=100", "data.save_every=10", "data.transient_time=1.0", "threads=1"]
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    killed_dir.mkdir(), clean_dir.mkdir()
    process = popen_cli(args, killed_dir)
    store = killed_dir / "data" / "lorenz63.zarr"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if store.exists() and read_progress(store)["chunks_done"] >= 3:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    progress = read_progress(store)
    assert not progress["complete"] and 3 <= progress["chunks_done"] < 20, progress
    with pytest.raises(dynlearn.DataError, match="partial"):
        validate(store)
    assert run_cli(args, killed_dir).returncode == 0
    assert run_cli(args, clean_dir).returncode == 0
    resumed = xr.open_zarr(store, chunks=None)
    clean = xr.open_zarr(clean_dir / "data" / "lorenz63.zarr", chunks=None)
    np.testing.assert_array_equal(resumed["state"].values, clean["state"].values)
    assert {k: v for k, v in resumed.attrs.items() if k != "created"} == \
           {k: v for k, v in clean.attrs.items() if k != "created"}


class _Exploding:
    """A system whose stepping fails after the first chunk, like a job killed mid-run."""

    def __init__(self, system):
        self._system, self._steps = system, 0

    def __getattr__(self, name):
        return getattr(self._system, name)

    def rhs(self, t, x):
        self._steps += 1
        if self._steps > 4 * 400 + 4 * int(SPEC.transient_time / 0.01):
            raise ZeroDivisionError
        return self._system.rhs(t, x)


def test_a_blow_up_stops_generation_with_the_fix(tmp_path):
    """RK4 at dt = 0.5 leaves Lorenz's stability region: the first chunk is refused, nothing is finalized."""
    path = tmp_path / "blown.zarr"
    with pytest.raises(dynlearn.DataError, match="blew up.*lower system.dt"):
        generate_store(path, make_system("lorenz63"), SPEC, config_hash="b", dt=0.5)
    assert read_progress(path)["chunks_done"] == 0 and not read_progress(path)["complete"]
