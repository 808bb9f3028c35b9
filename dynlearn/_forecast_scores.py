"""Skill of a forecast store by lead time, against the observations it holds.

Per lead, over every init observed at that lead and every state cell (a grid's river cells):

- ``rmse``: root mean square error of the point forecast (the ensemble mean; the forecast itself
  with one member), in the store's units;
- ``acc``: the anomaly correlation Σ f'y' / √(Σ f'² Σ y'²) of the point forecast f and the
  observation y, anomalies from the run's training-split mean and standardized by its standard
  deviation (so each dimension counts alike), pooled over inits and cells; 1 is perfect;
- ``crps``: the mean CRPS of the ensemble (`metrics.crps_ensemble`), ensembles only;
- ``nse``, ``kge``: discharge stores (grid, stations) only: per cell over the inits observed at
  every cell at that lead (`metrics.nse` / `kge`), the median over cells;
- ``n_verified``: the inits with an observation at that lead.

The sums run over the chunks in their order, so a resumed store scores bit for bit like an
uninterrupted one. Discharge scores hold the point forecasts and observations of every init
in memory (inits x leads x cells x 16 bytes); the others one chunk at a time.
"""

from __future__ import annotations

import numpy as np

from .data import ForecastStore, Normalizer
from .metrics import crps_ensemble, kge, median_over_cells, nse

DISCHARGE_KINDS = ("grid", "stations")


def skill_by_lead(store: ForecastStore, normalizer: Normalizer, source_attrs: dict) -> dict[str, np.ndarray]:
    """The skill variables of a forecast store whose chunks are all written, each (lead,).

    Args:
        store: the forecast store.
        normalizer: the run's training-split statistics (the climatology of ``acc``).
        source_attrs: the input store's attrs (its kind decides on ``nse`` / ``kge``).
    """
    mean, std = np.asarray(normalizer.mean), np.asarray(normalizer.std)  # along the last state axis
    discharge = source_attrs["kind"] in DISCHARGE_KINDS
    sums: dict[str, np.ndarray] = {}
    points, observations = [], []
    cells = store.cells if discharge else None
    for k in range(store.n_chunks):
        members, observed = store.read(k)  # (n, M, L, ...), (n, L, ...)
        point = members.mean(axis=1)
        valid = np.isfinite(observed) & np.isfinite(point)
        inits_and_cells = (0, *range(2, observed.ndim))

        def add(name: str, values) -> None:
            sums[name] = sums.get(name, 0.0) + np.where(valid, values, 0.0).sum(axis=inits_and_cells)

        f, y = (point - mean) / std, (observed - mean) / std
        add("count", 1.0)
        add("squared_error", (point - observed) ** 2)
        add("fy", f * y)
        add("ff", f * f)
        add("yy", y * y)
        if store.members > 1:
            add("crps", crps_ensemble(members, observed, axis=1))
        sums["n_verified"] = sums.get("n_verified", 0) + valid.reshape(*valid.shape[:2], -1).any(axis=2).sum(axis=0)
        if discharge:
            points.append(point.reshape(*point.shape[:2], -1)[:, :, cells])
            observations.append(observed.reshape(*observed.shape[:2], -1)[:, :, cells])
    with np.errstate(divide="ignore", invalid="ignore"):
        skill = {"rmse": np.sqrt(sums["squared_error"] / sums["count"]),
                 "acc": sums["fy"] / np.sqrt(sums["ff"] * sums["yy"]),
                 "n_verified": sums["n_verified"].astype(np.int64)}
        if store.members > 1:
            skill["crps"] = sums["crps"] / sums["count"]
    if discharge:
        skill |= _hydrological(np.concatenate(points), np.concatenate(observations))
    return skill


def _hydrological(point: np.ndarray, observed: np.ndarray) -> dict[str, np.ndarray]:
    """Median over cells of NSE and KGE per lead; point, observed (N, L, cells)."""
    scores = {"nse": [], "kge": []}
    for lead in range(point.shape[1]):
        rows = np.isfinite(observed[:, lead]).all(axis=1) & np.isfinite(point[:, lead]).all(axis=1)
        for name, score in (("nse", nse), ("kge", kge)):
            scores[name].append(median_over_cells(score, point[rows, lead], observed[rows, lead]))
    return {name: np.asarray(values) for name, values in scores.items()}
