"""Grid stores: the river basin generates discharge(time, lat, lon), split by periods, resumable."""

import numpy as np
import pytest
import torch

from dynlearn.data import GenerationSpec, WindowDataset, generate_store, validate
from dynlearn.data import _generate_grid as grid_module
from dynlearn.data._datasheet import datasheet_path
from dynlearn.data._store import chunk_generator
from dynlearn.systems import make_system

SPEC = GenerationSpec(n_train=14, n_val=3, n_test=3, n_steps=60, chunk_steps=20, transient_time=10.0, seed=3)


def _river():
    return make_system("river", ny=12, nx=10, river_threshold_km2=60.0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return generate_store(tmp_path_factory.mktemp("grids") / "river.zarr", _river(), SPEC, config_hash="r")


def test_grid_store_is_the_basin_simulated_chunk_by_chunk(store):
    """Spin-up, then each chunk from its own generator and the previous chunk's state."""
    ds = validate(store)
    river = _river()
    basin = river.basin(SPEC.seed)
    np.testing.assert_array_equal(ds["mask"].values, basin.mask.numpy())
    state = basin.initial_state(1, day_of_year=-10.0)  # the spin-up ends on 1 January
    _, state = basin.simulate(state, 10, chunk_generator(SPEC.seed, -1))
    assert state["day"].item() == 0.0
    expected = []
    for k in range(3):
        out, state = basin.simulate(state, 20, chunk_generator(SPEC.seed, k))
        expected.append(out["discharge"][0].numpy())
    discharge = ds["discharge"].values
    mask = ds["mask"].values
    np.testing.assert_array_equal(discharge[:, mask], np.concatenate(expected)[:, mask])
    assert np.isnan(discharge[:, ~mask]).all() and (discharge[:, mask] >= 0).all()
    assert ds["discharge"].attrs["units"] == "m3 s-1" and ds["precipitation"].attrs["units"] == "mm day-1"
    assert np.isfinite(ds["precipitation"].values).all()


def test_split_by_contiguous_periods_and_train_statistics(store):
    ds = validate(store)
    np.testing.assert_array_equal(ds["split"].values, np.repeat([0, 1, 2], [42, 9, 9]))
    assert np.all(np.diff(ds["time"].values) == np.timedelta64(1, "D"))
    river_train = ds["discharge"].values[:42][:, ds["mask"].values]
    np.testing.assert_allclose(ds.attrs["norm_mean"], [river_train.mean()], rtol=1e-12)
    np.testing.assert_allclose(ds.attrs["norm_std"], [river_train.std()], rtol=1e-12)


def test_windows_stay_inside_their_period(store):
    val = WindowDataset(store, "val", window=4, normalize=False, dtype=torch.float64)
    assert val.segments == [(-1, 42, 51)] and len(val) == 9 - 4 + 1
    ds = validate(store)
    item = val[5]
    # x with its one channel, u the forcing channels (sorted by name) at the same days, and where from
    np.testing.assert_array_equal(item["x"].numpy(), ds["discharge"].values[47:51, None])
    np.testing.assert_array_equal(item["u"].numpy(), np.stack(
        [ds["evapotranspiration"].values[47:51], ds["precipitation"].values[47:51]], axis=1))
    assert item["index"].tolist() == [-1, 47]
    flat = WindowDataset(store, "val", window=4, layout="vector", normalize=False, dtype=torch.float64)[5]
    np.testing.assert_array_equal(flat["x"].numpy(), ds["discharge"].values[47:51].reshape(4, -1))
    assert flat["u"].shape == (4, 2 * 12 * 10)
    with pytest.raises(ValueError, match="shorter window"):
        WindowDataset(store, "test", window=10)


def test_interrupted_grid_generation_resumes_bitwise(tmp_path, monkeypatch, store):
    real, calls = grid_module._save_state, {"n": 0}

    def fail_on_third(*args, **kwargs):  # spin-up, chunk 0, then the kill
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(grid_module, "_save_state", fail_on_third)
    path = tmp_path / "river.zarr"
    with pytest.raises(KeyboardInterrupt):
        generate_store(path, _river(), SPEC, config_hash="r")
    monkeypatch.setattr(grid_module, "_save_state", real)
    generate_store(path, _river(), SPEC, config_hash="r")
    for name in ("discharge", "precipitation", "evapotranspiration"):
        np.testing.assert_array_equal(validate(path)[name].values, validate(store)[name].values)


def test_grid_datasheet(store):
    text = datasheet_path(store).read_text()
    for needle in ("`discharge(time, lat, lon)`, shape (60, 12, 10)", "split by time: train 42, val 9, test 9",
                   "t = 2000-01-01 … 2000-02-29", "simulated days/s", "D8", "NaN off the river"):
        assert needle in text, needle


def test_forecast_windows_carry_the_training_mean_forcing_after_the_issue_step(store):
    """climatology_from=k: steps 0..k-1 observed, from k on each cell's training-period mean."""
    ds = validate(store)
    observed = WindowDataset(store, "val", window=4, normalize=False, dtype=torch.float64)
    forecast = WindowDataset(store, "val", window=4, normalize=False, dtype=torch.float64, climatology_from=2)
    mean = np.stack([ds[name].values[:42].mean(axis=0) for name in ("evapotranspiration", "precipitation")])
    batch, plain = forecast.batch(np.arange(len(forecast))), observed.batch(np.arange(len(observed)))
    np.testing.assert_array_equal(batch["x"].numpy(), plain["x"].numpy())
    np.testing.assert_array_equal(batch["u"][:, :2].numpy(), plain["u"][:, :2].numpy())
    np.testing.assert_allclose(batch["u"][:, 2:].numpy(), np.broadcast_to(mean, batch["u"][:, 2:].shape), rtol=1e-12)
    assert not np.allclose(plain["u"][:, 2:].numpy(), batch["u"][:, 2:].numpy())  # the weather differs from its mean
    with pytest.raises(ValueError, match="outside windows"):
        WindowDataset(store, "val", window=4, climatology_from=4)


def test_per_cell_normalization_standardizes_every_river_cell_by_its_own_training_days(store):
    from dynlearn.data import cell_normalizer

    ds = validate(store)
    normalizer = cell_normalizer(store)
    assert normalizer.per_cell
    train = WindowDataset(store, "train", window=42, dtype=torch.float64, normalizer=normalizer)
    (x,) = train.batch(np.array([0]))["x"]  # the whole training period, (42, 1, lat, lon)
    mask = ds["mask"].values
    river = x[:, 0][:, torch.from_numpy(mask)]
    np.testing.assert_allclose(river.mean(0).numpy(), 0.0, atol=1e-9)
    np.testing.assert_allclose(river.std(0, unbiased=False).numpy(), 1.0, rtol=1e-9)
    assert torch.isnan(x[:, 0][:, torch.from_numpy(~mask)]).all()  # off the river: NaN, as stored
    q = torch.from_numpy(ds["discharge"].values[:42])
    cell = tuple(np.argwhere(mask)[0])
    expected = (q[:, cell[0], cell[1]] - q[:, cell[0], cell[1]].mean()) / q[:, cell[0], cell[1]].std(unbiased=False)
    torch.testing.assert_close(x[:, 0, cell[0], cell[1]], expected, rtol=1e-9, atol=1e-12)
    # With or without the channel axis, and back to physical units exactly.
    torch.testing.assert_close(normalizer.normalize(q), x[:, 0], rtol=1e-12, atol=0, equal_nan=True)
    torch.testing.assert_close(normalizer.denormalize(x), q[:, None], rtol=1e-12, atol=1e-12, equal_nan=True)
    with pytest.raises(ValueError, match="do not fit"):
        normalizer.normalize(q[:, :5])
