"""The synthetic river basin as a system the `generate` command knows by name ("river")."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, final

import torch

from dynlearn.systems._base import AbstractSystem
from dynlearn.systems.river._basin import RiverBasin
from dynlearn.systems.river._config import RiverConfig
from dynlearn.systems.river._xarray import FORCING, VARIABLE_ATTRS


@final
class RiverSystem(AbstractSystem):
    """Daily water balance on a synthetic basin, stored as ``discharge(time, lat, lon)``.

    Unlike the ODEs and PDEs this is a stochastic grid simulator: it has no vector field, and
    its store is one long series split by time periods (kind ``"grid"``). The basin (terrain,
    drainage network, mask) is drawn from the generation seed; each stored chunk of days gets
    its own generator, so a killed generation resumes bit for bit (`dynlearn.data`). So it is
    an `AbstractSystem` but no `EvolutionEquation`: the stored discharge is an output of hidden
    stores (`RiverBasin.initial_state`), and there is no sampler of stored states.

    Args:
        **params: `RiverConfig` fields by name.
    """

    name = "river"
    kind = "grid"
    forcing_names = FORCING
    default_solver = "bucket+routing"
    dt = 1.0  # one day
    lyapunov_time = None
    equations = ("soil bucket dS/dt = P − ET − R per cell (mm/day); runoff R routed along the D8 network "
                 "through linear reservoirs (dV/dt = I − V/K) or Muskingum reaches; Q = outflow (m³/s)")
    challenges = ("heavy-tailed, intermittent rain and floods; slow soil storage gives memory of months; "
                  "discharge spans orders of magnitude from headwaters to the outlet; NaN off the river "
                  "mask; the test period is the future, not another trajectory")

    def __init__(self, **params: Any) -> None:
        self.config = RiverConfig(**params)
        self.params = MappingProxyType(self.config.to_dict())
        self.dim = self.config.ny * self.config.nx
        self.state_names = ("discharge",)

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.config.ny, self.config.nx)

    def basin(self, seed: int) -> RiverBasin:
        """The basin's static maps, drawn from `seed` (the same seed gives the same basin)."""
        return RiverBasin.synthesize(self.config, torch.Generator().manual_seed(seed))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params), "dt": self.dt, "solver": self.default_solver,
                "units": {name: VARIABLE_ATTRS[name]["units"] for name in ("discharge", *FORCING)},
                "citation": "dynlearn synthetic basin; methods cited in dynlearn/systems/river/"}

    def __repr__(self) -> str:
        return f"RiverSystem(ny={self.config.ny}, nx={self.config.nx}, routing={self.config.routing!r})"
