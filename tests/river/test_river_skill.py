"""The river forecast protocol on cases with known answers: a persistence model scores exactly as the
persistence baseline, the climatology baseline and the flood F1 recomputed by hand, and forecasts
after the issue time see the training period's mean forcing unless a hindcast is asked for."""

import json

import numpy as np
import pandas as pd
import pytest

import dynlearn
from dynlearn.metrics import annual_maxima, flood_f1, kge_prime, nse, return_period_threshold
from tests.forecast.conftest import FAMILIES, FieldPersistence, families, make_run  # noqa: F401  (fixture)
from tests.helpers import REPO

# Eight years of an 8 x 8 basin: 70 % (5.6 years) of training for the flood thresholds.
RIVER = ["system=river", "data=river", "system.params.ny=8", "system.params.nx=8",
         "+system.params.river_threshold_km2=30.0", "data.n_steps=2920", "data.chunk_steps=730",
         "data.transient_time=30.0", "data.seed=2", "threads=1"]


@pytest.fixture(scope="module")
def river_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("river")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
        settings = dynlearn.load_settings([*RIVER, f"paths.data={root}/data"], check_model=False)
        return dynlearn.generate(settings)


def test_persistence_scores_as_the_baseline_and_the_baselines_are_the_hand_computed_ones(
        families, river_store, tmp_path, monkeypatch):  # noqa: F811
    # 1.1-year floods: this short test period (1.2 years) holds a few at every cell, 2-year ones none.
    monkeypatch.setattr(dynlearn._forecast_skill, "RETURN_PERIODS", (1.1, 2))
    run_dir = make_run(tmp_path / "run", "field_persistence", river_store)
    spec = dynlearn.EvalSpec(lead_steps=3, context=2)
    metrics = dynlearn.evaluate(dynlearn.load_run(run_dir), spec, tmp_path / "eval")
    assert metrics["future_forcing"] == "climatology" and metrics["context"] == 2

    ds = dynlearn.open_store(river_store)
    train, test = (np.flatnonzero(ds.split.values == k) for k in (0, 2))
    river = ds.mask.values.astype(bool)
    q = ds.discharge.values[:, river]                        # (days, cells)
    starts = test[1:len(test) - 3]                           # issue days with 2 days of context and 3 ahead
    assert metrics["n_cases"] == len(starts)
    thresholds = {t: return_period_threshold(annual_maxima(q[train], steps_per_year=365), period_years=t)
                  for t in (1.1, 2)}
    doy = pd.DatetimeIndex(ds.time.values).day_of_year.values - 1
    for lead in (1, 3):
        entry = metrics["by_lead"][lead - 1]
        today, then = q[starts], q[starts + lead]
        # The model holds today's discharge: every one of its scores is persistence's.
        for score in ("nse", "kge", "kge_prime", "f1_1.1y", "f1_2y"):
            assert entry[score] == pytest.approx(entry[f"{score}_persistence"], rel=1e-6, nan_ok=True), score
        assert entry["nse"] == pytest.approx(np.median(nse(today, then)), rel=1e-6)
        assert entry["kge_prime_persistence"] == pytest.approx(np.median(kge_prime(today, then)), rel=1e-9)
        f1 = flood_f1(today, then, thresholds[1.1])
        assert np.isfinite(f1).all() and 0 < entry["f1_1.1y_persistence"] < 1
        assert entry["f1_1.1y_persistence"] == pytest.approx(np.median(f1), rel=1e-9)
        # Climatology: the training days within 15 days of the day of the year (circular), averaged.
        expected = []
        for day in starts + lead:
            near = np.abs((doy[train] - doy[day] + 183) % 366 - 183) <= 15
            expected.append(q[train][near].mean(axis=0))
        assert entry["nse_climatology"] == pytest.approx(np.median(nse(np.array(expected), then)), rel=1e-9)
    per_cell = (tmp_path / "eval" / "skill_per_cell.csv").read_text().splitlines()
    assert len(per_cell) == 1 + 3 * 3 * river.sum()          # header + leads x forecasts x cells
    assert "KGE′ at lead 3 (median over cells)" in (tmp_path / "eval" / "metrics_table.md").read_text()


class Runoff(FieldPersistence):
    """Tomorrow's discharge = the first forcing channel (it shows which forcing a forecast saw)."""

    def step(self, state, u=None):
        return u[:, :1]


@pytest.mark.parametrize("future, per_cell", [("climatology", False), ("observed", False), ("observed", True)])
def test_forecasts_see_the_forcing_known_at_the_issue_time_unless_a_hindcast_is_asked(
        future, per_cell, river_store, tmp_path, monkeypatch):
    monkeypatch.setitem(dynlearn.models._registry.MODELS, "runoff", Runoff)
    monkeypatch.setitem(FAMILIES, "runoff", Runoff)
    normalizer = dynlearn.data.cell_normalizer(river_store) if per_cell else None  # trainer.normalization=cell
    run_dir = make_run(tmp_path / "run", "runoff", river_store, normalizer=normalizer)
    run = dynlearn.load_run(run_dir)
    assert run.normalizer == (normalizer or run.normalizer)  # through the run's metadata unchanged
    out = tmp_path / "eval"
    metrics = dynlearn.evaluate(run, dynlearn.EvalSpec(lead_steps=2, future_forcing=future), out)
    ds = dynlearn.open_store(river_store)
    train, test = (np.flatnonzero(ds.split.values == k) for k in (0, 2))
    river = ds.mask.values.astype(bool)
    name = dynlearn.data.forcing_variables(ds)[0]
    u = ds[name].values[:, river]
    drive = u[test[1:len(test) - 1]] if future == "observed" else np.repeat(u[train].mean(axis=0)[None],
                                                                              len(test) - 2, axis=0)
    # The forecast of lead 1 is the forcing it was given, denormalized as discharge (by each cell's statistics).
    mean, std = (np.asarray(run.normalizer.mean)[0][river], np.asarray(run.normalizer.std)[0][river]) if per_cell \
        else (run.normalizer.mean[0], run.normalizer.std[0])
    expected = np.median(nse(drive * std + mean, ds.discharge.values[test[1:len(test) - 1]][:, river]))
    assert metrics["by_lead"][0]["nse"] == pytest.approx(expected, rel=1e-6)
    hindcast = "(perfect future forcing)" in (out / "metrics_table.md").read_text()
    assert hindcast == (future == "observed")
    assert json.loads((out / "metrics.json").read_text())["future_forcing"] == future
