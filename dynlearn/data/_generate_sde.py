"""Stores of stochastic systems (`dynlearn.systems.SDESystem`): Euler–Maruyama on the system's
step, every `save_every`-th state stored, as the ODE path stores its solver's states.

Reproducibility and resumption rest on one rule: the Brownian increments of trajectory i in
chunk k (k = -1: the transient) are drawn from a generator seeded by (seed, i, k) alone. A chunk
is then a pure function of its first state and those three numbers, so a generation resumed
from its last (chunk, state) pair, or split into parts over trajectories, writes the same bits
as one uninterrupted process. The observation noise (`chunk_generator(seed, k)`) is a stream of
its own, beside these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .._errors import ConfigError
from ..systems import SDESystem

TRANSIENT = -1  # the chunk index whose increments drive the transient
_BROWNIAN = 0x5DE  # keeps these streams apart from every other (seed, ...) stream


def brownian_generator(seed: int, traj: int, chunk: int) -> torch.Generator:
    """The generator of trajectory `traj`'s Brownian increments in chunk `chunk`, the same on every
    run, resume and part."""
    entropy = np.random.SeedSequence([seed, traj, chunk + 1], spawn_key=(_BROWNIAN,)).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))


@torch.no_grad()
def euler_maruyama(system: SDESystem, x: Tensor, dw: Tensor, *, dt: float, t0: float,
                   save_every: int) -> tuple[Tensor, Tensor]:
    """Euler–Maruyama steps X ← X + f(t, X) dt + g(t) ΔW, keeping every `save_every`-th state.

    Strong order 1.0 for additive noise (0.5 in general), weak order 1.0 (Kloeden & Platen 1992,
    §10.2 and §14.1).

    Args:
        system: the SDE.
        x: first states (B, D), float64.
        dw: Brownian increments (B, N, m), each N(0, dt); N a multiple of `save_every`.
        dt: the step.
        t0: the time of `x` (step n is taken at t0 + n·dt).
        save_every: steps per kept state.

    Returns:
        The kept states (B, N // save_every, D), the first being `x` itself, and the state after
        the last step (B, D), where the next stretch starts.
    """
    n_steps = dw.shape[1]
    kept = x.new_empty(x.shape[0], n_steps // save_every, x.shape[1])
    for n in range(n_steps):
        if n % save_every == 0:
            kept[:, n // save_every] = x
        t = t0 + n * dt
        x = x + system.drift(t, x) * dt + torch.einsum("bdm,bm->bd", system.diffusion(t, x), dw[:, n])
    return kept, x


@dataclass(frozen=True)
class SDESimulation:
    """An SDE store's simulation, chunk by chunk (the interface of `_generate`'s simulations).

    Attributes:
        system: the SDE.
        spec: the generation (`GenerationSpec`): seed, save_every, chunk_steps, transient.
        dt: the Euler–Maruyama step (the system's unless the config gives another).
    """

    system: SDESystem
    spec: object
    dt: float

    def __post_init__(self) -> None:
        if self.spec.solver not in (None, self.system.default_solver):
            raise ConfigError(f"solver {self.spec.solver!r} cannot step the SDE {self.system.name}; its stores are "
                              f"simulated by {self.system.default_solver}: use data.solver=null")

    def initial_states(self) -> Tensor:
        """Every trajectory's state after the transient, (n_traj, D): the sampler's draws (seeded
        by the spec's seed) driven through `transient_time` with the noise of chunk `TRANSIENT`."""
        spec = self.spec
        x = self.system.sample_initial_conditions(spec.n_traj, torch.Generator().manual_seed(spec.seed))
        n_steps = int(round(spec.transient_time / self.dt))
        dw = self._increments(range(spec.n_traj), TRANSIENT, n_steps)
        _, x = euler_maruyama(self.system, x.to(torch.float64), dw, dt=self.dt, t0=-n_steps * self.dt, save_every=1)
        return x

    def chunk(self, x: Tensor, *, index: int, rows: slice, length: int) -> tuple[np.ndarray, Tensor]:
        """Chunk `index` of trajectories `rows`: stored states (B, length, D) from `x` (B, D) on, and
        the state the next chunk starts from."""
        spec = self.spec
        n_steps = length * spec.save_every
        dw = self._increments(range(rows.start, rows.stop), index, n_steps)
        t0 = index * spec.chunk_steps * spec.save_every * self.dt  # the store's time of the chunk's first state
        kept, x = euler_maruyama(self.system, x, dw, dt=self.dt, t0=t0, save_every=spec.save_every)
        return kept.numpy(), x

    def _increments(self, trajectories: range, chunk: int, n_steps: int) -> Tensor:
        """ΔW of each trajectory for `n_steps` steps of chunk `chunk`: (B, n_steps, m), N(0, dt)."""
        dw = torch.empty(len(trajectories), n_steps, self.system.noise_dim, dtype=torch.float64)
        for row, i in zip(dw, trajectories):  # filled in place: stacking separate draws is slow here
            row.normal_(generator=brownian_generator(self.spec.seed, i, chunk))
        return dw.mul_(math.sqrt(self.dt))
