"""Evaluation of runs on driven stores (a river basin under its weather): forecast skill by lead time.

A driven system has no attractor of its own, so the invariants of protocol v2 do not apply.
Instead every day of the test period is an issue time: the model reads `eval.context` days of
discharge and forcing up to it and forecasts days 1..`eval.lead_steps`. The forcing after the
issue time is not known then, so by default the model is driven by the training period's mean
forcing of each cell (``eval.future_forcing=climatology``); ``observed`` drives it by the
weather that came (a perfect-forcing hindcast, labelled so in the tables), which no real
forecast has. Scores per lead, per cell over all issue times and, basin-wide, their median
over the cells:

- NSE, KGE (Gupta et al. 2009), KGE′ (Kling et al. 2012) and RMSE;
- F1 of flood events per return-period threshold (2- and 5-year floods of each cell, Gumbel by
  L-moments on the training period's annual maxima);

beside persistence (the issue day's discharge held) and climatology (the training period's
mean discharge of the cell on that day of the year, ±15 days), the forecasts any model must beat.
The per-cell scores go to ``skill_per_cell.csv`` beside ``metrics.json``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ._forecast import ForecastSpec, forecast_chunk
from ._run import Run
from ._settings import EvalSpec
from ._tables import csv_text, difference, rounded
from .atomic import atomic_write_text
from .data import TIME, climatological_forcing, forecast_inits, split_indices, validate
from .metrics import annual_maxima, finite_median, flood_f1, kge, kge_prime, nse, return_period_threshold

SKILL_PROTOCOL = "forecast_skill"
SKILL_PROTOCOL_VERSION = 2
RETURN_PERIODS = (2, 5)  # years
MIN_FLOOD_YEARS = 2  # training years for the return-period thresholds
BASELINES = ("persistence", "climatology")
CLIMATOLOGY_HALF_WINDOW = 15  # days either side of the day of the year


@torch.no_grad()
def evaluate_forecast_skill(run: Run, spec: EvalSpec, out_dir: Path | None = None) -> dict:
    """Forecast from every test day and score the forecasts, and the baselines', by lead time.

    Returns:
        The metrics; ``by_lead`` holds per lead the model's basin-wide scores and each
        baseline's under ``<score>_<baseline>``.

    Raises:
        DataError: the store is not split by time or its test period is too short.
    """
    ds = validate(run.data_store)
    inits = forecast_inits(ds, "test", context=spec.context, stride=1, lead=spec.lead_steps)
    contexts, truths, forcing = inits.read(ds, slice(None))  # (n, C, H, W), (n, L, H, W), (n, C + L, U, H, W)
    train = split_indices(ds, "train")
    if spec.future_forcing == "climatology":  # what is known at the issue time: the forcing's climate only
        forcing = forcing.copy()
        forcing[:, spec.context:] = climatological_forcing(ds)
    # One member, no perturbation: the batch forecast job's own rollout (dynlearn.forecast).
    one = ForecastSpec(lead=spec.lead_steps, context=spec.context, progress=False)
    generated = forecast_chunk(run, contexts, forcing, one, torch.Generator())[:, 0]  # (n, L, H, W)

    observed = np.isfinite(truths).all(axis=(0, 1))  # cells with data (a grid's river cells)
    finite = bool(np.isfinite(generated[:, :, observed]).all())
    history = ds["discharge"].values[train][:, observed]  # (days, cells)
    # Flood thresholds need annual maxima of a few years (a Gumbel fit): NaN F1 for a shorter period.
    enough = len(history) >= MIN_FLOOD_YEARS * 365
    thresholds = {t: return_period_threshold(annual_maxima(history, steps_per_year=365), period_years=t)
                  if enough else np.full(history.shape[1], np.nan) for t in RETURN_PERIODS}
    days = inits.step[:, None] + 1 + np.arange(spec.lead_steps)[None, :]  # (n, L) the forecast days
    forecasts = {
        "model": generated[:, :, observed],
        "persistence": np.repeat(contexts[:, -1:, observed], spec.lead_steps, axis=1),
        "climatology": _day_of_year_climatology(history, _day_of_year(ds, train))[_day_of_year(ds, days)],
    }
    truth = truths[:, :, observed]
    by_lead, per_cell = [], []
    for lead in range(spec.lead_steps):
        entry = {"lead": lead + 1}
        for name, values in forecasts.items():
            cells = _cell_scores(values[:, lead], truth[:, lead], thresholds, usable=name != "model" or finite)
            suffix = "" if name == "model" else f"_{name}"
            entry.update({f"{s}{suffix}": finite_median(v) for s, v in cells.items()})
            if name == "model":
                entry["rmse"] = float(np.sqrt(np.mean((values[:, lead] - truth[:, lead]) ** 2))) if finite else math.nan
            per_cell += [{"lead": lead + 1, "forecast": name, "lat": int(i), "lon": int(j),
                          **{s: float(v[c]) for s, v in cells.items()}}
                         for c, (i, j) in enumerate(zip(*np.nonzero(observed)))]
        by_lead.append(entry)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(csv_text(per_cell), out_dir / "skill_per_cell.csv")
    return {
        "protocol": SKILL_PROTOCOL,
        "protocol_version": SKILL_PROTOCOL_VERSION,
        "test_data": {"store": str(Path(run.data_store).resolve()), "store_hash": ds.attrs["config_hash"],
                      "first_start": int(inits.step[0]), "n_cases": len(inits)},
        "n_cases": len(inits),
        "n_cells": int(observed.sum()),
        "lead_steps": spec.lead_steps,
        "context": spec.context,
        "future_forcing": spec.future_forcing,
        "return_periods_years": list(RETURN_PERIODS),
        "flood_thresholds": "Gumbel (L-moments) on the training period's annual maxima" if enough
        else f"none: the training period is shorter than {MIN_FLOOD_YEARS} years (F1 not available)",
        "dt": float(ds.attrs["dt"]),
        "units": ds.attrs.get("units"),
        "finite": finite,
        "by_lead": by_lead,
    }


def _cell_scores(simulated: np.ndarray, observed: np.ndarray, thresholds: dict, *, usable: bool) -> dict:
    """Every score of one forecaster at one lead, per cell: (issues, cells) -> {score: (cells,)};
    NaN where the forecasts are not `usable` (not finite) or there are fewer than 2 issues."""
    names = ["nse", "kge", "kge_prime", *(f"f1_{t}y" for t in thresholds)]
    if not usable or len(observed) < 2:
        return {name: np.full(observed.shape[1], math.nan) for name in names}
    scores = {"nse": nse(simulated, observed), "kge": kge(simulated, observed),
              "kge_prime": kge_prime(simulated, observed)}
    scores.update({f"f1_{t}y": flood_f1(simulated, observed, level) for t, level in thresholds.items()})
    return scores


def _day_of_year(ds, steps: np.ndarray) -> np.ndarray:
    """Day of the year (0..365) of store time steps `steps`; a store without dates counts 365-day years."""
    times = ds[TIME].values
    if np.issubdtype(times.dtype, np.datetime64):
        return pd.DatetimeIndex(times[steps.ravel()]).day_of_year.values.reshape(steps.shape) - 1
    return steps % 365


def _day_of_year_climatology(q: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """The mean of daily values `q` (days, cells) on each day of the year, over a window of
    ±CLIMATOLOGY_HALF_WINDOW days (circular), (366, cells); `doy` (days,) their days of the year."""
    sums, counts = np.zeros((366, q.shape[1])), np.zeros(366)
    np.add.at(sums, doy, q)
    np.add.at(counts, doy, 1)
    window = np.arange(-CLIMATOLOGY_HALF_WINDOW, CLIMATOLOGY_HALF_WINDOW + 1)
    rolled_sums = sum(np.roll(sums, k, axis=0) for k in window)
    rolled_counts = sum(np.roll(counts, k) for k in window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return rolled_sums / rolled_counts[:, None]


def skill_table(metrics: dict) -> list[dict]:
    """Rows (metric, model, reference, model - reference, reference_kind) at leads 1, 3 and the last."""
    hindcast = " (perfect future forcing)" if metrics.get("future_forcing") == "observed" else ""
    leads = metrics["by_lead"]
    rows = []
    for entry in [e for e in leads if e["lead"] in (1, 3, leads[-1]["lead"])]:
        lead = entry["lead"]
        for score, label in (("nse", "NSE"), ("kge", "KGE"), ("kge_prime", "KGE′")):
            for baseline in BASELINES:
                rows.append({"metric": f"{label} at lead {lead}{hindcast} (median over cells)",
                             "model": rounded(entry[score]), "reference": rounded(entry[f"{score}_{baseline}"]),
                             "model - reference": difference(entry[score], entry[f"{score}_{baseline}"]),
                             "reference_kind": baseline})
        for t in metrics["return_periods_years"]:
            score = f"f1_{t}y"
            rows.append({"metric": f"F1 of {t}-year floods at lead {lead}{hindcast} (median over cells)",
                         "model": rounded(entry[score]), "reference": rounded(entry[f"{score}_persistence"]),
                         "model - reference": difference(entry[score], entry[f"{score}_persistence"]),
                         "reference_kind": "persistence"})
        rows.append({"metric": f"RMSE at lead {lead}{hindcast} [{metrics.get('units') or 'store units'}]",
                     "model": rounded(entry["rmse"]), "reference": None, "model - reference": None,
                     "reference_kind": f"{metrics['n_cases']} forecasts x {metrics['n_cells']} cells"})
    return rows
