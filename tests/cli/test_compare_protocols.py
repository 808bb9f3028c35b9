"""`compare` and seed summaries of the field and forecast-skill protocols: their headline figures,
medians and MADs computed by hand, and refusal across protocols, forcings and leads."""

import csv

import pytest

from dynlearn import compare_runs
from dynlearn._compare import by_family, latest_metrics
from dynlearn._headlines import skill_figures
from dynlearn._seeds import SeedRun, _describe, summarize_seeds, write_seed_summary
from dynlearn.cli import main
from tests.cli.test_compare import make_run, metrics
from tests.helpers import tree

FIELD_DATA = {"store": "/data/ns.zarr", "store_hash": "0123456789abcdef", "cases": [[0, 0], [1, 0]],
              "n_steps": 3, "context": 10}
SKILL_DATA = {"store": "/data/river.zarr", "store_hash": "fedcba9876543210", "first_start": 10, "n_cases": 40}


def field_metrics(rel_l2, by_lead, *, correlation_time=1.0, n_failed=0, version=1, **changes):
    """A field-protocol metrics.json as `_evaluate_field` writes it, persistence's errors fixed."""
    return {"protocol": "field_forecast", "protocol_version": version, "test_data": {**FIELD_DATA, **changes},
            "n_cases": 2, "n_steps": len(by_lead), "dt": 0.1, "n_failed": n_failed,
            "rel_l2": rel_l2, "rel_l2_by_lead": by_lead, "spectrum_error": 0.1, "correlation_time": correlation_time,
            "correlation_censored": 1,
            "persistence": {"rel_l2": 0.9, "rel_l2_by_lead": [0.5, 0.9, 1.2], "spectrum_error": 0.02,
                            "correlation_time": 0.3, "correlation_censored": 0},
            "per_case": []}


def skill_metrics(nse1, *, leads=7, future_forcing="climatology", version=2):
    """A forecast-skill metrics.json: the model's NSE falls by 0.1 a lead from `nse1` (KGE = NSE + 0.05,
    KGE′ = NSE + 0.02), persistence's from 0.9 by 0.2 a lead, climatology's stays 0.3."""
    by_lead = []
    for k in range(1, leads + 1):
        nse = nse1 - 0.1 * (k - 1)
        entry = {"lead": k, "nse": nse, "kge": nse + 0.05, "kge_prime": nse + 0.02, "f1_2y": 0.5, "f1_5y": None,
                 "rmse": 1.0}
        for name, value in (("persistence", 0.9 - 0.2 * (k - 1)), ("climatology", 0.3)):
            entry.update({f"nse_{name}": value, f"kge_{name}": value, f"kge_prime_{name}": value,
                          f"f1_2y_{name}": 0.1, f"f1_5y_{name}": None})
        by_lead.append(entry)
    return {"protocol": "forecast_skill", "protocol_version": version, "test_data": SKILL_DATA,
            "n_cases": 40, "n_cells": 12, "lead_steps": leads, "context": 10, "future_forcing": future_forcing,
            "return_periods_years": [2, 5], "dt": 1.0, "units": "m3/s", "finite": True, "by_lead": by_lead}


# rel. L2 0.2, 0.5, 0.3: median 0.3, |deviations| 0.1, 0.2, 0 -> MAD 0.1.
FIELD_SEEDS = [(0.2, [0.01, 0.1, 0.4], 1.0, 0), (0.5, [0.04, 0.3, 0.9], None, 2), (0.3, [0.02, 0.2, 0.5], 3.0, 0)]


@pytest.fixture
def field_seeds(tmp_path):
    runs = [make_run(tmp_path / f"runs/ns/2026-12-06_0{seed}",
                     field_metrics(rel, leads, correlation_time=corr, n_failed=failed), seed=seed, model="fno")
            for seed, (rel, leads, corr, failed) in enumerate(FIELD_SEEDS)]
    runs.append(make_run(tmp_path / "runs/ns/2026-12-06_03", None, seed=3, state="diverged", model="fno"))
    return runs


def test_field_seed_summary_is_median_and_mad_of_the_field_figures(field_seeds):
    rows = {row["metric"]: row for row in summarize_seeds(field_seeds)}
    assert list(rows) == ["rel_l2", "rel_l2_lead1", "rel_l2_last", "persistence_rel_l2", "spectrum_error",
                          "correlation_time", "n_failed"]
    assert rows["rel_l2"]["n"] == 3  # the diverged seed has no metrics
    assert rows["rel_l2"]["median"] == pytest.approx(0.3) and rows["rel_l2"]["mad"] == pytest.approx(0.1)
    # lead 1: 0.01, 0.04, 0.02 -> median 0.02, MAD median(0.01, 0.02, 0) = 0.01
    assert rows["rel_l2_lead1"]["median"] == pytest.approx(0.02) and rows["rel_l2_lead1"]["mad"] == pytest.approx(0.01)
    # last lead: 0.4, 0.9, 0.5 -> median 0.5, MAD median(0.1, 0.4, 0) = 0.1
    assert rows["rel_l2_last"]["median"] == pytest.approx(0.5) and rows["rel_l2_last"]["mad"] == pytest.approx(0.1)
    assert (rows["rel_l2_last"]["min"], rows["rel_l2_last"]["max"]) == (0.4, 0.9)
    assert rows["persistence_rel_l2"]["median"] == 0.9 and rows["persistence_rel_l2"]["mad"] == 0
    # a null correlation time (every case failed) is left out: 1 and 3 -> median 2, MAD 1
    corr = rows["correlation_time"]
    assert (corr["n"], corr["median"], corr["mad"]) == (2, 2.0, 1.0)
    assert (rows["n_failed"]["median"], rows["n_failed"]["max"]) == (0, 2)


def test_field_summary_files_have_the_field_columns(field_seeds, tmp_path):
    out = tmp_path / "runs/ns/seeds-abc"
    runs = [SeedRun(seed, run, "complete") for seed, run in enumerate(field_seeds)]
    text = write_seed_summary(runs, out, title="ns: 4 seeds")
    assert "3 of 4 seeds complete" in text
    assert "| metric | median ± MAD (min–max) | n |" in text
    assert "| rel. L2 | 0.3 ± 0.1 (0.2–0.5) | 3 |" in text
    assert "| rel. L2 last lead | 0.5 ± 0.1 (0.4–0.9) | 3 |" in text
    assert "| correlation time | 2 ± 1 (1–3) | 2 |" in text
    assert "| seed | state | rel. L2 | rel. L2 lead 1 | rel. L2 last lead | persistence rel. L2 |" in text
    assert "D_stsp" not in text and "| 3 | diverged |" in text
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert list(rows[0])[:4] == ["seed", "state", "rel_l2", "rel_l2_lead1"]
    assert [r["rel_l2"] for r in rows[:4]] == ["0.2", "0.5", "0.3", ""]
    assert rows[4]["seed"] == "median" and float(rows[4]["rel_l2_last"]) == pytest.approx(0.5)
    assert rows[5]["seed"] == "mad" and float(rows[5]["rel_l2_lead1"]) == pytest.approx(0.01)
    assert _describe(SeedRun(0, field_seeds[0], "complete", seconds=12.0)) == \
        f"{field_seeds[0]} rel. L2 0.2 persistence rel. L2 0.9 correlation time 1 failed 0 12 s"


def test_skill_figures_at_leads_1_3_and_the_last():
    figures = skill_figures(skill_metrics(0.8))
    assert figures["last_lead"] == 7 and figures["future_forcing"] == "climatology"
    assert figures["nse_lead1"] == 0.8 and figures["kge_lead1"] == pytest.approx(0.85)
    assert figures["kge_prime_lead3"] == pytest.approx(0.8 - 0.2 + 0.02)
    assert figures["nse_last"] == pytest.approx(0.8 - 0.6) and figures["nse_persistence_last"] == pytest.approx(-0.3)
    assert figures["nse_climatology_lead3"] == 0.3
    short = skill_figures(skill_metrics(0.8, leads=2))  # no lead 3: None there, the last is lead 2
    assert short["last_lead"] == 2 and short["nse_lead3"] is None and short["kge_lead3"] is None
    assert short["nse_last"] == pytest.approx(0.7) and short["nse_persistence_last"] == pytest.approx(0.7)


def test_skill_seed_summary(tmp_path):
    runs = [make_run(tmp_path / f"runs/river/s{seed}", skill_metrics(nse1), seed=seed, model="convs5")
            for seed, nse1 in enumerate([0.8, 0.6, 0.9])]
    rows = {row["metric"]: row for row in summarize_seeds(runs)}
    # NSE at lead 1: 0.8, 0.6, 0.9 -> median 0.8, MAD median(0, 0.2, 0.1) = 0.1; at lead k: minus 0.1 (k - 1)
    for key, shift in (("nse_lead1", 0.0), ("nse_lead3", 0.2), ("nse_last", 0.6), ("kge_last", 0.55)):
        assert rows[key]["median"] == pytest.approx(0.8 - shift) and rows[key]["mad"] == pytest.approx(0.1), key
    assert rows["nse_persistence_lead3"]["median"] == pytest.approx(0.5) and rows["nse_persistence_lead3"]["mad"] == 0
    assert rows["nse_climatology_last"]["median"] == 0.3 and rows["nse_climatology_last"]["n"] == 3
    assert "future_forcing" not in rows  # a label, not a number


def test_compare_field_runs_and_their_family_medians(workdir, capsys):
    for seed, (rel, leads, corr, failed) in enumerate(FIELD_SEEDS):
        make_run(workdir / f"runs/ns/fno{seed}", field_metrics(rel, leads, correlation_time=corr, n_failed=failed),
                 seed=seed, model="fno", seconds=100.0 * (seed + 1))
    make_run(workdir / "runs/ns/convs5", field_metrics(0.7, [0.1, 0.5, 1.1]), model="convs5", seconds=40.0)
    rows = compare_runs(["runs/ns"])
    assert [r["model"] for r in rows] == ["convs5", "fno", "fno", "fno"]
    assert (rows[0]["rel_l2"], rows[0]["rel_l2_lead1"], rows[0]["rel_l2_last"], rows[0]["last_lead"]) == (0.7, 0.1, 1.1, 3)
    assert rows[0]["persistence_rel_l2"] == 0.9 and rows[0]["correlation_censored"] == 1
    convs5, fno = by_family(rows)
    assert (convs5["runs"], convs5["rel_l2"], convs5["train_seconds"]) == (1, 0.7, 40.0)
    assert fno["runs"] == 3 and fno["rel_l2"] == 0.3 and fno["rel_l2_lead1"] == 0.02 and fno["rel_l2_last"] == 0.5
    assert fno["correlation_time"] == 2.0 and fno["n_failed"] == 0 and fno["train_seconds"] == 200.0
    assert main(["compare", "runs=runs/ns"]) == 0
    out = capsys.readouterr().out
    assert "| run | evaluation | model | seed | rel. L2 | rel. L2 lead 1 | rel. L2 last lead | last lead |" in out
    assert ("| model | runs | rel. L2 | rel. L2 lead 1 | rel. L2 last lead | persistence rel. L2 | spectrum error "
            "| correlation time | failed | training [s] |") in out
    assert "| fno | 3 | 0.3 | 0.02 | 0.5 | 0.9 | 0.1 | 2 | 0 | 200 |" in out
    assert "D_stsp" not in out and "persistence: the last frame read" in out
    written = next((workdir / "runs/compare").glob("*.csv"))
    table = list(csv.DictReader(written.open()))
    assert [(r["model"], r["rel_l2"], r["n_failed"]) for r in table] == [
        ("convs5", "0.7", "0"), ("fno", "0.2", "0"), ("fno", "0.5", "2"), ("fno", "0.3", "0")]


def test_compare_skill_runs_and_their_family_medians(workdir, capsys):
    for seed, nse1 in enumerate([0.8, 0.6, 0.9]):
        make_run(workdir / f"runs/river/convs5_{seed}", skill_metrics(nse1), seed=seed, model="convs5")
    make_run(workdir / "runs/river/arx", skill_metrics(0.5), model="arx")
    rows = compare_runs(["runs/river"])
    assert rows[0]["model"] == "arx" and rows[0]["future_forcing"] == "climatology" and rows[0]["last_lead"] == 7
    assert rows[0]["nse_lead3"] == pytest.approx(0.3) and rows[0]["nse_persistence_lead1"] == 0.9
    arx, convs5 = by_family(rows)
    assert convs5["runs"] == 3 and convs5["nse_lead1"] == 0.8
    assert convs5["kge_prime_last"] == pytest.approx(0.8 - 0.6 + 0.02) and convs5["nse_climatology_lead3"] == 0.3
    assert arx["kge_lead1"] == pytest.approx(0.55)
    assert main(["compare", "runs=runs/river"]) == 0
    out = capsys.readouterr().out
    assert "| future forcing | last lead | NSE lead 1 | KGE lead 1 | KGE′ lead 1 | persistence NSE lead 1 |" in out
    assert "| convs5 | 3 | 0.8 | 0.85 | 0.82 | 0.9 | 0.3 | 0.6 |" in out
    assert "medians over river cells" in out


@pytest.mark.parametrize("a, b, words", [
    (metrics(0.2), field_metrics(0.3, [0.1, 0.2, 0.3]), "protocol attractor vs field_forecast"),
    (field_metrics(0.3, [0.1, 0.2, 0.3]), skill_metrics(0.8), "protocol field_forecast vs forecast_skill"),
    (metrics(0.2), skill_metrics(0.8), "protocol attractor vs forecast_skill"),  # both protocol_version 2
    (field_metrics(0.3, [0.1, 0.2, 0.3]), field_metrics(0.3, [0.1, 0.2], n_steps=2), "test_data.n_steps 3 vs 2"),
    (skill_metrics(0.8), skill_metrics(0.8, future_forcing="observed"),
     'future_forcing "climatology" vs "observed"'),
    (skill_metrics(0.8), skill_metrics(0.8, leads=5), "lead_steps 7 vs 5"),
])
def test_runs_of_other_protocols_or_forcings_are_refused_in_one_line(workdir, capsys, a, b, words):
    make_run(workdir / "runs/mix/a", a)
    make_run(workdir / "runs/mix/b", b, seed=1)
    before = tree(workdir)
    assert main(["compare", "runs=runs/mix"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert "runs/mix/a" in err and "runs/mix/b" in err
    assert tree(workdir) == before


def test_an_older_field_protocol_is_passed_over_or_refused(workdir, capsys):
    current = field_metrics(0.3, [0.1, 0.2, 0.3])
    run = make_run(workdir / "runs/ns/a", current, evals=[field_metrics(0.9, [0.1, 0.2, 0.3], version=0)])
    assert latest_metrics(run) == (run / "metrics.json", current)  # the later evaluation is of version 0
    make_run(workdir / "runs/old/b", field_metrics(0.9, [0.1, 0.2, 0.3], version=0))
    assert main(["compare", "runs=runs/old"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has only protocol field_forecast version 0 metrics" in err, err
