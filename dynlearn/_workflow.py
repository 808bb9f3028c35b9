"""The jobs behind the commands and flows: generate, train, evaluate.

Each takes validated `Settings` (or a run directory) and returns paths, so a Prefect task can
call it with small arguments and pass paths on.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from ._context_forecast import PRETRAINED, on_store, resolve_run
from ._errors import ConfigError, DataError, TrainingDiverged
from ._evaluate import evaluate, protocol_of
from ._evaluate_field import FIELD_PROTOCOL, MIN_FIELD_STEPS
from ._forecast_skill import SKILL_PROTOCOL
from ._run import (
    CHECKPOINTS,
    check_resumable,
    create_run_dir,
    find_resumable,
    load_run,
    timestamp,
    write_status,
)
from ._short_forecast import short_cases
from ._settings import EvalSpec, family_misfit, Settings, sized_model_options, timed_model_options
from .data import (
    Normalizer,
    WindowDataset,
    build_corpus,
    cell_normalizer,
    embed_store,
    evaluation_cases,
    forecast_inits,
    generate_store,
    validate,
)
from .metrics import TAIL_STEPS
from .models import DataFacts, IOShape, make_model, model_family
from .train import VALIDATION_TRANSIENT, FieldJudge, Judge, fit


def generate(settings: Settings, *, progress: bool = True) -> Path:
    """Simulate the configured system into its store (or reuse / resume the store there)."""
    if settings.data_given:
        raise ConfigError("data.path names an existing store, so there is nothing to generate; "
                          "drop data.path to generate into paths.data/<data.name>.zarr")
    torch.set_num_threads(settings.threads)
    if settings.corpus is not None:
        return build_corpus(settings.data_store, settings.corpus, config_hash=settings.data_hash,
                            log=print if progress else None)
    return generate_store(settings.data_store, settings.system, settings.data,
                              config_hash=settings.data_hash, dt=settings.dt, progress=progress)


def train(settings: Settings, *, run_evaluation: bool = True) -> Path:
    """Generate data if missing, train, evaluate; returns the run directory.

    With ``run_evaluation=False`` the run stays in state 'trained' until an evaluation marks it
    complete (the pipeline evaluates in a task of its own).

    Raises:
        DataError: the store is partial, has NaNs or does not fit the model.
        TrainingDiverged: NaN/Inf during training (the run keeps its last good checkpoint).
    """
    torch.set_num_threads(settings.threads)
    family = model_family(settings.model_name)
    store = settings.data_store if settings.data_given else generate(settings, progress=settings.trainer.progress)
    ds = validate(store)  # refuses partial stores and NaNs before any run directory exists
    protocol = protocol_of(ds)
    _check_family_fits(settings.model_name, ds, store)

    def evaluable(data) -> None:  # a store the protocol cannot evaluate is refused now, not after training
        if protocol == SKILL_PROTOCOL:
            forecast_inits(data, "test", context=settings.eval.context, stride=1, lead=settings.eval.lead_steps)
        elif protocol == FIELD_PROTOCOL:
            evaluation_cases(data, "test", n_cases=settings.eval.n_ics, n_steps=settings.eval.n_steps,
                             context=settings.eval.context, min_steps=MIN_FIELD_STEPS)
        else:
            evaluation_cases(data, "test", n_cases=settings.eval.n_ics, n_steps=settings.eval.n_steps,
                             context=settings.eval.context)
            if settings.eval.short_context is not None:  # PhyxMamba's short forecasts need their windows too
                short_cases(data, n_cases=settings.eval.short_cases,
                            length=settings.eval.short_context + settings.eval.short_horizon)

    evaluable(ds)
    embedding = None
    if settings.delay_embedding is not None:
        # The model learns, free-runs and is judged on delay vectors: all of it reads the derived store.
        store = embed_store(store, settings.delay_embedding, check=evaluable)
        ds = validate(store, check_values=False)  # made from the values just checked
        how = "auto" if settings.delay_embedding == "auto" else "given"
        embedding = {**ds.attrs["delay_embedding"], "chosen": how}
    trainer = settings.trainer
    normalizer = cell_normalizer(store) if trainer.normalization == "cell" else Normalizer.from_attrs(ds.attrs)
    # Selection by free-run invariants (or, on 2-D fields, by forecast error); a driven store keeps the last model.
    validation = validation_judge(ds, settings, normalizer) if trainer.eval_every and protocol != SKILL_PROTOCOL \
        else None
    # The store was just validated (values included); the dataset need not scan it again. It
    # gives the windows in the layout the family reads, with their forcing.
    train_data = WindowDataset(store, "train", trainer.seq_len + 1, dtype=settings.dtype, layout=family.layout,
                               check_values=False, normalizer=normalizer, climatology_from=trainer.forecast_context
                               if trainer.future_forcing == "climatology" else None, horizon=trainer.horizon)
    io = IOShape(train_data.item_shape, train_data.forcing_shape)
    options = timed_model_options(sized_model_options(settings.model_options, io.dim), float(ds.attrs["dt"]))
    options = family.resolve_options(options, data_facts(train_data, ds, normalizer))  # e.g. delays left null
    # Built (initialized) on the CPU, so a seed gives the same weights on any device, then moved.
    model = make_model(settings.model_name, io, **options).to(settings.device, settings.dtype)  # before the run dir
    run_dir = _run_dir(settings)
    meta = {
        "model_name": settings.model_name,
        "model_options": options,
        "obs_dim": io.dim,
        "io": {"state": list(io.state), "forcing": list(io.forcing)},
        "dtype": str(settings.dtype).removeprefix("torch."),
        "dt": float(ds.attrs["dt"]),
        "lyapunov_time": ds.attrs.get("lyapunov_time"),
        "state_names": ds.attrs.get("state_names"),
        "system": ds.attrs["system"],
        "data_store": str(Path(store).resolve()),
        "norm_mean": normalizer.tolist()[0],
        "norm_std": normalizer.tolist()[1],
        "delay_embedding": embedding,
    }
    try:
        result = fit(model, train_data, validation, settings.trainer, run_dir / CHECKPOINTS,
                     seed=settings.seed, resume=settings.resume is not None and settings.resume is not False,
                     metadata=meta)
    except TrainingDiverged:
        write_status(run_dir, state="diverged")
        raise
    write_status(run_dir, state="trained", epochs=result.epochs_done, stopped_early=result.stopped_early,
                 best_epoch=result.best_epoch, train_seconds=round(logged_seconds(run_dir / CHECKPOINTS), 1))
    if run_evaluation:
        complete_run(run_dir, settings.eval)
    return run_dir


def data_facts(train_data: WindowDataset, ds, normalizer: Normalizer) -> DataFacts:
    """What a family may know of its training data before it is built (`AbstractModel.resolve_options`)."""
    mean, std = normalizer.tolist()
    system = ds.attrs.get("system_description")  # generated stores; an ingested one has no equations
    return DataFacts(series=lambda: train_data.trajectory(0)["x"].numpy(),
                     system=dict(system) if system else None,
                     norm_mean=mean, norm_std=std,
                     n_slots=1 + int(train_data.trajectories.max(initial=0)) if train_data.by_trajectory else 1,
                     n_times=max(stop for _, _, stop in train_data.segments))


def logged_seconds(checkpoint_dir: Path) -> float:
    """Seconds of every epoch in the training log, summed: the training time of a run across its
    resumes (the process that finishes a resumed run saw only its own share)."""
    with (checkpoint_dir / "train_log.csv").open(newline="") as f:
        return sum(float(row["seconds"]) for row in csv.DictReader(f))


def complete_run(run_dir: str | Path, spec: EvalSpec) -> dict:
    """Evaluate a trained run's kept model into the run directory itself and mark it complete
    (the last stage of `train`, and of the pipeline's evaluate task); returns the metrics."""
    run = load_run(run_dir)
    run.model.write_report(Path(run_dir))  # family-specific tables and figures of the kept model
    metrics = evaluate(run, spec, Path(run_dir))
    write_status(Path(run_dir), state="complete")
    return metrics


def evaluate_run(run_dir: str | Path, spec: EvalSpec | None = None, *, input_store: str | Path | None = None,
                 runs_root: str | Path = "runs") -> Path:
    """Evaluate a finished run into a new ``eval-<timestamp>/`` folder inside it.

    With `input_store`, on that store's test cases instead of the run's own (a store of the same
    system and dimension; a pretrained DynaMix judges any 3-D system zero-shot, each context
    standardized by its own statistics, `on_store`). A run shipped with dynlearn (``run=dynamix``)
    is evaluated into ``<runs_root>/<its name>/eval-<timestamp>/`` (the package stays read-only).
    """
    run_dir = resolve_run(run_dir)
    run = load_run(run_dir)
    if input_store is not None:
        run = on_store(run, Path(input_store))
    shipped = PRETRAINED in run_dir.resolve().parents
    out = (Path(runs_root) / run_dir.name if shipped else run_dir) / f"eval-{timestamp()}"
    evaluate(run, spec or EvalSpec(), out)
    return out


def validation_judge(ds, settings: Settings, normalizer: Normalizer | None = None) -> Judge | FieldJudge:
    """Judges free runs from the validation cases, in the model's normalized units.

    Shorter runs than the test protocol's, but as many cases (>= 8 to see multistability) and
    the same collapse / divergence rules, so selection never keeps a model that fails them; and
    `trainer.probe_starts` more starts inside each case, judged for collapse and divergence only,
    so a coexisting attractor that catches a few starts in ten is seen before it is kept.
    On 2-D fields, the test protocol's forecasts from the validation cases, by relative L2.
    """
    normalize = (normalizer or Normalizer.from_attrs(ds.attrs)).normalize
    standardized = lambda x: normalize(torch.from_numpy(x.astype(np.float64))).numpy()  # noqa: E731
    if protocol_of(ds) == FIELD_PROTOCOL:
        cases = evaluation_cases(ds, "val", n_cases=settings.eval.n_ics, n_steps=settings.eval.n_steps,
                                 context=settings.eval.context, min_steps=MIN_FIELD_STEPS)
        return FieldJudge(cases.map(standardized))
    cases = evaluation_cases(ds, "val", n_cases=settings.eval.n_ics, n_steps=settings.trainer.eval_steps,
                             context=settings.eval.context)
    cases = cases.map(standardized)
    probes = cases.inner_contexts(settings.trainer.probe_starts)
    return Judge.build(ds.attrs, cases, float(ds.attrs["dt"]), bins=settings.eval.bins,
                       dh_cutoff=settings.eval.dh_cutoff, transient=VALIDATION_TRANSIENT, probes=probes,
                       probe_steps=min(TAIL_STEPS, cases.n_steps),
                       # no longer than the test protocol's (debug=fast shrinks it), at most the judge's default
                       lyap_steps=min(settings.eval.lyap_steps, Judge.lyap_steps),
                       lyap_transient=min(settings.eval.lyap_transient, Judge.lyap_transient))


def _check_family_fits(name: str, ds, store: Path) -> None:
    """Refuse a store whose kind the family does not learn (`AbstractModel.kinds`)."""
    problem = family_misfit(name, ds.attrs["kind"], f"store {store}")
    if problem:
        raise DataError(problem)


def _run_dir(settings: Settings) -> Path:
    if settings.resume is None or settings.resume is False:
        return create_run_dir(settings.runs_root, settings.name, settings.config, settings.run_hash)
    if settings.resume is True:
        run_dir = find_resumable(settings.runs_root, settings.name, settings.run_hash)
        if run_dir is None:
            raise ConfigError(f"resume=true but no unfinished run of '{settings.name}' with this config "
                              f"is under {settings.runs_root}; drop resume to start a new run")
        return run_dir
    run_dir = Path(settings.resume)
    check_resumable(run_dir, settings.run_hash)
    return run_dir
