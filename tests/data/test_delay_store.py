"""Delay-embedded stores: each period or trajectory embedded on its own (values by `delay_embed`),
the split and train statistics recomputed, reuse and refusals; `auto` on a sine gives the known
(2, quarter period)."""

import os

import numpy as np
import pytest

from dynlearn._errors import DataError
from dynlearn.data import IngestSpec, delay_embed, embed_store, ingest, split_indices, validate
from dynlearn.data._delay_store import choose_store_embedding

DT = 0.05


def _series_store(tmp_path, values, name="obs", split=(0.6, 0.2, 0.2)):
    np.save(tmp_path / f"{name}.npy", values)
    return ingest(tmp_path / f"{name}.npy", tmp_path / "data" / f"{name}.zarr", IngestSpec(dt=DT, split=split))


@pytest.fixture
def series(rng):
    """(300, 2): a random walk, so every delay vector is distinct and traceable."""
    return np.cumsum(rng.normal(size=(300, 2)), axis=0)


def test_series_periods_are_embedded_apart(tmp_path, series):
    source = _series_store(tmp_path, series)
    m, tau = 3, 4
    path = embed_store(source, (m, tau))
    assert path == tmp_path / "data" / "obs-delay3x4.zarr"
    ds, raw = validate(path), validate(source)
    lag = (m - 1) * tau
    expected, times, labels = [], [], []
    for label, (first, stop) in enumerate([(0, 180), (180, 240), (240, 300)]):  # the 60/20/20 periods
        assert list(split_indices(raw, ("train", "val", "test")[label])[[0, -1]]) == [first, stop - 1]
        expected.append(delay_embed(series[first:stop], m, tau))  # no vector crosses a period boundary
        times.append(raw["time"].values[first + lag:stop])  # a vector's time: its newest sample's
        labels += [label] * (stop - first - lag)
    np.testing.assert_array_equal(ds["state"].values, np.concatenate(expected))
    np.testing.assert_array_equal(ds["time"].values, np.concatenate(times))
    assert list(ds["split"].values) == labels
    train = np.concatenate(expected)[np.asarray(labels) == 0]
    np.testing.assert_allclose(ds.attrs["norm_mean"], train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ds.attrs["norm_std"], train.std(axis=0), rtol=1e-12)
    assert ds.attrs["state_names"] == ["x0(t-8)", "x1(t-8)", "x0(t-4)", "x1(t-4)", "x0", "x1"]
    assert ds.attrs["kind"] == "series" and ds.attrs["dt"] == DT
    assert ds.attrs["delay_embedding"] == {"m": m, "tau": tau, "source_store": str(source.resolve()),
                                           "source_hash": raw.attrs["config_hash"]}


def test_ensembles_are_embedded_per_trajectory(tmp_path, rng):
    states = rng.normal(size=(5, 50, 3))  # (traj, time, dim) -> an ode store split by trajectory
    np.save(tmp_path / "ens.npy", states)
    source = ingest(tmp_path / "ens.npy", tmp_path / "ens.zarr", IngestSpec(dt=DT))
    ds = validate(embed_store(source, (2, 7)))
    assert ds["state"].dims == ("traj", "time", "dim") and ds["state"].shape == (5, 43, 6)
    for j in range(5):
        np.testing.assert_array_equal(ds["state"].values[j], delay_embed(states[j], 2, 7))
    np.testing.assert_array_equal(ds["split"].values, validate(source)["split"].values)
    np.testing.assert_allclose(ds["time"].values, np.arange(7, 50) * DT)


def test_reused_while_the_source_is_the_same_and_refused_after_it_changed(tmp_path, series):
    source = _series_store(tmp_path, series)
    path = embed_store(source, (2, 3))
    stamp = os.stat(path / "zarr.json").st_mtime_ns
    assert embed_store(source, (2, 3)) == path and os.stat(path / "zarr.json").st_mtime_ns == stamp
    os.utime(tmp_path / "obs.npy", ns=(1, 1))  # the source file changed: ingest makes another store
    import shutil

    shutil.rmtree(source)
    _series_store(tmp_path, series)
    with pytest.raises(DataError, match="was not embedded from the current obs.zarr; delete it"):
        embed_store(source, (2, 3))


def test_refusals_write_nothing(tmp_path, series):
    source = _series_store(tmp_path, series)
    before = sorted(p.name for p in (tmp_path / "data").iterdir())
    with pytest.raises(DataError, match=r"needs more than \(m-1\)·tau = 60 steps per piece but the val period "
                                        r"from step 180 has 60"):
        embed_store(source, (3, 30))

    def refuse(embedded):
        raise DataError("too short to evaluate")

    with pytest.raises(DataError, match="too short to evaluate"):
        embed_store(source, (2, 3), check=refuse)
    np.save(tmp_path / "field.npy", np.zeros((3, 20, 8)))
    field = ingest(tmp_path / "field.npy", tmp_path / "data" / "field.zarr", IngestSpec(dt=DT, kind="field1d"))
    with pytest.raises(DataError, match="field1d store: set data.delay_embedding=null"):
        embed_store(field, (2, 3))
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted([*before, "field.zarr"])


def test_auto_on_a_sine_is_two_delays_a_quarter_period_apart(tmp_path, rng):
    period = 10 * np.sqrt(17)  # ~41.2 steps: no sample repeats exactly (see test_delay.py)
    source = _series_store(tmp_path, np.sin(2 * np.pi * np.arange(4000) / period)[:, None])
    assert choose_store_embedding(validate(source)) == (2, round(period / 4))
    path = embed_store(source, "auto")
    assert path.name == f"obs-delay2x{round(period / 4)}.zarr" and validate(path).sizes["dim"] == 2
    with pytest.raises(DataError, match=r"auto found no embedding \(.*\); give one as data.delay_embedding=\[m,tau\]"):
        choose_store_embedding(validate(_series_store(tmp_path, rng.normal(size=(500, 1)), "noise")))
