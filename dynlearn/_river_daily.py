"""The daily river forecast: forecast 1–7 days ahead from the newest day, score earlier forecasts.

Every run takes the newest day of an observation store (the synthetic feed, or a real one), runs
the trained model from that day's discharge for `lead` days and stores the forecast under its
issue date; then it scores every earlier forecast that is valid today against today's
observations and appends the scores to a skill history. The weather of the coming days is not
observed yet: the model is driven by the climatological forcing of their days of year (the
mean over the training store's train period, ±15 days), as a forecaster without a weather
model would; a real deployment would put forecast forcing there. A rerun on the same day
replaces that day's forecast and rows, so the history holds each day once.

Outputs, in ``<run dir>/daily-<feed name>/``: ``forecasts.zarr`` (``forecast(issue, lead, lat,
lon)`` in m³/s), ``skill_history.csv`` (per valid date and lead: RMSE and bias over the river
cells, persistence's RMSE beside, and NSE / KGE over every verified day so far), and
``climatology.npz`` (the forcing by day of year, computed once).
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import zarr

from ._errors import DataError
from ._run import load_run
from .atomic import atomic_directory, atomic_file, atomic_write_text
from .data import TIME, forcing_variables, in_layout, open_store, split_indices, store_lock, validate
from .metrics import kge, median_over_cells, nse

CLIMATOLOGY_HALF_WINDOW = 15  # days each side of a day of year
EPOCH = "2000-01-01"  # issue dates are stored as days since this date (CF), like the stores' time
SKILL_COLUMNS = ("valid_date", "lead", "issue_date", "rmse", "bias", "rmse_persistence", "n_days",
                 "nse_to_date", "kge_to_date")


def river_daily(run_dir: str | Path, observations: str | Path, *, lead: int = 7) -> dict:
    """Forecast from the newest day of `observations` with the run's model and score the history.

    Args:
        run_dir: a trained run on a driven grid store (e.g. ``model=arx`` on ``system=river``).
        observations: a grid store of the same basin whose newest day is today (the feed).
        lead: days forecast.

    Returns:
        ``{"issue_date", "forecast_store", "skill_history", "scores": [rows valid today]}``.

    Raises:
        DataError: the store is not of the run's basin, or has no forcing.
    """
    run = load_run(run_dir)
    obs = open_store(observations)  # its writers refuse non-finite days: no need to scan its history daily
    _check_same_basin(run, obs, Path(observations))
    out = Path(run_dir) / f"daily-{Path(observations).name.removesuffix('.zarr')}"
    out.mkdir(exist_ok=True)
    store = out / "forecasts.zarr"
    with store_lock(store):
        today = pd.Timestamp(obs[TIME].values[-1])
        climate = _climatology(Path(run.meta["data_store"]), out)
        forecast = _forecast(run, obs, climate, lead)
        _write_forecast(store, obs, today, forecast)
        rows = _score(store, obs, today)
    history = out / "skill_history.csv"
    _append_rows(history, today, rows)
    return {"issue_date": str(today.date()), "forecast_store": str(store), "skill_history": str(history),
            "scores": rows}


def _check_same_basin(run, obs, path: Path) -> None:
    names = forcing_variables(obs)
    if obs.attrs["kind"] != "grid" or not names:
        raise DataError(f"{path} is not a driven grid store (discharge with its forcing); give the feed "
                        "(python -m flows.river_feed) or an ingested grid with forcing")
    state = run.meta.get("io", {}).get("state")
    if obs.attrs["system"] != run.meta["system"] or state is None or list(state[1:]) != [obs.sizes["lat"], obs.sizes["lon"]]:
        raise DataError(f"{path} is not the basin run {run.path} was trained on ({run.meta['system']}, grid "
                        f"{state[1:] if state else '?'}); give that basin's observation store")


def _climatology(train_store: Path, out: Path) -> np.ndarray:
    """Mean forcing by day of year over the train period (±15 days), (366, U, ny, nx); cached."""
    ds = validate(train_store, check_values=False)
    cache = out / "climatology.npz"
    if cache.exists():
        saved = np.load(cache)
        if str(saved["store_hash"]) == ds.attrs["config_hash"]:
            return saved["forcing"]
    train = split_indices(ds, "train")
    days = pd.DatetimeIndex(ds[TIME].values[train]).day_of_year.values - 1  # 0..365
    names = forcing_variables(ds)
    sums = np.zeros((366, len(names), ds.sizes["lat"], ds.sizes["lon"]))
    counts = np.zeros(366)
    for start in range(0, len(train), 365):  # a year of days at a time
        block = slice(train[start], train[min(start + 365, len(train)) - 1] + 1)
        values = np.stack([ds[n].isel({TIME: block}).values for n in names], axis=1)
        np.add.at(sums, days[start:start + 365], values)
        np.add.at(counts, days[start:start + 365], 1)
    offsets = np.arange(-CLIMATOLOGY_HALF_WINDOW, CLIMATOLOGY_HALF_WINDOW + 1)
    window = (np.arange(366)[:, None] + offsets[None, :]) % 366
    climate = sums[window].sum(axis=1) / np.maximum(counts[window].sum(axis=1), 1)[:, None, None, None]
    with atomic_file(cache) as tmp, tmp.open("wb") as f:
        np.savez(f, forcing=climate, store_hash=ds.attrs["config_hash"])
    return climate


@torch.no_grad()
def _forecast(run, obs, climate: np.ndarray, lead: int) -> np.ndarray:
    """(lead, ny, nx) m³/s from the newest day, driven by today's forcing then the climatology."""
    names = forcing_variables(obs)
    today = pd.Timestamp(obs[TIME].values[-1])
    coming = [(today + pd.Timedelta(days=k)).day_of_year - 1 for k in range(1, lead + 1)]
    observed = np.stack([obs[n].isel({TIME: -1}).values for n in names])[None]  # (1, U, ny, nx)
    forcing = np.concatenate([observed, climate[coming]])[None]                    # (1, 1 + lead, U, ny, nx)
    layout = type(run.model).layout
    param = next(run.model.parameters())
    axis = 2 if layout == "field" else -1
    context = in_layout(torch.from_numpy(obs["discharge"].isel({TIME: [-1]}).values[None]), layout)
    context = run.normalizer.normalize(context, axis=axis).to(param.device, param.dtype)
    u = in_layout(torch.from_numpy(forcing), layout, channels=True).to(param.device, param.dtype)
    generated = run.model.rollout(context, lead, u).cpu()
    generated = run.normalizer.denormalize(generated.double(), axis=axis).numpy()
    return generated.reshape(lead, obs.sizes["lat"], obs.sizes["lon"])


def _write_forecast(store: Path, obs, today: pd.Timestamp, forecast: np.ndarray) -> None:
    """Put today's forecast at its issue date: a new row, or the same row again on a rerun."""
    lead, ny, nx = forecast.shape
    epoch = pd.Timestamp(EPOCH)
    if not store.exists():
        with atomic_directory(store) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            group = zarr.open_group(str(tmp), mode="w-", zarr_format=3)
            group.create_array("issue", shape=(0,), chunks=(64,), dtype="i8", dimension_names=("issue",),
                               attributes={"units": f"days since {EPOCH}", "calendar": "proleptic_gregorian"})
            group.create_array("lead", data=np.arange(1, lead + 1, dtype=np.int64), dimension_names=("lead",),
                               attributes={"units": "days"})
            for name in ("lat", "lon"):
                group.create_array(name, data=obs[name].values, dimension_names=(name,), attributes=dict(obs[name].attrs))
            group.create_array("forecast", shape=(0, lead, ny, nx), chunks=(16, lead, ny, nx), dtype="f8",
                               fill_value=np.nan, dimension_names=("issue", "lead", "lat", "lon"),
                               attributes={"units": "m3 s-1", "long_name": "forecast daily mean discharge"})
            group.attrs.update(kind="river_forecasts", lead_days=lead)
    group = zarr.open_group(str(store), mode="r+", use_consolidated=False)
    issues = group["issue"][:]
    day = (today - epoch).days
    if group["forecast"].shape[1] != lead:
        raise DataError(f"{store} holds {group['forecast'].shape[1]}-day forecasts, not {lead}; keep the lead, or "
                        "move the folder away to start a new history")
    row = int(np.flatnonzero(issues == day)[0]) if day in issues else len(issues)
    if row == len(issues):
        for name in ("issue", "forecast"):
            group[name].resize((row + 1, *group[name].shape[1:]))
    group["forecast"][row] = forecast
    group["issue"][row] = day  # last: a row without its date is not yet a forecast


def _score(store: Path, obs, today: pd.Timestamp) -> list[dict]:
    """Scores of the forecasts valid today, and NSE/KGE over every verified day so far, by lead."""
    group = zarr.open_group(str(store), mode="r", use_consolidated=False)
    issues, forecasts = group["issue"][:], group["forecast"]
    epoch = pd.Timestamp(EPOCH)
    dates = {(pd.Timestamp(t) - epoch).days: i for i, t in enumerate(obs[TIME].values)}
    river = obs["mask"].values
    observed = obs["discharge"].values
    rows = []
    for lead in range(1, forecasts.shape[1] + 1):
        issue = (today - pd.Timedelta(days=lead) - epoch).days
        if issue not in issues or issue not in dates:
            continue
        # every (issue, issue + lead) pair both forecast and observed so far, today's included
        pairs = [(i, dates[d + lead]) for i, d in enumerate(issues) if d + lead in dates and d in dates]
        sim = np.stack([forecasts[i, lead - 1] for i, _ in pairs])[:, river]
        truth = np.stack([observed[j] for _, j in pairs])[:, river]
        now = [k for k, (i, _) in enumerate(pairs) if issues[i] == issue][0]
        error = sim[now] - truth[now]
        rows.append({
            "valid_date": str(today.date()), "lead": lead,
            "issue_date": str((epoch + pd.Timedelta(days=int(issue))).date()),
            "rmse": float(np.sqrt(np.mean(error ** 2))), "bias": float(np.mean(error)),
            "rmse_persistence": float(np.sqrt(np.mean((observed[dates[issue]][river] - truth[now]) ** 2))),
            "n_days": len(pairs),
            "nse_to_date": median_over_cells(nse, sim, truth),
            "kge_to_date": median_over_cells(kge, sim, truth),
        })
    return rows


def _append_rows(history: Path, today: pd.Timestamp, rows: list[dict]) -> None:
    """The history with today's rows replaced by `rows`, written whole (atomically)."""
    kept = []
    if history.exists():
        with history.open() as f:
            kept = [r for r in csv.DictReader(f) if r["valid_date"] != str(today.date())]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SKILL_COLUMNS)
    writer.writeheader()
    writer.writerows([*kept, *({k: _text(r[k]) for k in SKILL_COLUMNS} for r in rows)])
    atomic_write_text(buffer.getvalue(), history)


def _text(value) -> str:
    return "" if isinstance(value, float) and not math.isfinite(value) else str(value)
