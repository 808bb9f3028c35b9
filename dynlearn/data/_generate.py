"""Simulate a system (ODE, SDE or field) into a store, chunk by chunk, resumable after a kill."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import zarr

from .._errors import ConfigError, DataError
from ..solvers import SpectralStep
from ..systems import SDESystem, add_observation_noise
from ._chunks import CHECKSUMMED
from ._datasheet import write_datasheet
from ._generate_grid import generate_grid_store
from ._generate_sde import SDESimulation
from ._moments import Moments
from ._schema import COMPLETE, LAYOUTS, SPLIT, SPLITS, TIME, TRAJ
from ._store import (
    check_reusable,
    chunk_generator,
    create_store_atomically,
    finalize_store,
    generated_store_attrs,
    read_progress,
    remaining_chunks,
    store_lock,
    write_progress,
)

_RESUME = "_resume_state"


@dataclass(frozen=True)
class GenerationSpec:
    """How many trajectories to simulate, how long, and how to split and store them.

    Attributes:
        n_train, n_val, n_test: trajectories per split (the split is by whole trajectory).
        n_floor: true trajectories kept apart for the evaluation's true-vs-true floor (as many
            as test cases, so the floor is computed exactly like the model's figures).
        n_steps: stored steps per trajectory, after the transient.
        save_every: simulation steps per stored step (stored dt = dt_simulated * save_every).
        transient_time: extra time integrated (and discarded) after the initial-condition
            sampler, in system time units.
        chunk_steps: stored steps per Zarr chunk and per resume checkpoint.
        seed: seeds the initial conditions; the rest is deterministic.
        solver: the fixed-step method (see `dynlearn.solvers.make_system_step`); None picks
            the system's own (RK4 for ODEs, ETDRK4 for KS, Euler–Maruyama for SDEs, ...).
        observation_noise: Gaussian measurement noise added to the stored states, as a fraction
            of each dimension's std (one std for a field), e.g. 0.05 for 5 %; the dynamics and
            the resume state stay clean. The std is that of the first stored chunk (all
            trajectories), kept in the store as ``noise_scale`` so a resumed run uses the same.
    """

    n_train: int = 16
    n_val: int = 8
    n_test: int = 10
    n_floor: int = 10
    n_steps: int = 11_000
    save_every: int = 1
    transient_time: float = 10.0
    chunk_steps: int = 2_000
    seed: int = 0
    solver: str | None = None
    observation_noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("n_train", "n_steps", "save_every", "chunk_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_val", "n_test", "n_floor"):
            if getattr(self, name) < 0:
                raise ConfigError(f"data.{name} must be >= 0, got {getattr(self, name)}")
        if self.transient_time < 0:
            raise ConfigError(f"data.transient_time must be >= 0, got {self.transient_time}")
        if not self.observation_noise >= 0:
            raise ConfigError(f"data.observation_noise must be >= 0 (e.g. 0.05 for 5 %), got {self.observation_noise}")

    @property
    def n_traj(self) -> int:
        return self.n_train + self.n_val + self.n_test + self.n_floor


def generate_store(
    path: str | Path,
    system,
    spec: GenerationSpec,
    *,
    config_hash: str,
    dt: float | None = None,
    progress: bool = False,
) -> Path:
    """Simulate `system` into a Zarr store at `path`, or resume / reuse the store already there.

    A complete store with the same `config_hash` is reused as it is; a partial one (a killed
    run) is resumed from its last float64 state checkpoint, so the result is bitwise equal to
    an uninterrupted run. Generation runs in float64, batched over all trajectories. ODE
    systems and SDEs give ``state(traj, time, dim)``, fields ``u(traj, time, x)`` or
    ``vorticity(traj, time, y, x)`` (`dynlearn.data` LAYOUTS, by ``system.kind``). An SDE's
    Brownian increments are a function of (seed, trajectory, chunk) alone (`_generate_sde`).

    Args:
        path: the store directory to write.
        system: a system from `dynlearn.systems.make_system`.
        spec: sizes, split and chunking.
        config_hash: identifies the generating config; a store made from another config is
            never overwritten.
        dt: simulation step; defaults to the system's catalogue dt.
        progress: show a progress bar on stderr.

    Returns:
        The store path.

    Raises:
        DataError: `path` holds something else, or a store from a different config.
    """
    path = Path(path)
    with store_lock(path):  # one writer per store; a second job waits, then reuses what the first made
        return _generate(path, system, spec, config_hash=config_hash, dt=dt, progress=progress)


def _generate(path: Path, system, spec: GenerationSpec, *, config_hash: str, dt: float | None,
              progress: bool) -> Path:
    if system.kind == "grid":
        return generate_grid_store(path, system, spec, config_hash=config_hash, progress=progress)
    dt_sim = float(system.dt if dt is None else dt)
    if not dt_sim > 0:
        raise ConfigError(f"system dt must be positive, got {dt_sim}; set system.dt to a value > 0")
    if path.exists():
        check_reusable(path, config_hash, problem="was generated from a different config",
                       fix="delete it, or set data.name=<new name> to keep both")
        if read_progress(path).get(COMPLETE):
            return path
    started = time.perf_counter()
    if not path.exists():
        _create_template(path, system, spec, config_hash, dt_sim)
    simulation = make_simulation(system, spec, dt_sim)
    writer = ChunkWriter(path, zarr.open_group(str(path), mode="r+", use_consolidated=False), system.kind, spec)
    done = read_progress(path)["chunks_done"]
    if done == -1:
        writer.start(simulation.initial_states().reshape(spec.n_traj, *system.state_shape).numpy())
    _simulate_remaining(writer, simulation, progress=progress)
    _finish(path)
    # A resumed run's time covers only its own part, so its sheet gives no cost.
    write_datasheet(path, system, seconds=time.perf_counter() - started if done == -1 else None)
    return path


@dataclass(frozen=True)
class Chunk:
    """One chunk of a generation, as the simulation hands it to the store.

    Attributes:
        index: the chunk's number k (its observation noise is drawn from ``chunk_generator(seed, k)``).
        start: its first stored step.
        states: the clean stored states, (n_traj, length, *state_shape), float64.
        next_state: the float64 state the next chunk starts from, (n_traj, *state_shape).
    """

    index: int
    start: int
    states: np.ndarray
    next_state: np.ndarray


@dataclass(frozen=True)
class ChunkWriter:
    """Writes a generation into its store (`path`, open as `group`) chunk by chunk, each with
    the float64 state to resume from and the progress record that makes the pair valid."""

    path: Path
    group: zarr.Group
    kind: str
    spec: GenerationSpec

    def start(self, initial: np.ndarray) -> None:
        """Keep the states after the transient, (n_traj, *state_shape), as chunk 0's start."""
        self.group[_RESUME][0] = initial
        write_progress(self.path, chunks_done=0)

    def resume_state(self, done: int) -> np.ndarray:
        """The state chunk `done` starts from (the slot the progress record points at)."""
        return self.group[_RESUME][done % 2]

    def write(self, chunk: Chunk, record: dict) -> dict:
        """Write `chunk` (observation noise added) and its next state; return the new progress record.

        The record carries what finishing needs without reading the store back: the noise scale
        and the running train-split statistics (merged chunk by chunk, so a resumed run ends with
        the same numbers as an uninterrupted one).
        """
        spec, kind, block = self.spec, self.kind, chunk.states
        if not np.isfinite(block).all():
            raise DataError(f"simulation into {self.path} produced NaN/Inf (the system blew up); lower system.dt "
                            "or change the parameters, then delete the store and rerun")
        noise_scale = record.get("noise_scale")
        if spec.observation_noise:
            if noise_scale is None:  # set by the first chunk, kept for the rest and for a resume
                noise_scale = _spread(block, kind)
            block = add_observation_noise(torch.from_numpy(block), relative_std=spec.observation_noise,
                                          generator=chunk_generator(spec.seed, chunk.index),
                                          scale=torch.tensor(noise_scale, dtype=torch.float64)).numpy()
        self.group[LAYOUTS[kind].variable][:, chunk.start:chunk.start + block.shape[1]] = block
        # The state goes into the slot the progress record does not point at, so a kill between
        # the two writes leaves the last consistent (chunk, state) pair intact.
        self.group[_RESUME][(chunk.index + 1) % 2] = chunk.next_state
        # ODE states are standardized per dimension; a field by one mean and std (it is one quantity).
        width = block.shape[-1] if kind == "ode" else 1
        stats = record.get("train_stats")
        moments = Moments.empty(width) if stats is None else Moments.from_dict(stats)
        record = {"chunks_done": chunk.index + 1, "noise_scale": noise_scale,
                  "train_stats": moments.add(block[:spec.n_train].reshape(-1, width)).to_dict()}
        write_progress(self.path, **record)
        return record


def _simulate_remaining(writer: ChunkWriter, simulation, *, progress: bool) -> None:
    """Simulate and write the chunks after the last one recorded, from its resume state."""
    spec, record = writer.spec, read_progress(writer.path)
    done = record["chunks_done"]
    state = writer.resume_state(done)
    n, shape = state.shape[0], state.shape[1:]
    x = torch.from_numpy(state).reshape(n, -1)  # states flattened for `rollout`
    for k, start, length in remaining_chunks(writer.path, done, spec.n_steps, spec.chunk_steps, progress=progress):
        block, x = simulation.chunk(x, index=k, rows=slice(0, n), length=length)
        record = writer.write(Chunk(k, start, block.reshape(n, length, *shape), x.reshape(n, *shape).numpy()), record)


def _spread(block: np.ndarray, kind: str) -> list[float]:
    """The std the noise is scaled by: per state dimension for ODEs, one value for a field."""
    return np.atleast_1d(block.std(axis=(0, 1) if kind == "ode" else None)).tolist()


def _create_template(path: Path, system, spec: GenerationSpec, config_hash: str, dt_sim: float) -> None:
    layout = LAYOUTS[system.kind]
    n, shape = spec.n_traj, system.state_shape
    split = np.repeat(np.arange(4, dtype=np.int8), [spec.n_train, spec.n_val, spec.n_test, spec.n_floor])
    attrs = generated_store_attrs(system, spec, config_hash=config_hash, dt_simulated=dt_sim,
                                  solver=spec.solver or system.default_solver, units="dimensionless")
    make_simulation(system, spec, dt_sim)  # a bad solver name fails before anything is written

    def build(group: zarr.Group) -> None:
        group.attrs.update(attrs)
        # ODE chunks hold a few trajectories; a field chunk holds one (a 64² field is 32 KiB a step).
        chunks = (max(1, min(n, 4)) if system.kind == "ode" else 1, spec.chunk_steps, *shape)
        group.create_array(layout.variable, shape=(n, spec.n_steps, *shape), chunks=chunks, dtype="f8",
                           fill_value=np.nan, dimension_names=layout.dims, compressors=CHECKSUMMED,
                           attributes={"coordinates": SPLIT, "long_name": f"{system.name} {layout.variable}"})
        group.create_array(TRAJ, data=np.arange(n, dtype=np.int64), dimension_names=(TRAJ,))
        group.create_array(TIME, data=np.arange(spec.n_steps) * attrs["dt"], dimension_names=(TIME,),
                           attributes={"units": "system time units"})
        for name, values in system.coordinates().items():
            group.create_array(name, data=np.asarray(values, dtype=np.float64), dimension_names=(name,))
        group.create_array(SPLIT, data=split, dimension_names=(TRAJ,),
                           attributes={"flag_values": list(range(len(SPLITS))), "flag_meanings": " ".join(SPLITS)})
        # Resume states chunked like the data's trajectories: parts of a generation write their own.
        group.create_array(_RESUME, shape=(2, n, *shape), chunks=(1, chunks[0], *shape), dtype="f8", fill_value=np.nan)

    create_store_atomically(path, build)


def make_simulation(system, spec: GenerationSpec, dt_sim: float):
    """How `system` is simulated chunk by chunk: an SDE by Euler–Maruyama (`SDESimulation`), any
    other system by its deterministic solver (`Stepped`). Both give ``initial_states()`` and
    ``chunk(x, index=, rows=, length=)``."""
    if isinstance(system, SDESystem):
        return SDESimulation(system, spec, dt_sim)
    from ..solvers import make_system_step  # solvers are only needed when generating

    return Stepped(system, spec, _flat(make_system_step(system, dt_sim, method=spec.solver), system.state_shape), dt_sim)


@dataclass(frozen=True)
class Stepped:
    """A system stepped by a deterministic solver: a chunk follows from its first state alone.

    Attributes:
        system, spec: what is simulated, and how long, how split and how sampled.
        step: the one-step map on flattened states (B, prod(state_shape)).
        dt: its step.
    """

    system: object
    spec: GenerationSpec
    step: object
    dt: float

    def initial_states(self) -> torch.Tensor:
        """Every trajectory's flattened state after the transient, (n_traj, prod(state_shape))."""
        return _initial_states(self.system, self.spec, self.step, self.dt)

    def chunk(self, x: torch.Tensor, *, index: int, rows: slice, length: int) -> tuple[np.ndarray, torch.Tensor]:
        """Stored states (B, length, ...) of a chunk from its first states `x` (whatever its index and rows)."""
        return _simulate_chunk(self.step, x, length, self.spec.save_every)


def _flat(step, shape: tuple[int, ...]):
    """`step` on states flattened to (B, prod(shape)), the form `rollout` iterates."""
    if len(shape) == 1:
        return step
    if isinstance(step, SpectralStep):  # keeps its Fourier-space rollout (`SpectralStep.flattened`)
        return step.flattened()
    return lambda x: step(x.reshape(x.shape[0], *shape)).reshape(x.shape[0], -1)


def _initial_states(system, spec: GenerationSpec, step, dt_sim: float) -> torch.Tensor:
    generator = torch.Generator().manual_seed(spec.seed)
    x = system.sample_initial_conditions(spec.n_traj, generator=generator).to(torch.float64)
    from ..solvers import spin_up

    return spin_up(step, x.reshape(spec.n_traj, -1), int(round(spec.transient_time / dt_sim)))


@torch.no_grad()
def _simulate_chunk(step, x: torch.Tensor, length: int, save_every: int) -> tuple[np.ndarray, torch.Tensor]:
    """Stored states x_0 .. x_{length-1} of one chunk (x_0 = x) and the next chunk's first state."""
    from ..solvers import rollout

    after = rollout(step, x, length * save_every, save_every=save_every)  # (B, length, D)
    return torch.cat([x[:, None], after[:, :-1]], dim=1).numpy(), after[:, -1]


def _finish(path: Path) -> None:
    """Normalization statistics of the train split from the progress record; mark complete."""
    record = read_progress(path)
    moments = Moments.from_dict(record["train_stats"])
    finalize_store(path, {"norm_mean": moments.mean.tolist(), "norm_std": moments.std.tolist(),
                          "noise_scale": record.get("noise_scale")}, drop=[_RESUME])
