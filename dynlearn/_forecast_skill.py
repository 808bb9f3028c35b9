"""Evaluation of runs on driven stores (a river basin under its weather): forecast skill by lead time.

A driven system has no attractor of its own, so the invariants of protocol v2 do not apply.
Instead every day of the test period starts a forecast: the model reads that day's observation,
runs `eval.lead_steps` steps driven by the observed forcing (a perfect-forcing hindcast) and is
scored against the observations, cell by cell, by NSE and KGE over all forecasts of a lead time
(the median over the basin's cells is the headline), beside persistence (tomorrow = today), the
forecast any model must beat.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ._run import Run
from ._settings import EvalSpec
from ._tables import difference, rounded
from .data import forecast_inits, in_layout, validate
from .metrics import kge, median_over_cells, nse

SKILL_PROTOCOL = "forecast_skill"
SKILL_PROTOCOL_VERSION = 1


@torch.no_grad()
def evaluate_forecast_skill(run: Run, spec: EvalSpec) -> dict:
    """Forecast from every test day and score the forecasts by lead time.

    Returns:
        The metrics: NSE / KGE (median over cells) and RMSE per lead time, persistence's NSE.

    Raises:
        DataError: the store is not split by time or its test period is too short.
    """
    ds = validate(run.data_store)
    # The inits of a batch forecast (`dynlearn.forecast`) of every test day, one step of context.
    inits = forecast_inits(ds, "test", context=1, stride=1, lead=spec.lead_steps)
    contexts, truths, forcing = inits.read(ds, slice(None))
    model = run.model
    layout = type(model).layout
    param = next(model.parameters())
    axis = 2 if layout == "field" else -1  # where the normalization statistics run
    context = in_layout(torch.from_numpy(contexts).double(), layout)
    context = run.normalizer.normalize(context, axis=axis).to(param.device, param.dtype)
    u = None if forcing is None else in_layout(torch.from_numpy(forcing), layout, channels=True).to(
        param.device, param.dtype)
    generated = model.rollout(context, spec.lead_steps, u).cpu()
    generated = run.normalizer.denormalize(generated.double(), axis=axis).numpy().reshape(truths.shape)

    observed = np.isfinite(truths).all(axis=(0, 1))  # cells with data (a grid's river cells)
    finite = bool(np.isfinite(generated[:, :, observed]).all())
    persistence = contexts[:, -1][:, observed]
    by_lead = []
    for lead in range(spec.lead_steps):
        sim, obs = generated[:, lead][:, observed], truths[:, lead][:, observed]
        by_lead.append({
            "lead": lead + 1,
            "nse": median_over_cells(nse, sim, obs) if finite else math.nan,
            "kge": median_over_cells(kge, sim, obs) if finite else math.nan,
            "rmse": float(np.sqrt(np.mean((sim - obs) ** 2))) if finite else math.nan,
            "nse_persistence": median_over_cells(nse, persistence, obs),
        })
    metrics = {
        "protocol": SKILL_PROTOCOL,
        "protocol_version": SKILL_PROTOCOL_VERSION,
        "test_data": {"store": str(Path(run.data_store).resolve()), "store_hash": ds.attrs["config_hash"],
                      "first_start": int(inits.step[0]), "n_cases": len(inits)},
        "n_cases": len(inits),
        "n_cells": int(observed.sum()),
        "lead_steps": spec.lead_steps,
        "dt": float(ds.attrs["dt"]),
        "units": ds.attrs.get("units"),
        "finite": finite,
        "by_lead": by_lead,
    }
    return metrics


def skill_table(metrics: dict) -> list[dict]:
    """Rows (metric, model, reference, model - reference, reference_kind) at the first and last lead."""
    rows = []
    leads = metrics["by_lead"]
    for entry in (leads[0], leads[-1]) if len(leads) > 1 else (leads[0],):
        lead = entry["lead"]
        rows.append({"metric": f"NSE at lead {lead} (median over cells)", "model": rounded(entry["nse"]),
                     "reference": rounded(entry["nse_persistence"]),
                     "model - reference": difference(entry["nse"], entry["nse_persistence"]),
                     "reference_kind": "persistence (the last observation)"})
        rows.append({"metric": f"KGE at lead {lead} (median over cells)", "model": rounded(entry["kge"]),
                     "reference": None, "model - reference": None, "reference_kind": "1 is perfect"})
        rows.append({"metric": f"RMSE at lead {lead} [{metrics.get('units') or 'store units'}]",
                     "model": rounded(entry["rmse"]), "reference": None, "model - reference": None,
                     "reference_kind": f"{metrics['n_cases']} forecasts x {metrics['n_cells']} cells"})
    return rows
