"""Judge a trained model on 2-D fields (Navier–Stokes) by its forecasts: the field protocol.

From each held-out test trajectory the model reads `eval.context` frames (FNO's benchmark: 10)
and forecasts the next `eval.n_steps` (40) autoregressively. Scores, in the store's units:

- relative L2 of the whole predicted space-time field per case, the mean over cases (the FNO
  paper's headline, neuraloperator's LpLoss definition), and the mean over cases at each lead;
- the energy-spectrum error of the forecasts against the truths (`metrics.energy_spectrum_error`);
- the vorticity correlation time: the time until the spatial correlation with the truth drops
  below 0.95 (Kochkov et al. 2021), the median over cases;

each beside persistence (the last context frame held), the forecast a learned model must beat.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ._run import Run
from ._settings import EvalSpec
from ._tables import difference, rounded
from .data import evaluation_cases, validate
from .metrics import correlation_time, energy_spectrum_error, finite_median, relative_l2, relative_l2_by_lead
from .train import free_run

FIELD_PROTOCOL = "field_forecast"
FIELD_PROTOCOL_VERSION = 1
# Fewest forecast steps of a field case (the invariants' 500 do not apply to 50-step trajectories).
MIN_FIELD_STEPS = 1
CORRELATION_THRESHOLD = 0.95


@torch.no_grad()
def evaluate_field_forecast(run: Run, spec: EvalSpec) -> dict:
    """Forecast every test case and score the forecasts (see the module docstring).

    Raises:
        DataError: the test split has no trajectory with `context` + 1 steps.
    """
    ds = validate(run.data_store)
    test = evaluation_cases(ds, "test", n_cases=spec.n_ics, n_steps=spec.n_steps, context=spec.context,
                            min_steps=MIN_FIELD_STEPS)
    model = run.model
    param = next(model.parameters())
    context = run.normalizer.normalize(torch.from_numpy(test.contexts.astype(np.float64)))
    generated = free_run(model, context.to(param.device, param.dtype), test.n_steps).cpu().double()
    forecast = run.normalizer.denormalize(generated).numpy()  # (K, n, *spatial)
    truth = test.truths.astype(np.float64)
    persistence = np.repeat(test.contexts[:, -1:].astype(np.float64), test.n_steps, axis=1)
    dt = float(ds.attrs["dt"])
    finite = np.isfinite(forecast.reshape(len(forecast), -1)).all(axis=1)

    def scores(prediction: np.ndarray, ok: np.ndarray) -> dict:
        if not ok.any():
            return {"rel_l2": math.nan, "rel_l2_by_lead": [math.nan] * test.n_steps, "spectrum_error": math.nan,
                    "correlation_time": math.nan, "correlation_censored": 0}
        corr = correlation_time(prediction[ok], truth[ok], dt=dt, threshold=CORRELATION_THRESHOLD)
        return {
            "rel_l2": float(space_time_l2(prediction[ok], truth[ok]).mean()),
            "rel_l2_by_lead": [float(v) for v in relative_l2_by_lead(prediction[ok], truth[ok])],
            "spectrum_error": float(energy_spectrum_error(prediction[ok], truth[ok], spatial_dims=truth.ndim - 2)),
            "correlation_time": finite_median(corr.time),
            "correlation_censored": int(np.sum(corr.censored)),
        }

    model_scores = scores(forecast, finite)
    persistence_scores = scores(persistence, np.ones(len(test), dtype=bool))
    by_case = np.where(finite, space_time_l2(np.nan_to_num(forecast), truth), math.nan)  # (K,)
    per_case = [{"trajectory": test.origins[k][0], "finite": bool(finite[k]), "rel_l2": float(by_case[k])}
                for k in range(len(test))]
    return {
        "protocol": FIELD_PROTOCOL,
        "protocol_version": FIELD_PROTOCOL_VERSION,
        "test_data": {"store": str(Path(run.data_store).resolve()), "store_hash": ds.attrs["config_hash"],
                      "cases": [list(o) for o in test.origins], "n_steps": test.n_steps,
                      "context": int(test.contexts.shape[1])},
        "n_cases": len(test),
        "n_steps": test.n_steps,
        "dt": dt,
        "n_failed": int((~finite).sum()),
        **model_scores,
        "persistence": persistence_scores,
        "per_case": per_case,
    }


def space_time_l2(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Relative L2 of each case's whole forecast, (K, n, *spatial) -> (K,): the FNO paper's
    headline, one norm over every step and cell of a case."""
    return relative_l2(prediction, truth, spatial_dims=truth.ndim - 1)


def field_table(metrics: dict) -> list[dict]:
    """Rows (metric, model, reference, model - reference, reference_kind) of the field protocol."""
    base = metrics["persistence"]
    n, k = metrics["n_steps"], metrics["n_cases"]
    pooled = f"persistence; mean over {k} test cases x {n} steps"

    def row(metric: str, model, reference, kind: str = pooled) -> dict:
        return {"metric": metric, "model": rounded(model), "reference": rounded(reference),
                "model - reference": difference(model, reference), "reference_kind": kind}

    return [
        row("relative L2 (all leads)", metrics["rel_l2"], base["rel_l2"]),
        row("relative L2 at lead 1", metrics["rel_l2_by_lead"][0], base["rel_l2_by_lead"][0]),
        row(f"relative L2 at lead {n}", metrics["rel_l2_by_lead"][-1], base["rel_l2_by_lead"][-1]),
        row("energy spectrum error", metrics["spectrum_error"], base["spectrum_error"]),
        row(f"correlation time (> {CORRELATION_THRESHOLD}) [time units, median]", metrics["correlation_time"],
            base["correlation_time"],
            f"persistence; {metrics['correlation_censored']} of the model's forecasts never dropped below"),
        {"metric": "failed forecasts", "model": metrics["n_failed"], "reference": 0, "model - reference": None,
         "reference_kind": f"non-finite of {k}"},
    ]
