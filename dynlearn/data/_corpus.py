"""A pretraining corpus of many systems: catalogue ODEs with parameters drawn near the published
ones, random initial conditions, every sequence standardized by its own statistics and labelled
with its system (DynaMix's training data, Hemmer & Durstewitz 2025).

Built in two steps so a build can fan out and resume: `simulate_part` simulates one system into
``<store>.parts/<system>.npz`` (written atomically, kept until the store is complete, so a killed
build redoes only the systems not written), and `assemble_corpus` writes the parts, in a seeded
shuffle, into one ``ode`` store, all or nothing. `build_corpus` does both in one process; the flow
``python -m flows.generate +exp=dynamix_pretrain`` runs one process per system.

Systems are sampled at about the same rate: `sampling` picks each one's stored step so that the
mean period (the spectral centroid of the nominal attractor) spans about ``steps_per_period``
stored steps (dysts' 100 points per period). The store's ``time`` coordinate counts steps
(``dt`` 1); each sequence's own time step is its ``dt_stored`` coordinate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import zarr

from .._errors import ConfigError, DataError
from ..atomic import atomic_file
from ..metrics import mean_period
from ._ingest_write import Source, write_store
from ._store import is_complete, store_attrs, store_lock

# Held out of pretraining for zero-shot evaluation: Lorenz-63 with its close relative Chen, Rössler,
# and two more the authors also test on (Chua; a Sprott system).
HELD_OUT = ("lorenz63", "chen", "rossler", "chua", "sprott_s")
CORPUS_DIM = 3
# Chaotic 3-D systems whose chaos does not survive the perturbation: 1 of 160 Hindmarsh-Rose draws at
# spread 0.1 stayed chaotic; Rabinovich-Fabrikant draws blow up from new initial conditions.
FRAGILE = ("hindmarsh_rose", "rabinovich_fabrikant")
_PERIOD_STEPS = 8_000  # nominal steps whose spectrum gives a system's mean period


@dataclass(frozen=True)
class CorpusSpec:
    """Which systems, how many draws of each, how long (config ``data=corpus``, key ``data.corpus``).

    Attributes:
        systems: catalogue systems to draw from; empty: every 3-D chaotic catalogue ODE neither held
            out nor `FRAGILE`.
        held_out: systems kept out (asking for one of them is refused).
        draws: parameter sets per system: the published one and draws-1 perturbed ones
            (`dynlearn.systems.sample_systems`, blow-ups and lost chaos rejected).
        per_draw: sequences per parameter set, from random initial conditions on the attractor.
        n_steps: stored steps per sequence.
        steps_per_period: stored steps per mean period (see `sampling`).
        spread: relative scale of the parameter perturbation (lognormal).
        val_fraction, test_fraction: sequences in the val and test splits (after a seeded shuffle).
        seed: seeds the draws, initial conditions and shuffle.
    """

    systems: tuple[str, ...] = ()
    held_out: tuple[str, ...] = HELD_OUT
    draws: int = 16
    per_draw: int = 4
    n_steps: int = 2_000
    steps_per_period: float = 100.0
    spread: float = 0.1
    val_fraction: float = 0.03
    test_fraction: float = 0.03
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "systems", tuple(self.systems))
        object.__setattr__(self, "held_out", tuple(self.held_out))
        for name in ("draws", "per_draw", "n_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"data.corpus.{name} must be >= 1, got {getattr(self, name)}")
        if not self.steps_per_period >= 4:
            raise ConfigError(f"data.corpus.steps_per_period must be >= 4, got {self.steps_per_period}")
        if not 0 < self.spread < 1:
            raise ConfigError(f"data.corpus.spread must be in (0, 1), got {self.spread}")
        if not (self.val_fraction >= 0 and self.test_fraction >= 0 and self.val_fraction + self.test_fraction < 1):
            raise ConfigError("data.corpus.val_fraction and test_fraction must be >= 0 and leave a train split")
        leaked = sorted(set(self.systems) & set(self.held_out))
        if leaked:
            raise ConfigError(f"data.corpus.systems includes held-out {', '.join(leaked)}; drop them from "
                              "systems (or from held_out, losing their zero-shot evaluation)")

    def system_names(self) -> list[str]:
        """The systems drawn from, checked against the catalogue."""
        from ..systems import load_catalog

        catalog = load_catalog()
        names = list(self.systems) or [n for n, s in catalog.items()
                                       if s.dim == CORPUS_DIM and s.chaotic and n not in (*self.held_out, *FRAGILE)]
        for name in names:
            if name not in catalog:
                raise ConfigError(f"data.corpus.systems: unknown system {name!r}; choose from {', '.join(catalog)}")
            if catalog[name].dim != CORPUS_DIM:
                raise ConfigError(f"data.corpus.systems: {name} is {catalog[name].dim}-D; the corpus holds 3-D systems")
        return names


@dataclass(frozen=True)
class Sampling:
    """How a system is simulated and stored: `save_every` steps of `dt_simulated` per stored step."""

    dt_simulated: float
    save_every: int
    mean_period_steps: float  # at the catalogue's dt

    @property
    def dt_stored(self) -> float:
        return self.dt_simulated * self.save_every


def sampling(name: str, steps_per_period: float = 100.0) -> Sampling:
    """The stored step of catalogue system `name` that gives about `steps_per_period` stored steps
    per mean period: every k-th step of the catalogue's dt, k = round(period / steps_per_period),
    or, for a period shorter than `steps_per_period` steps, a proportionally smaller dt.

    The mean period is the inverse spectral centroid of the nominal attractor (`mean_period` over
    the standardized coordinates of 4 orbits of 8,000 steps at the catalogue's dt), which is
    steadier than the spectral peak on broadband spectra.
    """
    from ..solvers import make_step, rollout
    from ..systems import make_ode_system

    system = make_ode_system(name)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x = rollout(make_step(system, system.dt), system.sample_initial_conditions(4, generator), _PERIOD_STEPS)
    period = mean_period(x.numpy().transpose(1, 0, 2).reshape(_PERIOD_STEPS, -1))  # every orbit's dims as columns
    k = max(1, round(period / steps_per_period))
    dt = system.dt * min(1.0, period / steps_per_period) if k == 1 else system.dt
    return Sampling(dt_simulated=float(dt), save_every=k, mean_period_steps=period)


def part_path(store: Path, name: str) -> Path:
    return Path(f"{store}.parts") / f"{name}.npz"


def part_key(name: str, spec: CorpusSpec) -> str:
    """What a system's part depends on: the system and the settings that shape its sequences (not
    the other systems, nor the splits)."""
    shaping = {k: getattr(spec, k) for k in ("draws", "per_draw", "n_steps", "steps_per_period", "spread", "seed")}
    return hashlib.sha256(json.dumps({"system": name, **shaping}, sort_keys=True).encode()).hexdigest()[:16]


def simulate_part(store: str | Path, name: str, spec: CorpusSpec) -> Path:
    """Simulate system `name`'s sequences into its part file (kept as it is when there from the
    same `part_key`).

    The part holds ``states`` (S, n_steps, 3) float32, each sequence standardized by its own mean
    and std per coordinate (kept as ``mean`` / ``std``), ``draw`` (S,), the draws' ``params``
    (JSON) and the `Sampling`. Its generator is seeded by (seed, system), so a part does not depend
    on which process or in which order it is made.
    """
    from ..systems import make_ode_system, sample_systems

    path, key = part_path(Path(store), name), part_key(name, spec)
    if path.exists() and str(np.load(path)["key"]) == key:
        return path
    how = sampling(name, spec.steps_per_period)
    generator = torch.Generator().manual_seed(_system_seed(spec.seed, name))
    drawn = [make_ode_system(name)]
    if spec.draws > 1:
        drawn += sample_systems(name, spec.draws - 1, generator, spread=spec.spread)
    draws, states, labels, tries = [], [], [], 0
    while len(states) < spec.draws:
        if not drawn:  # a draw whose new initial conditions blew up is replaced by another
            if tries >= 2 * spec.draws + 10:
                raise DataError(f"draws of {name} keep blowing up from new initial conditions at spread "
                                f"{spec.spread}; lower data.corpus.spread, then rerun (finished systems are kept)")
            drawn = sample_systems(name, 1, generator, spread=spec.spread)
        system, tries = drawn.pop(0), tries + 1
        x = _simulate(system, how, spec, generator)
        if x is not None:
            labels += [len(states)] * spec.per_draw
            states.append(x)
            draws.append(system)
    raw = np.concatenate(states)
    mean, std = raw.mean(axis=1, keepdims=True), raw.std(axis=1, keepdims=True)
    with atomic_file(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, key=key, states=((raw - mean) / std).astype(np.float32), mean=mean[:, 0], std=std[:, 0],
                 draw=np.array(labels), params=json.dumps([dict(s.params) for s in draws]),
                 sampling=json.dumps(dataclasses.asdict(how)))
    return path


def assemble_corpus(store: str | Path, spec: CorpusSpec, *, config_hash: str) -> Path:
    """Write every system's part into one store (all or nothing), then remove the parts.

    Raises:
        DataError: a part is missing or from another config (run its system again).
    """
    store = Path(store)
    names = spec.system_names()
    parts = {}
    for name in names:
        path = part_path(store, name)
        if not path.exists() or str(np.load(path)["key"]) != part_key(name, spec):
            raise DataError(f"the corpus part of {name} is missing or from another config ({path}); "
                            "rerun the corpus build, which simulates only what is missing")
        parts[name] = dict(np.load(path))
    states = np.concatenate([p["states"] for p in parts.values()])
    system = np.concatenate([[n] * len(p["states"]) for n, p in parts.items()])
    order = np.random.default_rng(spec.seed).permutation(len(states))  # every split mixes systems
    dt = {n: Sampling(**json.loads(str(p["sampling"]))).dt_stored for n, p in parts.items()}
    coords = {
        "traj": np.arange(len(states)),
        "time": np.arange(spec.n_steps, dtype=np.float64),
        "dim": np.arange(CORPUS_DIM),
        "system": ("traj", system[order].astype(str)),
        "draw": ("traj", np.concatenate([p["draw"] for p in parts.values()])[order]),
        "dt_stored": ("traj", np.array([dt[n] for n in system[order]])),
        "raw_mean": (("traj", "dim"), np.concatenate([p["mean"] for p in parts.values()])[order]),
        "raw_std": (("traj", "dim"), np.concatenate([p["std"] for p in parts.values()])[order]),
    }
    shuffled = states[order]
    source = Source(kind="ode", shape=shuffled.shape, dtype=np.dtype(np.float32),
                    read=lambda start, stop: shuffled[start:stop], coords=coords,
                    coord_attrs={"time": {"units": "steps"}, "system": {"long_name": "system of the sequence"}},
                    variable_attrs={"long_name": "state, standardized per sequence"}, units="standardized")
    attrs = store_attrs(kind="ode", system="dynamix_corpus", params={"systems": names, "held_out": list(spec.held_out)},
                        state_names=["x1", "x2", "x3"], dt=1.0, dt_simulated=None, solver="rk4", seed=spec.seed,
                        lyapunov_time=None, units="standardized", config_hash=config_hash)
    attrs["corpus"] = dataclasses.asdict(spec)
    attrs["corpus_systems"] = {n: {"sampling": json.loads(str(p["sampling"])), "draws": json.loads(str(p["params"])),
                                   "sequences": int(len(p["states"]))} for n, p in parts.items()}
    fractions = (1 - spec.val_fraction - spec.test_fraction, spec.val_fraction, spec.test_fraction)
    write_store(store, source, attrs, fractions)
    shutil.rmtree(f"{store}.parts", ignore_errors=True)
    return store


def build_corpus(store: str | Path, spec: CorpusSpec, *, config_hash: str, log=None) -> Path:
    """The corpus store at `store`: reused when complete from the same config, else built in this
    process (systems already simulated by a killed build are kept).

    Raises:
        DataError: a store from another config is at `store` (delete it or rename the corpus).
    """
    store = Path(store)
    with store_lock(store):
        if store.exists():  # assembly is atomic: a store here is complete, or not one of ours
            if not is_complete(store) or zarr.open_group(str(store), mode="r").attrs.get("config_hash") != config_hash:
                raise DataError(f"{store} is not a corpus built from this config; delete it, or set "
                                "data.name=<new name> to keep both")
            return store
        for name in spec.system_names():
            simulate_part(store, name, spec)
            if log:
                log(f"corpus: {name} simulated")
        return assemble_corpus(store, spec, config_hash=config_hash)


def _simulate(system, how: Sampling, spec: CorpusSpec, generator: torch.Generator) -> np.ndarray | None:
    """`spec.per_draw` stored sequences of `system` from random initial conditions on its
    attractor, or None when they leave the finite numbers (the screening saw other initial conditions)."""
    from ..solvers import make_step, rollout

    try:
        x0 = system.sample_initial_conditions(spec.per_draw, generator)
    except ConfigError:  # diverged in its transient
        return None
    with torch.no_grad():
        x = rollout(make_step(system, how.dt_simulated), x0, spec.n_steps * how.save_every, save_every=how.save_every)
    return x.numpy() if torch.isfinite(x).all() else None


def _system_seed(seed: int, name: str) -> int:
    return int(hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()[:12], 16)


def corpus_labels(ds) -> np.ndarray:
    """The system of every sequence of a corpus store (its ``system`` coordinate)."""
    if "system" not in ds.coords:
        raise DataError("the store has no per-sequence system labels; it is not a corpus store")
    return np.asarray(ds["system"].values).astype(str)


