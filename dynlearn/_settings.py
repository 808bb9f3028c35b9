"""Typed settings of one dynlearn job, built from a plain mapping and checked up front.

The CLI turns the composed Hydra config into a `Settings`; the library takes only these typed
objects (it never reads config keys itself). Every check that can fail because of user input
happens here, before anything is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ._errors import ConfigError
from .data import CORPUS_DIM, CorpusSpec, GenerationSpec
from .train import TrainerConfig


@dataclass(frozen=True)
class EvalSpec:
    """The evaluation protocol v2 (free runs against held-out cases; see `dynlearn.evaluate`).

    Attributes:
        n_steps: true steps per test case compared with each free run.
        transient: free-run steps discarded before the attractor comparison.
        n_ics: test cases (initial conditions); the invariants are pooled over them.
        context: true observations each free run reads before it starts (1: the initial
            condition alone; families that read a window, as PhyxMamba, need theirs), in
            validation and test alike.
        lyap_steps, lyap_transient: length and transient of the Jacobian-QR λ_max per run.
        vpt_threshold: normalized-error threshold of the valid prediction time.
        bins: D_stsp bins per dimension (None: the documented rule, `metrics.stsp_bins`).
        dh_cutoff: keep frequencies up to this fraction of Nyquist in D_H (None: all).
        lead_steps: driven stores (with forcing) only: forecast lead times scored, in steps.
        future_forcing: driven stores only: what drives a forecast after its issue time:
            ``climatology`` (the training period's mean forcing of each cell: all a forecaster
            knows then) or ``observed`` (the weather that came: a perfect-forcing hindcast).
        short_context: PhyxMamba's short-forecast protocol (`dynlearn._short_forecast`): true
            steps read before each forecast (None: the protocol is off).
        short_horizon, short_cases: its forecast length in steps and number of test cases.
        smape_threshold: its cumulative-sMAPE threshold (0-200 scale) of ``vpt_smape``.
        short_lyapunov_time: the Lyapunov time (time units) its VPTs are counted in; None: the
            truth's 1/λ1, as protocol v2's. A paper's own unit, to compare with its table (PhyxMamba's
            Rössler unit is dysts's 1/0.1506 = 6.64, not 1/λ1 = 13.6: bench/RESULTS.md).
    """

    n_steps: int = 10_000
    transient: int = 1_000
    n_ics: int = 10
    context: int = 1
    lyap_steps: int = 20_000
    lyap_transient: int = 1_000
    vpt_threshold: float = 0.5
    bins: int | None = None
    dh_cutoff: float | None = None
    lead_steps: int = 7
    future_forcing: str = "climatology"
    short_context: int | None = None
    short_horizon: int = 300
    short_cases: int = 100
    smape_threshold: float = 30.0
    short_lyapunov_time: float | None = None

    def __post_init__(self) -> None:
        for name in ("n_steps", "n_ics", "context", "lyap_steps", "lead_steps", "short_horizon", "short_cases"):
            if getattr(self, name) < 1:
                raise ConfigError(f"eval.{name} must be >= 1, got {getattr(self, name)}")
        if self.short_context is not None and self.short_context < 1:
            raise ConfigError(f"eval.short_context must be >= 1 or null (off), got {self.short_context}")
        if self.short_lyapunov_time is not None and not self.short_lyapunov_time > 0:
            raise ConfigError(f"eval.short_lyapunov_time must be positive (time units) or null, got {self.short_lyapunov_time}")
        if self.transient < 0 or self.lyap_transient < 0:
            raise ConfigError("eval.transient and eval.lyap_transient must be >= 0")
        if self.future_forcing not in ("climatology", "observed"):
            raise ConfigError(f"eval.future_forcing must be climatology or observed (a perfect-forcing hindcast), "
                              f"got {self.future_forcing!r}")
        if self.bins is not None and self.bins < 2:
            raise ConfigError(f"eval.bins must be >= 2 or null (the rule by dimension), got {self.bins}")
        if self.dh_cutoff is not None and not 0 < self.dh_cutoff <= 1:
            raise ConfigError(f"eval.dh_cutoff is a fraction of the Nyquist frequency in (0, 1] or null, "
                              f"got {self.dh_cutoff}")


@dataclass(frozen=True)
class Settings:
    """Everything one generate / train / evaluate job needs, validated."""

    name: str
    system: Any  # an AbstractSystem; None when data.path gives the store (no simulator needed)
    dt: float  # simulation step (the store's dt when data.path is given)
    data: GenerationSpec
    data_store: Path
    data_given: bool  # True when data.path named an existing store (no generation)
    delay_embedding: tuple[int, int] | str | None  # (m, tau), "auto" or None (data.delay_embedding)
    model_name: str
    model_options: dict
    trainer: TrainerConfig
    eval: EvalSpec
    seed: int
    device: str
    dtype: torch.dtype
    threads: int
    runs_root: Path
    resume: str | bool | None
    run: Path | None
    config: dict  # the resolved config, as written to the run directory
    corpus: CorpusSpec | None = None  # data=corpus: a corpus of many systems, built instead of simulating `system`

    @property
    def data_hash(self) -> str:
        """Identifies the generated data: the system and the generation settings."""
        if self.corpus is not None:
            return _hash({"corpus": dataclasses.asdict(self.corpus)})
        return _hash({"system": self.system.to_dict() if self.system else None, "dt": self.dt, "data": dataclasses.asdict(self.data)})

    @property
    def run_hash(self) -> str:
        """Identifies a training run: everything that changes its result."""
        ignored = {"resume", "run", "threads", "paths", "device", "eval", "ingest", "source", "seeds", "jobs",
                   "input", "forecast", "context", "n_steps", "output"}
        config = {k: v for k, v in self.config.items() if k not in ignored}
        config["trainer"] = {k: v for k, v in config.get("trainer", {}).items()
                             if k not in ("progress", "wall_time_limit")}
        return _hash(config)


def build_settings(config: dict, *, check_model: bool = True) -> Settings:
    """Check a resolved config mapping and turn it into `Settings`.

    Args:
        config: the composed config.
        check_model: build the model once to check its name and options against the data
            (off for commands that build no model, like ``generate``).

    Raises:
        ConfigError: one line naming the bad key or value and the fix.
    """
    from .models import IOShape, make_model, model_family
    from .systems import make_system

    system_cfg = dict(config["system"])
    data_cfg = dict(config["data"])
    data_path = data_cfg.pop("path", None)
    data_name = data_cfg.pop("name")
    embedding = _delay_embedding(data_cfg.pop("delay_embedding", None))
    corpus_cfg, corpus = data_cfg.pop("corpus", None), None
    spec = typed(GenerationSpec, data_cfg, "data")
    given = data_path is not None
    store = Path(data_path) if given else Path(config["paths"]["data"]) / f"{data_name}.zarr"
    name = str(config["name"])
    if given:
        # A given store needs no simulator: its own dimension and dt decide.
        if not store.exists():
            raise ConfigError(f"data.path {store} does not exist; fix the path, or drop data.path to generate data")
        system, (state_shape, n_forcing, dt) = None, _store_shape(store)
        if name == str(system_cfg.get("id") or system_cfg["name"]):  # the default name: the system's
            name = store.name.removesuffix(".zarr")
    elif corpus_cfg is not None:  # many systems, built by `dynlearn.data.build_corpus`: no one simulator
        corpus = typed(CorpusSpec, dict(corpus_cfg), "data.corpus")
        corpus.system_names()  # unknown or non-3-D systems are refused now
        system, state_shape, n_forcing, dt = None, (CORPUS_DIM,), 0, 1.0
    else:
        dt = system_cfg.get("dt")
        if not isinstance(dt, (int, float)) or isinstance(dt, bool) or not dt > 0:
            raise ConfigError(f"system.dt must be a positive number, got {dt!r}; e.g. system.dt=0.01")
        system = make_system(system_cfg["name"], dt=float(dt), **dict(system_cfg.get("params") or {}))
        state_shape, n_forcing = tuple(system.state_shape), len(system.forcing_names)
    model_cfg = dict(config["model"])
    model_name = model_cfg.pop("name")
    model_cfg.update(_model_size_options(model_name, model_cfg, config.get("model_size", "cpu"), config["device"]))
    if check_model and system is not None:
        _check_family_fits_system(model_name, system)
    if check_model and corpus is not None and (problem := family_misfit(model_name, "ode", "the corpus")):
        raise ConfigError(problem)
    if check_model:  # checks the name and every option now (with `auto`, training checks m·dim again)
        if model_family(model_name).layout == "field":
            io = IOShape((1, *state_shape), (n_forcing, *state_shape))
        else:
            io = IOShape((math.prod(state_shape) * (embedding[0] if isinstance(embedding, tuple) else 1),))
        options = timed_model_options(sized_model_options(model_cfg, io.dim), float(dt))
        make_model(model_name, io, **model_family(model_name).resolve_options(options, None))
    dtype = {"float32": torch.float32, "float64": torch.float64}.get(config["dtype"])
    if dtype is None:
        raise ConfigError(f"dtype must be float32 or float64, got {config['dtype']!r}")
    device = config["device"]
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"device must be cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available; use device=cpu")
    threads = config["threads"]
    if not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be a positive integer, got {threads!r}")
    run = config.get("run")
    return Settings(
        name=name,
        system=system,
        dt=float(dt),
        data=spec,
        data_store=store,
        data_given=given,
        delay_embedding=embedding,
        model_name=model_name,
        model_options=model_cfg,
        trainer=typed(TrainerConfig, config["trainer"], "trainer"),
        eval=typed(EvalSpec, config["eval"], "eval"),
        seed=_int(config["seed"], "seed"),
        device=device,
        dtype=dtype,
        threads=threads,
        runs_root=Path(config["paths"]["runs"]),
        resume=config.get("resume"),
        run=Path(run) if run is not None else None,
        config=config,
        corpus=corpus,
    )


MODEL_SIZES = ("cpu", "small", "gpu")


def _model_size_options(model_name: str, model_cfg: dict, size: str, device: str) -> dict:
    """The options `model_size` sets (popping the `small` and `gpu` blocks off `model_cfg`):
    none for ``cpu`` (the family's defaults), the ``small`` block for debug=fast, the paper-sized
    ``gpu`` block, which trains on CUDA only."""
    blocks = {"small": model_cfg.pop("small", None) or {}, "gpu": model_cfg.pop("gpu", None)}
    if size not in MODEL_SIZES:
        raise ConfigError(f"unknown model_size {size!r}; choose one of: {', '.join(MODEL_SIZES)}")
    if size != "gpu":
        return blocks.get(size) or {}
    if blocks["gpu"] is None:
        raise ConfigError(f"model {model_name!r} has no gpu sizes (a `gpu:` block in conf/model/{model_name}.yaml); "
                          "drop model_size=gpu")
    if not torch.cuda.is_available():
        raise ConfigError("model_size=gpu is the paper-sized configuration for a CUDA GPU and this machine has "
                          "none; drop model_size=gpu to train the CPU-sized default")
    if device != "cuda":
        raise ConfigError("model_size=gpu trains on the GPU: add device=cuda")
    return blocks["gpu"]


def _check_family_fits_system(model_name: str, system) -> None:
    """Refuse a model family that cannot learn what the system gives, before anything is built."""
    problem = family_misfit(model_name, system.kind, f"system {system.name!r}")
    if problem:
        raise ConfigError(problem)


# What each store kind holds, for the one-line refusals.
_KIND_WORDS = {"ode": "ODE states", "series": "recorded series", "field1d": "1-D fields", "field2d": "2-D fields",
               "grid": "river grids", "stations": "station series"}


def family_misfit(model_name: str, kind: str, source: str) -> str | None:
    """Why model family `model_name` cannot learn `kind` data from `source` (one line naming the
    fix), or None when it can: each family declares the store kinds it reads (`AbstractModel.kinds`)."""
    from .models import list_models, model_family

    kinds = model_family(model_name).kinds
    if kind in kinds:
        return None
    others = [name for name in list_models() if kind in model_family(name).kinds]
    reads = ", ".join(_KIND_WORDS.get(k, k) for k in kinds)
    return (f"{source} gives {kind} data; model {model_name!r} learns {reads} only: choose "
            + (f"model={'|'.join(others)}" if others else "another store") + " for these data")


def sized_model_options(options: dict, obs_dim: int) -> dict:
    """`options` with ``latent_dim: null`` sized by the data dimension D:
    ``max(50, min(10 D, max(100, 2 D)))``, i.e. 50 up to 5 dimensions, 10 per dimension up to 100,
    and 2 per dimension beyond 50 dimensions.

    50 because the AL-RNN on Lorenz-63 (and on its x alone, delay-embedded in 3-D) reaches a
    pooled D_stsp several times lower with M = 50, P = 20 than with M = 30, P = 10 at about the
    same cost per epoch (bench/RESULTS.md); beyond 10 dimensions published sizes grow slower than
    the dimension (the AL-RNN paper's Lorenz-96 with 40: M = 100), and an RNN whose read-out is
    its first D units needs M >= D.
    """
    if "latent_dim" not in options or options["latent_dim"] is not None:
        return dict(options)
    return {**options, "latent_dim": max(50, min(10 * obs_dim, max(100, 2 * obs_dim)))}


def timed_model_options(options: dict, dt: float) -> dict:
    """`options` with ``dt: null`` set to the data's time step `dt` (the store's, for training):
    continuous-time families (the neural ODE) integrate over the time between observations."""
    if "dt" not in options or options["dt"] is not None:
        return dict(options)
    return {**options, "dt": dt}


def _delay_embedding(value) -> tuple[int, int] | str | None:
    """data.delay_embedding: null, "auto" or [m, tau] with integers m >= 2, tau >= 1."""
    if value is None or value == "auto":
        return value
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value) and value[0] >= 2 and value[1] >= 1):
        return int(value[0]), int(value[1])
    raise ConfigError(f"data.delay_embedding must be null, auto or [m,tau] with integers m >= 2 (delays) and "
                      f"tau >= 1 (steps), got {value!r}; e.g. data.delay_embedding=[3,20]")


def _store_shape(store: Path) -> tuple[tuple[int, ...], int, float]:
    """(shape of one stored state, forcing variables, stored dt) of an existing store, checked
    against the schema."""
    from .data import TIME, TRAJ, forcing_variables, layout_of, validate

    ds = validate(store, check_values=False)  # values are checked once, when training reads them
    layout = layout_of(ds)
    state = tuple(ds.sizes[d] for d in layout.dims if d not in (TRAJ, TIME))
    return state, len(forcing_variables(ds)), float(ds.attrs["dt"])


def typed(cls, values: dict, prefix: str):
    """Build dataclass `cls` from `values`, checking names and types (ints pass as floats)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown key {prefix}.{unknown[0]}; valid keys: {', '.join(sorted(names))}")
    checked = {}
    for key, value in values.items():
        checked[key] = _check_type(value, hints[key], f"{prefix}.{key}")
    return cls(**checked)


def _check_type(value, hint, key: str):
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, str):
            return value
        if typing.get_origin(kind) is tuple and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)  # tuple[str, ...]: a list of names
    names = " or ".join("null" if k is type(None) else k.__name__ for k in allowed)
    raise ConfigError(f"{key} must be {names}, got {value!r}")


def _int(value, key: str) -> int:
    return _check_type(value, int, key)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
