"""Batch forecasts: a trained run forecasts from many inits of a store into a forecast store (Zarr).

Every model family forecasts through the one interface (`AbstractModel.rollout`): a chunk of
inits, times the ensemble members, is one batch and one `rollout` call. The store is written
chunk by chunk with a progress record (`dynlearn.data.ForecastStore`), so a job killed at any
moment and run again computes only the chunks not yet recorded, and ends with the store an
uninterrupted job writes, bit for bit: the ensemble perturbations of chunk k come from their
own random stream (seed, k), whichever job computes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._errors import ConfigError, DataError
from ._forecast_scores import skill_by_lead
from ._run import CHECKPOINTS, Run, load_run
from .data import (
    SPLITS,
    TIME,
    TRAJ,
    ForecastStore,
    chunk_generator,
    forecast_inits,
    forcing_variables,
    in_layout,
    layout_of,
    open_store,
)

CHECKPOINT = "best"


@dataclass(frozen=True)
class ForecastSpec:
    """What to forecast, from where, and how to write it (config group ``forecast``).

    Attributes:
        lead: steps forecast from every init (at most the family's ``max_lead``).
        members: forecasts per init; more than one is an ensemble from perturbed initial conditions.
        perturbation: standard deviation of the Gaussian noise added to every context observation
            of every member, in the model's standardized units (a fraction of the training
            split's standard deviation per dimension); 0 without an ensemble.
        stride: steps between consecutive inits along a trajectory or period.
        split: the split of the input store the inits come from.
        chunk_inits: inits per chunk: one `rollout` of chunk_inits x members forecasts, one write,
            one resume point. Memory about chunk_inits x members x (context + lead) x the state size
            x 8 bytes, a few times over.
        context: observations each forecast reads before it starts (its init the last of them).
        seed: seeds the perturbations (chunk k draws from its own stream of (seed, k)).
        progress: a progress bar on stderr when it is a terminal; changes nothing written.
        channels: forecasts from a given series (``context=``, `dynlearn._context_forecast`):
            ``joint``, or ``independent`` (a pretrained DynaMix forecasts each channel alone);
            batch forecasts from a store do not read it.
    """

    lead: int = 100
    members: int = 1
    perturbation: float = 0.0
    stride: int = 10
    split: str = "test"
    chunk_inits: int = 256
    context: int = 1
    seed: int = 0
    progress: bool = True
    channels: str = "joint"

    def __post_init__(self) -> None:
        for name in ("lead", "members", "stride", "chunk_inits", "context"):
            if getattr(self, name) < 1:
                raise ConfigError(f"forecast.{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.perturbation) and self.perturbation >= 0):
            raise ConfigError(f"forecast.perturbation must be >= 0 (in standardized units), got {self.perturbation}")
        if self.members > 1 and self.perturbation == 0:
            raise ConfigError(f"forecast.members={self.members} needs forecast.perturbation > 0 (e.g. 0.01), or "
                              "every member is the same forecast")
        if self.split not in SPLITS:
            raise ConfigError(f"forecast.split must be one of {', '.join(SPLITS)}, got {self.split!r}")

    @property
    def written(self) -> dict:
        """The settings that change what is written (all but `progress`)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("progress", "channels")}


def forecast(run_dir: str | Path, input_store: str | Path, spec: ForecastSpec = ForecastSpec(), *,
             log: Callable[[str], None] | None = None) -> Path:
    """Forecast from every init of `input_store`'s split with the run's kept model into a Zarr store.

    The store goes to ``<run dir>/forecast-<key>/forecast.zarr``, the key a hash of the input
    store's config hash, the checkpoint's bytes and the spec (`ForecastSpec.written`): the same
    command finds the same folder, so a complete store is returned as it is and a partial one
    (a killed job) resumed. Its layout is `dynlearn.data.ForecastStore`'s; inits are
    `dynlearn.data.forecast_inits`. Forecasts run in the model's dtype from the standardized
    context (plus the perturbation), are stored in physical units (float64), and a driven store's
    observed forcing is passed over the context and every lead (a perfect-forcing hindcast).
    When all chunks are written, skill by lead is added (`skill_by_lead`): ``rmse``, ``acc``,
    ``crps`` (ensembles), ``nse`` / ``kge`` (discharge), ``n_verified``.

    Args:
        run_dir: a trained run directory (its ``best`` checkpoint forecasts).
        input_store: a store of the run's system, state shape, forcing and dt.
        spec: what to forecast.
        log: called with one line on the throughput (or reuse) at the end, e.g. ``print``.

    Returns:
        The forecast store's path.

    Raises:
        ConfigError: no run at `run_dir`, or a lead beyond the family's ``max_lead``.
        DataError: the input store is missing, partial, of another system, shape, forcing or dt,
            or its split has no init; all before anything is written.
    """
    run_dir, input_store = Path(run_dir), Path(input_store)
    if not (run_dir / CHECKPOINTS / f"{CHECKPOINT}.pt").exists():
        raise ConfigError(f"run={run_dir} is not a trained run directory (no {CHECKPOINTS}/{CHECKPOINT}.pt); "
                          "give a folder under runs/ that training wrote")
    run = load_run(run_dir, CHECKPOINT)
    ds = open_store(input_store)
    _check_fits(run, ds, input_store, spec)
    inits = forecast_inits(ds, spec.split, context=spec.context, stride=spec.stride, lead=spec.lead)
    checkpoint = hashlib.sha256((run_dir / CHECKPOINTS / f"{CHECKPOINT}.pt").read_bytes()).hexdigest()
    about = {"run": str(run_dir.resolve()), "checkpoint": CHECKPOINT, "checkpoint_sha256": checkpoint,
             "model": run.meta["model_name"], "input_store": str(input_store.resolve()),
             "input_config_hash": ds.attrs["config_hash"], "spec": spec.written}
    key = hashlib.sha256(json.dumps({k: about[k] for k in ("checkpoint_sha256", "input_config_hash", "spec")},
                                    sort_keys=True).encode()).hexdigest()[:16]
    path = run_dir / f"forecast-{key}" / "forecast.zarr"
    with ForecastStore.writing(path, key=key, source=input_store, inits=inits, members=spec.members,
                               chunk_inits=spec.chunk_inits, about=about) as store:
        if store.complete:
            if log:
                log(f"forecast: {path} is complete (same run, input and settings); nothing computed")
            return path
        job, done = store.start_job(), store.progress()["chunks_done"]
        started = time.perf_counter()
        for k in _chunks(store, done, spec.progress):
            contexts, observed, forcing = inits.read(ds, store.rows(k))
            store.write(k, forecast_chunk(run, contexts, forcing, spec, chunk_generator(spec.seed, k)), observed, job)
        seconds = time.perf_counter() - started
        store.finish(skill_by_lead(store, run.normalizer, ds.attrs))
    if log:
        n = store.n_inits - min(done * spec.chunk_inits, store.n_inits)  # the inits this job forecast
        steps = n * spec.members * spec.lead
        log(f"forecast: {path}: {store.n_chunks - done} of {store.n_chunks} chunks computed ({n} inits x "
            f"{spec.members} member{'s' if spec.members > 1 else ''} x {spec.lead} leads = {steps:,} forecast "
            f"steps) in {seconds:.2f} s: {steps / max(seconds, 1e-9):,.0f} forecast steps/s")
    return path


@torch.no_grad()
def forecast_chunk(run: Run, contexts: np.ndarray, forcing: np.ndarray | None, spec: ForecastSpec,
                   generator: torch.Generator) -> np.ndarray:
    """One batch: every init of a chunk times every member, in one `rollout`.

    Args:
        run: the run whose model forecasts.
        contexts: (n, context, *state_shape) in physical units.
        forcing: (n, context + lead, U, *state_shape) as stored, or None.
        spec: lead, members and perturbation.
        generator: the chunk's random stream for the perturbations.

    Returns:
        Forecasts (n, members, lead, *state_shape) in physical units, float64.
    """
    model, layout = run.model, type(run.model).layout
    dtype = getattr(torch, run.meta["dtype"])
    param = next(model.parameters(), None)  # a model may have none (a true flow map, persistence)
    device = param.device if param is not None else torch.device("cpu")
    axis = 2 if layout == "field" else -1  # where the normalization statistics run
    n, members = contexts.shape[0], spec.members
    x = run.normalizer.normalize(in_layout(torch.from_numpy(contexts), layout), axis=axis)  # (n, Tc, ...)
    x = x.unsqueeze(1).expand(n, members, *x.shape[1:])  # rows: init-major, then member
    if spec.perturbation:
        x = x + spec.perturbation * torch.randn(x.shape, generator=generator, dtype=torch.float64)
    u = None
    if forcing is not None:
        u = in_layout(torch.from_numpy(forcing), layout, channels=True).to(device, dtype)
        u = u.repeat_interleave(members, dim=0)
    y = model.rollout(x.reshape(n * members, *x.shape[2:]).to(device, dtype), spec.lead, u)  # (n * members, lead, ...)
    y = run.normalizer.denormalize(y.cpu().double(), axis=axis)
    return y.reshape(n, members, spec.lead, *contexts.shape[2:]).numpy()


def _check_fits(run: Run, ds, store: Path, spec: ForecastSpec) -> None:
    """Refuse an input store the run cannot read, and a lead its family does not forecast."""
    meta, family = run.meta, type(run.model)
    name = f"the run's {meta['model_name']}"
    if family.max_lead is not None and spec.lead > family.max_lead:
        raise ConfigError(f"forecast.lead={spec.lead} is beyond what {name} forecasts ({family.max_lead} steps); "
                          f"set forecast.lead<={family.max_lead}")
    fix = f"give input=<a store like the run's own, {run.data_store}>"
    if ds.attrs["system"] != meta["system"]:
        raise DataError(f"input={store} holds {ds.attrs['system']!r} data, the run was trained on "
                        f"{meta['system']!r}; {fix}")
    shape = tuple(ds.sizes[d] for d in layout_of(ds).dims if d not in (TIME, TRAJ))
    io = meta.get("io") or {"state": [meta["obs_dim"]], "forcing": [0]}
    reads = (math.prod(shape),) if family.layout == "vector" else (1, *shape)
    if tuple(io["state"]) != reads:
        raise DataError(f"input={store} has states of shape {shape} ({ds.attrs['kind']}), {name} reads "
                        f"{tuple(io['state'])} per step; {fix}")
    n_forcing = len(forcing_variables(ds)) * (math.prod(shape) if family.layout == "vector" else 1)
    if io["forcing"][0] != n_forcing:
        raise DataError(f"input={store} has forcing {list(forcing_variables(ds)) or 'none'}, {name} was trained "
                        f"with {io['forcing'][0]} input channels; {fix}")
    if not math.isclose(float(ds.attrs["dt"]), float(meta["dt"]), rel_tol=1e-9):
        raise DataError(f"input={store} is sampled at dt {ds.attrs['dt']}, {name} steps {meta['dt']}; {fix}")


def _chunks(store: ForecastStore, done: int, progress: bool):
    chunks = range(done, store.n_chunks)
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(chunks, desc=f"forecast {store.path.parent.name}", unit="chunk", initial=done,
                    total=store.n_chunks)
    return chunks
