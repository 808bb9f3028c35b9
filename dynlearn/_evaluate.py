"""Judge a trained model by the long-term invariants of its free runs.

Protocol (DESIGN.md §5): from the first state of each held-out test trajectory, free-run the
model; its first `n_steps` steps give the valid prediction time against the aligned truth, and
the `n_steps` after a `transient` are compared with the truth's distribution (D_stsp) and power
spectrum (D_H). Every figure is reported beside the true-vs-true floor computed the same way
(two different true trajectories of the same length), and the model's largest Lyapunov
exponent (Jacobian products + QR along a free run) beside the data's (Rosenstein).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch

from ._run import Run
from ._settings import EvalSpec
from .data import split_indices, validate
from .data._schema import layout_of
from .metrics import d_h, d_stsp, lyap_rosenstein, lyapunov_spectrum, vpt
from .train._checkpoint import atomic_write_json, atomic_write_text


@torch.no_grad()
def evaluate(run: Run, spec: EvalSpec, out_dir: Path, *, plots: bool = True) -> dict:
    """Free-run `run.model` on the test split, compute the invariants, write them to `out_dir`.

    Writes ``metrics.json``, ``metrics_table.csv`` / ``.md`` and PNG plots into `out_dir`.

    Returns:
        The metrics (medians, per-initial-condition values, floors, Lyapunov exponents).
    """
    ds = validate(run.data_store)
    test = split_indices(ds, "test")[: spec.n_ics]
    if len(test) < 2:
        raise ValueError("evaluation needs at least 2 test trajectories (for the true-vs-true floor)")
    truth_all = torch.from_numpy(ds[layout_of(ds).variable].isel(traj=test).values)  # (B, T, D) physical units
    n = min(spec.n_steps, truth_all.shape[1] - 1)
    dt = float(ds.attrs["dt"])
    lyap_time = run.meta.get("lyapunov_time") or ds.attrs.get("lyapunov_time")
    model, dtype = run.model, next(run.model.parameters()).dtype
    context = run.normalizer.normalize(truth_all[:, :1]).to(dtype)
    free = run.model.rollout(context, spec.transient + n)
    free = run.normalizer.denormalize(free.double())  # (B, transient + n, D)
    truth = truth_all[:, 1:1 + n].numpy()
    forecast, attractor = free[:, :n].numpy(), free[:, spec.transient:spec.transient + n].numpy()
    std = np.asarray(run.normalizer.std)
    mean = np.asarray(run.normalizer.mean)
    # D_stsp in standardized units: the histogram is affine-invariant per dimension, and the
    # Gaussian-mixture variant (dim >= 6) assumes unit variance.
    z_truth, z_attractor, z_truth_all = (truth - mean) / std, (attractor - mean) / std, \
        (truth_all.numpy() - mean) / std

    per_ic = []
    for i in range(len(test)):
        other = z_truth_all[(i + 1) % len(test), 1:1 + n]
        valid = vpt(forecast[i], truth[i], dt=dt, lyapunov_time=lyap_time or 1.0,
                    threshold=spec.vpt_threshold, std=std)
        finite = bool(np.isfinite(attractor[i]).all())
        per_ic.append({
            "trajectory": int(test[i]),
            "d_stsp": d_stsp(z_truth[i], z_attractor[i]) if finite else math.nan,
            "d_h": d_h(z_truth[i], z_attractor[i]) if finite else math.nan,
            "d_stsp_floor": d_stsp(z_truth[i], other),
            "d_h_floor": d_h(z_truth[i], other),
            "vpt": float(valid.lyapunov_times),
            "vpt_censored": bool(valid.censored),
        })
    lyap = _model_lyapunov(model, context, spec, dt)
    metrics = {
        "n_steps": n,
        "transient": spec.transient,
        "dt": dt,
        "lyapunov_time": lyap_time,
        "d_stsp": _median(per_ic, "d_stsp"),
        "d_h": _median(per_ic, "d_h"),
        "d_stsp_floor": _median(per_ic, "d_stsp_floor"),
        "d_h_floor": _median(per_ic, "d_h_floor"),
        "vpt": _median(per_ic, "vpt"),
        "vpt_censored": sum(r["vpt_censored"] for r in per_ic),
        "lyap_max": lyap,
        "lyap_max_data": _rosenstein(truth[0], dt),
        "lyap_max_generated": _rosenstein(attractor[0], dt) if np.isfinite(attractor[0]).all() else math.nan,
        "lyap_max_reference": 1.0 / lyap_time if lyap_time else None,
        "per_ic": per_ic,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(_json_safe(metrics), out_dir / "metrics.json")
    rows = metrics_table(metrics)
    atomic_write_text(_csv(rows), out_dir / "metrics_table.csv")
    atomic_write_text(_markdown(rows), out_dir / "metrics_table.md")
    if plots:
        from ._plots import plot_attractors, plot_spectra

        plot_attractors(truth[0], attractor[0], out_dir / "attractor.png", names=run.meta.get("state_names"))
        plot_spectra(truth[0], attractor[0], dt, out_dir / "power_spectra.png")
    return metrics


def metrics_table(metrics: dict) -> list[dict]:
    """The headline figures as rows (metric, model, floor / reference), for artifacts and tables."""
    def fmt(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)

    return [
        {"metric": "D_stsp", "model": fmt(metrics["d_stsp"]), "reference": fmt(metrics["d_stsp_floor"]),
         "reference_kind": "true-vs-true floor"},
        {"metric": "D_H", "model": fmt(metrics["d_h"]), "reference": fmt(metrics["d_h_floor"]),
         "reference_kind": "true-vs-true floor"},
        {"metric": "lyap_max", "model": fmt(metrics["lyap_max"]), "reference": fmt(metrics["lyap_max_reference"]),
         "reference_kind": "system λ1 (1 / its Lyapunov time)"},
        {"metric": "lyap_max (Rosenstein)", "model": fmt(metrics["lyap_max_generated"]),
         "reference": fmt(metrics["lyap_max_data"]), "reference_kind": "Rosenstein on true data"},
        {"metric": "VPT [Lyapunov times]", "model": fmt(metrics["vpt"]), "reference": None,
         "reference_kind": f"{metrics['vpt_censored']} run(s) never crossed"},
    ]


def _model_lyapunov(model, context: torch.Tensor, spec: EvalSpec, dt: float) -> float:
    jacobian = getattr(model, "jacobian", None)
    z0 = model.initial_state(context).double()
    model = model.double()
    try:
        result = lyapunov_spectrum(model.step, z0, spec.lyap_steps, dt=dt, n_exponents=1,
                                   n_transient=spec.lyap_transient, jacobian=jacobian)
    finally:
        model.to(context.dtype)
    return float(result.exponents[0])


def _rosenstein(x: np.ndarray, dt: float) -> float:
    try:
        return float(lyap_rosenstein(x, dt=dt))
    except ValueError:
        return math.nan


def _median(rows: list[dict], key: str) -> float:
    return float(np.median([r[key] for r in rows]))


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join("" if r[k] is None else str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"
