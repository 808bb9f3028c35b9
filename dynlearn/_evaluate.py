"""Judge a trained model by the long-term invariants of its free runs (evaluation protocol v2).

From each of K held-out test cases (a context and the truth after it), free-run the model for
`transient + n` steps. The first n steps give the valid prediction time against the truth; the
n steps after the transient, pooled over all K runs, are compared with the pooled truths:
D_stsp of the occupation measures and D_H of the mean power spectra. Every figure stands beside
its floor: the same metric between the test truths and an independent set of true cases of the
same number and length (the store's floor split, or its validation split). Each run is flagged
collapsed or diverged by the rules of `dynlearn.metrics._protocol`; per-case figures follow
as a secondary table. λ_max comes from Jacobian products + QR along each run, beside the
catalogue's λ1 or, for measured data, Rosenstein's estimate from the test truths.
Driven stores (with exogenous forcing) are judged by forecast skill instead (`_forecast_skill`),
2-D fields by their forecasts (`_evaluate_field`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ._evaluate_field import FIELD_PROTOCOL, evaluate_field_forecast, field_table
from ._forecast_skill import SKILL_PROTOCOL, evaluate_forecast_skill, skill_table
from ._run import Run
from ._settings import EvalSpec
from ._short_forecast import short_forecast_metrics
from ._tables import csv_text, difference, json_safe, markdown_text, rounded
from .atomic import atomic_write_json, atomic_write_text
from .data import evaluation_cases, floor_cases, forcing_variables, open_store, validate
from .metrics import PROTOCOL_VERSION, d_h, finite_median, mase, pooled_d_stsp, vpt
from .train import Judge, rosenstein

ATTRACTOR_PROTOCOL = "attractor"
MASE_STEPS = 10  # the short-term error the DynaMix authors report beside the invariants


def evaluate(run: Run, spec: EvalSpec, out_dir: Path, *, plots: bool = True) -> dict:
    """Judge `run.model` on its store's test data and write the result to `out_dir`.

    Autonomous systems are judged by protocol v2 (free runs against held-out cases, the
    invariants of the attractor); stores with exogenous forcing (a river grid) by forecast skill
    by lead time (`_forecast_skill`). Writes ``metrics.json``, ``metrics_table.csv`` / ``.md``
    and, for protocol v2 on vectors, PNG plots.

    Returns:
        The metrics.

    Raises:
        DataError: the store's test split cannot give one case of the protocol's length.
    """
    protocol = protocol_of(open_store(run.data_store))
    if protocol == SKILL_PROTOCOL:
        metrics = evaluate_forecast_skill(run, spec, out_dir)
    elif protocol == FIELD_PROTOCOL:
        metrics = evaluate_field_forecast(run, spec)
    else:
        metrics = _evaluate_attractor(run, spec, out_dir, plots=plots)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(json_safe(metrics), out_dir / "metrics.json")
    rows = metrics_table(metrics)
    atomic_write_text(csv_text(rows), out_dir / "metrics_table.csv")
    atomic_write_text(markdown_text(rows), out_dir / "metrics_table.md")
    return metrics


def protocol_of(ds) -> str:
    """The protocol that judges models of store `ds`: forecast skill for driven stores (with
    forcing), the field protocol for 2-D fields, protocol v2 (the attractor's invariants) else."""
    if forcing_variables(ds):
        return SKILL_PROTOCOL
    return FIELD_PROTOCOL if ds.attrs["kind"] == "field2d" else ATTRACTOR_PROTOCOL


@torch.no_grad()
def _evaluate_attractor(run: Run, spec: EvalSpec, out_dir: Path, *, plots: bool) -> dict:
    """Protocol v2: free runs from the test cases, the pooled invariants with their floors, plots."""
    ds = validate(run.data_store)
    test = evaluation_cases(ds, "test", n_cases=spec.n_ics, n_steps=spec.n_steps, context=spec.context)
    floor = floor_cases(ds, test)
    dt = float(ds.attrs["dt"])
    # Everything is compared in the units the model learned (train-split standardization): the
    # histogram is affine-invariant per dimension and the Gaussian mixture assumes unit variance.
    z = _on_arrays(run.normalizer.normalize)
    z_test = test.map(z)
    judge = Judge.build(ds.attrs, z_test, dt, bins=spec.bins, dh_cutoff=spec.dh_cutoff,
                        transient=spec.transient, lyap_steps=spec.lyap_steps, lyap_transient=spec.lyap_transient)
    n_bins, lyap_ref, dim = judge.n_bins, judge.truth.lyap_reference, test.truths.shape[-1]
    chaotic = judge.truth.chaotic
    score = judge.score(run.model)
    n = test.n_steps
    forecast = score.generated[:, :n]
    attractor = score.generated[:, spec.transient:spec.transient + n]
    lyap_time = 1.0 / lyap_ref if chaotic else None
    valid = vpt(forecast, z_test.truths, dt=dt, lyapunov_time=lyap_time or 1.0,
                threshold=spec.vpt_threshold, std=np.ones(dim))
    short_error = mase(forecast, z_test.truths, z_test.contexts, horizon=MASE_STEPS)
    z_floor = floor.map(z) if floor is not None else None
    floor_stsp = pooled_d_stsp(z_test.truths[:len(floor)], z_floor.truths, n_bins=n_bins) if floor else math.nan
    floor_dh = d_h(z_test.truths[:len(floor)], z_floor.truths, cutoff=spec.dh_cutoff) if floor else math.nan

    per_ic = []
    for k in range(len(test)):
        finite = bool(np.isfinite(attractor[k]).all())
        other = z_floor.truths[k] if floor is not None and k < len(floor) else None
        per_ic.append({
            "trajectory": test.origins[k][0],
            "start": test.origins[k][1],
            "status": score.status[k],
            "d_stsp": _stsp(z_test.truths[k], attractor[k], n_bins) if finite else math.nan,
            "d_h": d_h(z_test.truths[k], attractor[k], cutoff=spec.dh_cutoff) if finite else math.nan,
            "d_stsp_floor": _stsp(z_test.truths[k], other, n_bins) if other is not None else math.nan,
            "d_h_floor": d_h(z_test.truths[k], other, cutoff=spec.dh_cutoff) if other is not None else math.nan,
            "lyap_max": float(score.lyap[k]),
            "vpt": float(valid.lyapunov_times[k]),
            "vpt_censored": bool(valid.censored[k]),
            "mase": float(short_error[k]),
        })
    ok = [k for k, s in enumerate(score.status) if s == "ok"]
    metrics = {
        "protocol_version": PROTOCOL_VERSION,
        "test_data": {
            "store": str(Path(run.data_store).resolve()),
            "store_hash": ds.attrs["config_hash"],
            "cases": [list(o) for o in test.origins],
            "n_steps": n,
            "transient": spec.transient,
            "context": int(test.contexts.shape[1]),
        },
        "n_ics": len(test),
        "n_steps": n,
        "transient": spec.transient,
        "dt": dt,
        "bins": n_bins if n_bins is not None else "gmm",
        "dh_cutoff": spec.dh_cutoff,
        "floor_split": floor.split if floor is not None else None,
        "floor_n_ics": len(floor) if floor is not None else 0,
        "d_stsp": score.d_stsp,
        "d_stsp_floor": floor_stsp,
        "d_h": score.d_h,
        "d_h_floor": floor_dh,
        "n_collapsed": score.n_collapsed,
        "n_diverged": score.n_diverged,
        "lyap_max": finite_median(score.lyap),
        # A family without a step Jacobian has no λ_max: "not available" in the table, not 0 or NaN.
        "lyap_max_available": run.model.has_lyapunov,
        "lyap_max_ok_runs": finite_median(score.lyap[ok]) if ok else math.nan,
        "lyap_max_reference": lyap_ref,
        "lyap_max_reference_kind": judge.reference_kind,
        "lyapunov_time": lyap_time,
        "vpt": finite_median(valid.lyapunov_times),
        "vpt_unit": "lyapunov_times" if lyap_time else "time",
        "vpt_censored": int(np.sum(valid.censored)),
        "mase_steps": MASE_STEPS,
        "mase": finite_median(short_error),
        "lyap_max_data": rosenstein(test.truths[0], dt),
        "lyap_max_generated": rosenstein(attractor[ok[0]], dt) if ok else math.nan,
        "per_ic": per_ic,
    }
    if spec.short_context is not None:
        metrics["short_forecast"] = short_forecast_metrics(
            run.model, run.normalizer, ds, context=spec.short_context, horizon=spec.short_horizon,
            n_cases=spec.short_cases, smape_threshold=spec.smape_threshold, nrmse_threshold=spec.vpt_threshold,
            lyapunov_time=spec.short_lyapunov_time or lyap_time, seed=judge.seed)
    if plots and test.truths.ndim == 3:
        out_dir.mkdir(parents=True, exist_ok=True)
        from ._plots import plot_attractors, plot_space_time, plot_spectra

        shown = ok[0] if ok else 0
        physical = _on_arrays(run.normalizer.denormalize)(attractor[shown])
        if ds.attrs["kind"] == "field1d":  # a field is seen in space and time, not in 3 of its dimensions
            plot_space_time(test.truths[shown], physical, dt, out_dir / "space_time.png")
        else:
            plot_attractors(test.truths[shown], physical, out_dir / "attractor.png",
                            names=run.meta.get("state_names"))
        plot_spectra(test.truths[shown], physical, dt, out_dir / "power_spectra.png")
    return metrics


def metrics_table(metrics: dict) -> list[dict]:
    """The headline figures as rows (metric, model, floor / reference, difference), for tables."""
    if metrics.get("protocol") == SKILL_PROTOCOL:
        return skill_table(metrics)
    if metrics.get("protocol") == FIELD_PROTOCOL:
        return field_table(metrics)
    fmt, minus = rounded, difference
    n, k = metrics["n_steps"], metrics["n_ics"]
    pooled = f"pooled over {k} ICs x {n} steps; floor: {metrics['floor_n_ics']} true {metrics['floor_split']} ICs"
    unit = "Lyapunov times" if metrics["vpt_unit"] == "lyapunov_times" else "time units"
    failed = f"{metrics['n_collapsed']} collapsed, {metrics['n_diverged']} diverged of {k}"
    return [
        {"metric": f"D_stsp ({metrics['bins']} bins)" if metrics["bins"] != "gmm" else "D_stsp (GMM)",
         "model": fmt(metrics["d_stsp"]), "reference": fmt(metrics["d_stsp_floor"]),
         "model - reference": minus(metrics["d_stsp"], metrics["d_stsp_floor"]), "reference_kind": pooled},
        {"metric": "D_H", "model": fmt(metrics["d_h"]), "reference": fmt(metrics["d_h_floor"]),
         "model - reference": minus(metrics["d_h"], metrics["d_h_floor"]), "reference_kind": pooled},
        {"metric": "lyap_max (median over ICs)",
         "model": fmt(metrics["lyap_max"]) if metrics.get("lyap_max_available", True) else "not available",
         "reference": fmt(metrics["lyap_max_reference"]),
         "model - reference": minus(metrics["lyap_max"], metrics["lyap_max_reference"]),
         "reference_kind": metrics["lyap_max_reference_kind"]},
        {"metric": "lyap_max (Rosenstein)", "model": fmt(metrics["lyap_max_generated"]),
         "reference": fmt(metrics["lyap_max_data"]),
         "model - reference": minus(metrics["lyap_max_generated"], metrics["lyap_max_data"]),
         "reference_kind": "Rosenstein on one true test case"},
        {"metric": f"VPT [{unit}] (median)", "model": fmt(metrics["vpt"]), "reference": None,
         "model - reference": None, "reference_kind": f"{metrics['vpt_censored']} run(s) never crossed"},
        *_short_rows(metrics.get("short_forecast")),
        {"metric": "failed free runs", "model": metrics["n_collapsed"] + metrics["n_diverged"], "reference": 0,
         "model - reference": None, "reference_kind": failed},
    ]


def _short_rows(short: dict | None) -> list[dict]:
    """The short-forecast protocol's two VPTs as table rows (none when it did not run)."""
    if short is None:
        return []
    unit = "Lyapunov times" if short["vpt_unit"] == "lyapunov_times" else "time units"
    how = f"{short['n_cases']} forecasts, context {short['context']}, horizon {short['horizon']}"
    return [{"metric": f"{name} [{unit}] (median, short forecasts)", "model": rounded(short[name]),
             "reference": None, "model - reference": None,
             "reference_kind": f"{how}; {short[name + '_censored']} never crossed"}
            for name in ("vpt_smape", "vpt_nrmse")]


def _on_arrays(transform):
    """A tensor transform (a `Normalizer` method) applied to NumPy arrays, in float64."""
    return lambda x: transform(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()


def _stsp(truth: np.ndarray, generated: np.ndarray, n_bins: int | None) -> float:
    return pooled_d_stsp(truth[None], generated[None], n_bins=n_bins)
