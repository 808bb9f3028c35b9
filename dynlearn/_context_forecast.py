"""Forecast a given series: ``python -m dynlearn forecast run=<run> context=<file> n_steps=N output=<file>``.

The context is any multivariate series: a ``.npy`` array (T,), (T, D) or (B, T, D), a ``.csv``
table (T, D) with an optional header row, or a dynlearn store (a series store's whole series, or
every trajectory of an ensemble store's test split). A run trained on one system forecasts in its
own units (its training statistics) and needs the channels it was trained on; a DynaMix pretrained
on a corpus (`+exp=dynamix_pretrain`; ``run=dynamix`` names the one shipped with dynlearn) forecasts
any series zero-shot (`dynlearn.models.dynamix.zero_shot_forecast`): up to its N channels jointly,
more only with ``forecast.channels=independent`` (each channel alone, as the authors do). Nothing
is trained or optimized; forecasts run under `torch.inference_mode`. The output (``.npy``, or
``.csv`` for one series) is written atomically.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np
import torch

from ._errors import ConfigError, DataError
from ._run import CHECKPOINTS, Run, load_run
from .atomic import atomic_file, atomic_write_text

PRETRAINED = Path(__file__).parent / "pretrained"  # run=<name> names a run shipped here (run=dynamix)
CHANNELS = ("joint", "independent")
CORPUS_SYSTEM = "dynamix_corpus"


def resolve_run(run: str | Path) -> Path:
    """A run directory: the path itself, or a run shipped with dynlearn (``dynamix``).

    Raises:
        ConfigError: neither holds a trained run.
    """
    path = Path(run)
    if not (path / CHECKPOINTS / "best.pt").exists() and (PRETRAINED / str(run) / CHECKPOINTS / "best.pt").exists():
        path = PRETRAINED / str(run)
    if not (path / CHECKPOINTS / "best.pt").exists():
        shipped = ", ".join(sorted(p.name for p in PRETRAINED.iterdir() if p.is_dir())) if PRETRAINED.exists() else ""
        raise ConfigError(f"run={run} is not a trained run directory (no {CHECKPOINTS}/best.pt); give a folder "
                          f"under runs/ that training wrote{f' or a shipped run: {shipped}' if shipped else ''}")
    return path


def read_context(path: str | Path) -> np.ndarray:
    """The series in `path` as (B, T, D) float64 (B = 1 but for stores of trajectories and 3-D arrays).

    Raises:
        DataError: a missing file, an unknown format, an array of another rank, a non-numeric table.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"context={path} does not exist; give a .npy, .csv or .zarr file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        x = np.load(path, allow_pickle=False)
    elif suffix == ".csv":
        x = _read_csv(path)
    elif suffix == ".zarr":
        x = _read_store(path)
    else:
        raise DataError(f"context={path}: unknown format {suffix or '(none)'}; give a .npy, .csv or .zarr file")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"context={path} holds {x.dtype} values, not numbers")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise DataError(f"context={path} has shape {x.shape}; give (T,), (T, D) or (B, T, D)")
    return x.astype(np.float64)


def forecast_context(run_dir: str | Path, context: np.ndarray, n_steps: int, *, channels: str = "joint",
                     seed: int = 0) -> np.ndarray:
    """Forecasts (B, n_steps, D) from contexts (B, T, D) with the run's kept model, in the contexts' units.

    Raises:
        ConfigError: no run there, a bad n_steps or channels.
        DataError: a context the model cannot read (channels, NaN, too short).
    """
    from .models.dynamix import zero_shot_forecast

    if not isinstance(n_steps, int) or isinstance(n_steps, bool) or n_steps < 1:
        raise ConfigError(f"n_steps must be a positive integer, got {n_steps!r}")
    if channels not in CHANNELS:
        raise ConfigError(f"forecast.channels must be joint or independent, got {channels!r}")
    run = load_run(resolve_run(run_dir))
    if run.meta.get("system") != CORPUS_SYSTEM:
        if channels == "independent":
            raise ConfigError("forecast.channels=independent is for a pretrained DynaMix (run=dynamix); this run "
                              "forecasts the channels of its own system together")
        return _forecast_own_system(run, context, n_steps, seed)
    if channels == "independent":
        parts = [zero_shot_forecast(run.model, context[..., [i]], n_steps, seed=seed + i)
                 for i in range(context.shape[-1])]
        return np.concatenate(parts, axis=-1)
    return zero_shot_forecast(run.model, context, n_steps, seed=seed)


def on_store(run: Run, store: Path) -> Run:
    """`run` judged on another store's test cases: a run of one system on a store of that system
    (same dimension, in the run's units), a pretrained DynaMix on a store of any system of its
    dimension, each context standardized by its own statistics (`ContextStandardized`; the
    normalizer then is the store's own, so the figures are in that store's standardized units).

    Raises:
        DataError: a store that is missing or partial, of another dimension, or with forcing.
    """
    from .data import Normalizer, forcing_variables, validate
    from .models.dynamix import ContextStandardized

    ds = validate(store)
    dim = int(run.meta["obs_dim"])
    if ds.attrs["kind"] not in ("ode", "series") or ds.sizes.get("dim") != dim or forcing_variables(ds):
        raise DataError(f"input={store} holds {ds.attrs['kind']} data of {ds.sizes.get('dim')} channel(s); the run "
                        f"reads {dim}-D vectors without forcing: give a store of such a system")
    meta = {**run.meta, "data_store": str(store.resolve()), "state_names": ds.attrs.get("state_names")}
    if run.meta.get("system") != CORPUS_SYSTEM:
        if ds.attrs["system"] != run.meta.get("system"):
            raise DataError(f"input={store} is a {ds.attrs['system']} store; this run learned {run.meta.get('system')} "
                            "(a pretrained DynaMix, run=dynamix, forecasts other systems zero-shot)")
        return dataclasses.replace(run, meta=meta)
    return dataclasses.replace(run, model=ContextStandardized(run.model), normalizer=Normalizer.from_attrs(ds.attrs),
                               meta=meta)


def check_output(output: str | Path, n_series: int) -> None:
    """Refuse, before any forecast, an output `write_forecast` cannot write.

    Raises:
        ConfigError: another extension than .npy / .csv, or several series into a CSV.
    """
    suffix = Path(output).suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise ConfigError(f"output={output}: write .npy or .csv")
    if suffix == ".csv" and n_series > 1:
        raise ConfigError(f"output={output}: {n_series} forecasts do not fit one CSV table; write .npy")


def write_forecast(forecast: np.ndarray, output: str | Path) -> Path:
    """Write (B, n, D) forecasts to a ``.npy`` ((n, D) for one) or a ``.csv`` (one series), atomically."""
    check_output(output, len(forecast))
    output = Path(output)
    suffix = output.suffix.lower()
    output.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        with atomic_file(output) as tmp, open(tmp, "wb") as handle:
            np.save(handle, forecast[0] if len(forecast) == 1 else forecast)
    else:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([f"x{i + 1}" for i in range(forecast.shape[-1])])
        writer.writerows([[repr(float(v)) for v in row] for row in forecast[0]])
        atomic_write_text(text.getvalue(), output)
    return output


def _forecast_own_system(run: Run, context: np.ndarray, n_steps: int, seed: int) -> np.ndarray:
    dim = int(run.meta["obs_dim"])
    if context.shape[-1] != dim or run.meta.get("io", {}).get("forcing"):
        raise DataError(f"the series has {context.shape[-1]} channel(s); this run forecasts its own system's {dim} "
                        "(without forcing): give that series, or use a pretrained DynaMix (run=dynamix)")
    if not np.isfinite(context).all():
        raise DataError("the context has NaN or Inf values; fill or cut the gaps before forecasting")
    parameter = next(run.model.parameters())
    with torch.inference_mode(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        x = run.normalizer.normalize(torch.from_numpy(context)).to(parameter.device, parameter.dtype)
        forecast = run.model.rollout(x, n_steps)
        return run.normalizer.denormalize(forecast.double().cpu()).numpy()


def _read_csv(path: Path) -> np.ndarray:
    rows = [row for row in csv.reader(path.read_text(encoding="utf-8").splitlines()) if row]
    if rows and not _numeric(rows[0]):
        rows = rows[1:]  # a header
    if not rows:
        raise DataError(f"context={path} has no rows of numbers")
    if len({len(r) for r in rows}) != 1:
        raise DataError(f"context={path}: rows have different numbers of columns; give a (T, D) table")
    try:
        return np.array([[float(v) if v.strip() else np.nan for v in row] for row in rows])
    except ValueError as error:
        raise DataError(f"context={path} has a value that is not a number ({error}); give a (T, D) table of numbers")


def _numeric(row: list[str]) -> bool:
    try:
        [float(v) for v in row if v.strip()]
    except ValueError:
        return False
    return True


def _read_store(path: Path) -> np.ndarray:
    from .data import layout_of, open_store, split_indices

    ds = open_store(path)
    kind = ds.attrs["kind"]
    if kind == "series":
        return ds[layout_of(ds).variable].values
    if kind == "ode":
        return ds[layout_of(ds).variable].isel(traj=split_indices(ds, "test")).values
    raise DataError(f"context={path} is a {kind} store; forecasting from a context reads series and ODE stores")
