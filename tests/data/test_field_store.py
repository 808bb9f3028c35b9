"""Field stores: KS generates u(traj, time, x) with ETDRK4, resumes bit for bit, gets a datasheet."""

import numpy as np
import pytest
import torch

import dynlearn.data._generate as generate_module
from dynlearn.data import GenerationSpec, WindowDataset, generate_store, validate
from dynlearn.data._datasheet import datasheet_path
from dynlearn.solvers import make_etdrk4_step
from dynlearn.systems import make_system

SPEC = GenerationSpec(n_train=2, n_val=1, n_test=1, n_floor=0, n_steps=60, chunk_steps=20, save_every=2,
                      transient_time=5.0)


def _ks():
    return make_system("ks", L=22.0, N=64, transient_time=50.0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("fields") / "ks.zarr"
    return generate_store(path, _ks(), SPEC, config_hash="ks")


def test_ks_store_layout_and_grid(store):
    ds = validate(store)
    assert ds.attrs["kind"] == "field1d" and ds.attrs["solver"] == "etdrk4"
    assert ds["u"].dims == ("traj", "time", "x") and ds["u"].shape == (4, 60, 64)
    np.testing.assert_allclose(ds["x"].values, np.arange(64) * 22.0 / 64, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.diff(ds["time"].values), 0.5, rtol=1e-12)
    assert ds.attrs["dt"] == 0.5 and ds.attrs["dt_simulated"] == 0.25
    train = ds["u"].values[:2]  # a field is one quantity: one mean and std over everything
    np.testing.assert_allclose(ds.attrs["norm_mean"], [train.mean()], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ds.attrs["norm_std"], [train.std()], rtol=1e-12)


def test_stored_fields_are_two_etdrk4_steps_apart(store):
    """Across chunk boundaries too: the store is the ETDRK4 map iterated, nothing else."""
    u = validate(store)["u"].values
    step = make_etdrk4_step(_ks(), 0.25)
    predicted = step(step(torch.from_numpy(u[:, :-1].reshape(-1, 64)))).numpy().reshape(4, 59, 64)
    np.testing.assert_allclose(predicted, u[:, 1:], rtol=0, atol=1e-13)  # Fourier-space rollout: rounding only
    assert abs(u[:, :, :].mean(axis=-1)).max() < 1e-12  # KS conserves the (zero) spatial mean


def test_field_windows_are_time_first(store):
    data = WindowDataset(store, "train", window=7, normalize=False, dtype=torch.float64)
    assert len(data) == 2 * (60 - 7 + 1)
    u = validate(store)["u"].values
    np.testing.assert_array_equal(data[(60 - 7 + 1) + 3]["x"].numpy(), u[1, 3:10, None])  # (time, channel, x)
    flat = WindowDataset(store, "train", window=7, layout="vector", normalize=False, dtype=torch.float64)
    np.testing.assert_array_equal(flat[(60 - 7 + 1) + 3]["x"].numpy(), u[1, 3:10])


def test_datasheet_is_written_from_the_config(store):
    text = datasheet_path(store).read_text()
    assert datasheet_path(store) == store.parent / "ks" / "README.md"
    for needle in ("u_t = −u u_x − u_xx − u_xxxx", "| L | 22.0 |", "solver: etdrk4", "dt simulated: 0.25",
                   "dt stored: 0.5", "`u(traj, time, x)`, shape (4, 60, 64)", "x: 64 points", "stiff",
                   "train 2, val 1, test 1", "trajectory-steps/s"):
        assert needle in text, needle


def test_interrupted_field_generation_resumes_bitwise(tmp_path, monkeypatch, store):
    real = generate_module._simulate_chunk
    calls = {"n": 0}

    def failing_second_chunk(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # like a user's Ctrl-C between chunks
        return real(*args)

    monkeypatch.setattr(generate_module, "_simulate_chunk", failing_second_chunk)
    path = tmp_path / "ks.zarr"
    with pytest.raises(KeyboardInterrupt):
        generate_store(path, _ks(), SPEC, config_hash="ks")
    monkeypatch.setattr(generate_module, "_simulate_chunk", real)
    generate_store(path, _ks(), SPEC, config_hash="ks")
    np.testing.assert_array_equal(validate(path)["u"].values, validate(store)["u"].values)
    assert "not measured" in datasheet_path(path).read_text()  # a resumed run has no cost figure


def test_navier_stokes_store_is_the_imex_map_on_a_yx_grid(tmp_path):
    """vorticity(traj, time, y, x): stored fields are three IMEX steps apart, grids as coordinates."""
    from dynlearn.solvers import make_imex_cn_heun_step

    ns = make_system("navier_stokes_2d", n=16, nu=1e-2, alpha=0.1, forcing="kolmogorov",
                     initial_condition="low_modes", dt=0.01)
    spec = GenerationSpec(n_train=2, n_val=1, n_test=1, n_floor=0, n_steps=12, chunk_steps=5, save_every=3,
                          transient_time=0.1)
    ds = validate(generate_store(tmp_path / "ns.zarr", ns, spec, config_hash="ns"))
    assert ds.attrs["kind"] == "field2d" and ds.attrs["solver"] == "imex_cn_heun"
    assert ds["vorticity"].dims == ("traj", "time", "y", "x") and ds["vorticity"].shape == (4, 12, 16, 16)
    np.testing.assert_allclose(ds["x"].values, np.arange(16) * 2 * np.pi / 16, rtol=1e-15)
    np.testing.assert_allclose(ds["y"].values, ds["x"].values, rtol=0)
    w = ds["vorticity"].values
    step = make_imex_cn_heun_step(ns, 0.01)
    predicted = step(step(step(torch.from_numpy(w[:, :-1].reshape(-1, 16, 16))))).numpy()
    np.testing.assert_allclose(predicted.reshape(4, 11, 16, 16), w[:, 1:], rtol=0, atol=1e-13)
    window = WindowDataset(tmp_path / "ns.zarr", "train", window=3, normalize=False, dtype=torch.float64)
    np.testing.assert_array_equal(window[0]["x"].numpy(), w[0, :3, None])  # (time, channel, y, x)


def test_observation_noise_is_scaled_seeded_and_leaves_the_dynamics_clean(tmp_path, store):
    """Noisy store − clean store = noise of std 5 % of the first chunk's std; the same on a rerun."""
    from dataclasses import replace

    noisy_spec = replace(SPEC, observation_noise=0.05)
    noisy = validate(generate_store(tmp_path / "noisy.zarr", _ks(), noisy_spec, config_hash="n"))
    clean = validate(store)
    noise = noisy["u"].values - clean["u"].values  # the dynamics underneath are the same orbit
    scale = clean["u"].values[:, :20].std()  # first chunk, all trajectories: one std for a field
    assert noisy.attrs["noise_scale"] == pytest.approx([scale], rel=1e-12)
    assert clean.attrs["noise_scale"] is None
    standardized = noise / (0.05 * scale)
    n = standardized.size
    assert abs(standardized.mean()) < 4 / np.sqrt(n)
    assert abs(standardized.std() - 1) < 4 / np.sqrt(2 * n)
    # Chunks draw from independent streams: no correlation between neighbouring chunks' noise.
    a, b = standardized[:, :20].ravel(), standardized[:, 20:40].ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(a.size)
    again = validate(generate_store(tmp_path / "again.zarr", _ks(), noisy_spec, config_hash="n"))
    np.testing.assert_array_equal(again["u"].values, noisy["u"].values)


def test_noisy_generation_resumes_bitwise(tmp_path, monkeypatch):
    from dataclasses import replace

    spec = replace(SPEC, observation_noise=0.1)
    clean_run = validate(generate_store(tmp_path / "whole.zarr", _ks(), spec, config_hash="n"))
    real, calls = generate_module._simulate_chunk, {"n": 0}

    def failing_second_chunk(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(generate_module, "_simulate_chunk", failing_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        generate_store(tmp_path / "cut.zarr", _ks(), spec, config_hash="n")
    monkeypatch.setattr(generate_module, "_simulate_chunk", real)
    resumed = validate(generate_store(tmp_path / "cut.zarr", _ks(), spec, config_hash="n"))
    np.testing.assert_array_equal(resumed["u"].values, clean_run["u"].values)
    assert resumed.attrs["noise_scale"] == clean_run.attrs["noise_scale"]
