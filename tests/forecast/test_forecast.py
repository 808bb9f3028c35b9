"""Batch forecasts against known answers: a perfect model, persistence of a constant series, a
river grid's persistence scored by hand; ensembles reproducible by seed."""

import dataclasses
import shutil

import numpy as np
import pytest
import zarr

import dynlearn
from dynlearn.data import open_forecast
from dynlearn.metrics import kge, nse
from tests.forecast.conftest import ingest_npy, make_run
from tests.helpers import REPO

LEAD, STRIDE = 40, 97


def test_the_true_flow_map_forecasts_perfectly_and_observed_is_the_store(lorenz_run, families, tmp_path):
    """The RK4 map the store was simulated with (dt 0.01) is a perfect forecast: RMSE ~ 0, ACC 1."""
    _, store = lorenz_run
    ds = dynlearn.open_store(store)
    mean, std = ds.attrs["norm_mean"], ds.attrs["norm_std"]
    run_dir = make_run(tmp_path / "run", "flow_map", store, options={"mean": mean, "std": std})
    spec = dynlearn.ForecastSpec(lead=LEAD, stride=STRIDE, chunk_inits=5, context=2, progress=False)
    out = open_forecast(dynlearn.forecast(run_dir, store, spec))

    test = np.flatnonzero(ds.split.values == 2)
    n_time = ds.sizes["time"]
    starts = np.arange(1, n_time, STRIDE)  # context 2: the first init is step 1
    np.testing.assert_array_equal(out.init_traj.values, np.repeat(test, len(starts)))
    np.testing.assert_array_equal(out.init_step.values, np.tile(starts, len(test)))
    np.testing.assert_array_equal(out.init_time.values, ds.time.values[out.init_step.values])
    np.testing.assert_allclose(out.lead.values, np.arange(1, LEAD + 1) * 0.01)
    assert out.forecast.shape == (len(out.init), 1, LEAD, 3) and "ensemble_mean" not in out and "crps" not in out

    states = ds.state.values
    for i in (0, len(out.init) - 1):  # the last init of a trajectory runs past its end: NaN there
        j, t0 = int(out.init_traj[i]), int(out.init_step[i])
        truth = np.full((LEAD, 3), np.nan)
        after = states[j, t0 + 1:t0 + 1 + LEAD]
        truth[:len(after)] = after
        np.testing.assert_array_equal(out.observed.values[i], truth)
    beyond = (out.init_step.values[:, None] + np.arange(1, LEAD + 1)[None, :]) >= n_time
    np.testing.assert_array_equal(out.n_verified.values, (~beyond).sum(axis=0))
    assert np.all(out.rmse.values < 1e-9), out.rmse.values  # round-off of the standardization only
    np.testing.assert_allclose(out.acc.values, 1.0, atol=1e-12)


def _constant_series(tmp_path, rng):
    """20 trajectories of 60 steps, each constant in time at its own random 2-D state."""
    states = np.repeat(rng.normal(size=(20, 1, 2)) * [3.0, 0.5] + [1.0, -2.0], 60, axis=1)
    return ingest_npy(tmp_path, "constant", states)


def test_persistence_of_a_constant_series_is_exact_and_ensembles_score_their_crps(families, tmp_path, rng):
    store = _constant_series(tmp_path, rng)
    run_dir = make_run(tmp_path / "run", "persistence", store)
    spec = dynlearn.ForecastSpec(lead=5, stride=7, chunk_inits=4, progress=False)
    out = open_forecast(dynlearn.forecast(run_dir, store, spec))
    # Zero error up to the round trip through the standardization, x = (x - m) / s * s + m.
    assert np.all(out.rmse.values < 1e-14) and np.allclose(out.acc.values, 1.0, rtol=0, atol=1e-14)

    spec = dynlearn.ForecastSpec(lead=5, stride=7, chunk_inits=4, members=6, perturbation=0.3, progress=False)
    ens = open_forecast(dynlearn.forecast(run_dir, store, spec))
    members, observed = ens.forecast.values, ens.observed.values  # (N, 6, 5, 2), (N, 5, 2)
    np.testing.assert_array_equal(ens.ensemble_mean.values, members.mean(axis=1))
    np.testing.assert_allclose(ens.ensemble_spread.values, members.std(axis=1, ddof=1), rtol=1e-12)
    assert np.all(ens.ensemble_spread.values > 0)
    # Persistence keeps each member's perturbed start, so every lead scores alike. CRPS by its
    # definition, E|X - y| - E|X - X'| / 2 over all pairs of members, element by element:
    valid = np.isfinite(observed)
    pairs = np.abs(members[:, :, None] - members[:, None, :]).mean(axis=(1, 2))
    crps = np.abs(members - observed[:, None]).mean(axis=1) - 0.5 * pairs
    expected = np.array([crps[:, lead][valid[:, lead]].mean() for lead in range(5)])
    np.testing.assert_allclose(ens.crps.values, expected, rtol=1e-12)
    rmse = np.sqrt(np.nanmean((members.mean(axis=1) - observed) ** 2, axis=(0, 2)))
    np.testing.assert_allclose(ens.rmse.values, rmse, rtol=1e-12)
    assert np.all(ens.rmse.values > 0) and np.all(ens.crps.values < ens.rmse.values)


def test_ensembles_are_reproducible_by_seed(families, tmp_path, rng):
    store = _constant_series(tmp_path, rng)
    first = make_run(tmp_path / "a", "persistence", store)
    spec = dynlearn.ForecastSpec(lead=3, stride=5, chunk_inits=3, members=4, perturbation=0.1, seed=7,
                                 progress=False)
    path = dynlearn.forecast(first, store, spec)
    shutil.copytree(first / "checkpoints", tmp_path / "b" / "checkpoints")  # the same run, another folder
    shutil.copy(first / "config.yaml", tmp_path / "b")
    again = dynlearn.forecast(tmp_path / "b", store, spec)
    other = dynlearn.forecast(tmp_path / "b", store, dataclasses.replace(spec, seed=8))
    a, b, c = (zarr.open_group(str(p), mode="r")["forecast"][...] for p in (path, again, other))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c) and np.isfinite(c).all()
    assert again.parent.name == path.parent.name != other.parent.name  # the folder names the settings


RIVER = ["system=river", "data=river", "system.params.ny=8", "system.params.nx=8",
         "+system.params.river_threshold_km2=30.0", "data.n_steps=300", "data.chunk_steps=100",
         "data.transient_time=30.0", "data.seed=1", "threads=1"]


def test_river_persistence_scores_nse_and_kge_by_lead(families, tmp_path, monkeypatch):
    """A field family on a driven grid: forcing passed, NaN off the river, NSE/KGE by hand."""
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    settings = dynlearn.load_settings([*RIVER, f"paths.data={tmp_path}/data"], check_model=False)
    store = dynlearn.generate(settings)
    run_dir = make_run(tmp_path / "run", "field_persistence", store, dtype="float32")
    spec = dynlearn.ForecastSpec(lead=3, stride=1, chunk_inits=16, progress=False)
    out = open_forecast(dynlearn.forecast(run_dir, store, spec))

    ds = dynlearn.open_store(store)
    test = np.flatnonzero(ds.split.values == 2)
    river = ds.mask.values
    q = ds.discharge.values[test]  # (days, lat, lon) in m3/s
    starts = len(test) - 3  # a driven forecast needs its forcing over every lead
    assert len(out.init) == starts and (out.init_traj.values == -1).all()
    np.testing.assert_array_equal(out.init_time.values, ds.time.values[test[:starts]])
    assert out.lead.attrs["lead_time_units"] == "days" and list(out.lead.values) == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(out.mask.values, river)
    assert np.isnan(out.forecast.values[..., ~river]).all() and np.isfinite(out.forecast.values[..., river]).all()
    for lead in (1, 3):
        today, then = q[:starts][:, river], q[lead:starts + lead][:, river]  # float32 round trip of today
        sim = out.forecast.values[:, 0, lead - 1][:, river]
        np.testing.assert_allclose(sim, today, rtol=1e-6)
        assert out.nse.values[lead - 1] == pytest.approx(np.median(nse(sim, then)), rel=1e-12)
        assert out.kge.values[lead - 1] == pytest.approx(np.median(kge(sim, then)), rel=1e-12)
        assert out.nse.values[lead - 1] == pytest.approx(np.median(nse(today, then)), rel=1e-5)
