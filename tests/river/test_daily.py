"""The daily river loop: a feed that grows by one simulated day per run, and the daily forecast
with its skill history, checked on a persistence model whose scores are known exactly."""

import csv
import shutil

import numpy as np
import pytest
import torch
import zarr

import dynlearn
from dynlearn.atomic import atomic_torch_save
from dynlearn import DataError
from dynlearn.data import (
    advance_river_feed,
    append_observation_files,
    create_observation_store,
    feed_store_path,
    validate,
    write_glofas_netcdf,
)
from tests.helpers import REPO, TINY_RIVER



@pytest.fixture
def river(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    settings = dynlearn.load_settings(TINY_RIVER)
    return settings, dynlearn.generate(settings, progress=False)


def test_the_feed_appends_each_day_once_and_resumes_bitwise(river, tmp_path, monkeypatch):
    settings, store = river
    feed = advance_river_feed(store, settings.system, days=3)
    ds = validate(feed)
    days = ds["time"].values
    assert len(days) == 3 and (np.diff(days) == np.timedelta64(1, "D")).all()
    assert days[0] == validate(store)["time"].values[-1] + np.timedelta64(1, "D")  # the day after the series
    assert (ds["split"].values == 2).all() and np.isfinite(ds["discharge"].values[:, ds["mask"].values]).all()
    one_by_one = {name: ds[name].values.copy() for name in ("discharge", "precipitation")}

    # Again from scratch, one day per run, the second run killed after writing its day but before
    # counting it: the rerun writes that day again, and the feed equals the first one bit for bit.
    feed_dir = feed.parent
    shutil.rmtree(feed)
    advance_river_feed(store, settings.system)
    original = zarr.Group.attrs.fget

    class Killed(Exception):
        pass

    def dying_attrs(group):
        attrs = original(group)
        attrs.update = lambda *a, **k: (_ for _ in ()).throw(Killed())
        return attrs

    monkeypatch.setattr(zarr.Group, "attrs", property(dying_attrs))
    with pytest.raises(Killed):
        advance_river_feed(store, settings.system)
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert len(validate(feed)["time"]) == 1  # the half-written day is not published
    advance_river_feed(store, settings.system, days=2)
    again = validate(feed)
    for name, values in one_by_one.items():
        np.testing.assert_array_equal(again[name].values, values)
    assert sorted(p.name for p in feed_dir.iterdir() if p.name.startswith(".")) == []  # no lock left


def test_daily_forecasts_are_scored_exactly_for_persistence(river):
    settings, store = river
    run_dir = dynlearn.train(settings)
    # The ARX with a = 1, b = 0, e = 0 is persistence: every score equals persistence's.
    best = run_dir / "checkpoints" / "best.pt"
    state = torch.load(best, weights_only=True)
    atomic_torch_save({"a": torch.ones_like(state["a"]), "b": torch.zeros_like(state["b"]),
                       "e": torch.zeros_like(state["e"])}, best)
    for _ in range(4):
        feed = advance_river_feed(store, settings.system)
        result = dynlearn.river_daily(run_dir, feed, lead=3)
    dynlearn.river_daily(run_dir, feed, lead=3)  # a rerun on the same day replaces that day's rows

    obs = validate(feed)
    river_cells = obs["mask"].values
    q = obs["discharge"].values[:, river_cells]
    forecasts = zarr.open_group(result["forecast_store"], mode="r")
    assert forecasts["forecast"].shape == (4, 3, 8, 8)
    # (the model runs in float32: standardized, stepped, back in m³/s to 1e-6)
    np.testing.assert_allclose(forecasts["forecast"][3][:, river_cells], np.repeat(q[3][None], 3, axis=0), rtol=1e-6)
    with open(result["skill_history"]) as f:
        rows = list(csv.DictReader(f))
    # valid day 1: lead 1; day 2: leads 1-2; day 3: leads 1-3 — each (day, lead) once
    assert [(r["valid_date"][-2:], int(r["lead"])) for r in rows] == [
        (d, lead) for d, leads in zip([str(x)[8:10] for x in obs["time"].values[1:]], [1, 2, 3])
        for lead in range(1, leads + 1)]
    for r in rows:
        valid = list(obs["time"].values.astype("datetime64[D]").astype(str)).index(r["valid_date"])
        issue = valid - int(r["lead"])
        expected = np.sqrt(np.mean((q[issue] - q[valid]) ** 2))
        assert float(r["rmse"]) == pytest.approx(expected, rel=1e-5)
        assert float(r["rmse_persistence"]) == pytest.approx(expected, rel=1e-12)
        assert float(r["bias"]) == pytest.approx(np.mean(q[issue] - q[valid]), rel=1e-5, abs=1e-5)


def test_a_drop_folder_of_netcdf_files_feeds_the_same_store(river, tmp_path):
    settings, store = river
    synthetic = validate(advance_river_feed(store, settings.system, days=3))
    days = synthetic[["discharge", "precipitation", "evapotranspiration"]].load().drop_vars("split")
    days.attrs = {}  # a file from outside carries its own attrs, not a store's
    drop = tmp_path / "drop"
    first = write_glofas_netcdf(days.isel(time=slice(0, 2)), drop / "a.nc", packed=False)
    second = write_glofas_netcdf(days.isel(time=slice(2, 3)), drop / "b.nc", packed=False)
    later = write_glofas_netcdf(days.isel(time=slice(2, 3)).assign_coords(
        time=days["time"].values[2:] + np.timedelta64(2, "D")), drop / "c.nc", packed=False)
    shutil.rmtree(feed_store_path(store))

    observations = create_observation_store(store)
    assert append_observation_files(observations, [second, first]) == [first, second]  # by date
    assert append_observation_files(observations, [first]) == [first]  # dropped twice: nothing added
    fed = validate(observations)
    for name in ("discharge", "precipitation", "evapotranspiration"):
        np.testing.assert_array_equal(fed[name].values, synthetic[name].values)
    np.testing.assert_array_equal(fed["time"].values, synthetic["time"].values)
    with pytest.raises(DataError, match="c.nc starts at .*needs .* next; drop the missing days' files first"):
        append_observation_files(observations, [later])
    broken = days.isel(time=slice(2, 3)).copy(deep=True).assign_coords(time=days["time"].values[2:] + np.timedelta64(1, "D"))
    broken["discharge"].values[0][fed["mask"].values] = np.nan  # a gap in the record on the river
    with pytest.raises(DataError, match="non-finite discharge on a river cell"):
        append_observation_files(observations, [write_glofas_netcdf(broken, drop / "d.nc", packed=False)])
    assert len(validate(observations)["time"]) == 3
