"""Channel routing along a drainage network: linear-reservoir cascades or Muskingum, daily.

Flows are volumes per day (m³/day) and stores volumes (m³). In both schemes a reach's outflow
on a day is affine in its inflow that day, outflow = c + β·inflow, and its inflow is local
runoff plus the same day's outflow of the reaches upstream; so a day is one solve on the
network (`UpstreamSolver`), batched over ensemble members. The stores are then updated from
the inflow (runoff + upstream outflow, summed explicitly) and the outflow, which makes the water
in `storage(state)` change by exactly inflow − outflow, up to rounding.
"""

from __future__ import annotations

import abc
from typing import final

import torch
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.systems.river._network_solve import UpstreamSolver

_CITATION = {
    "reservoir": "Nash (1957), IASH Publ. 45(3):114 (cascade of linear reservoirs)",
    "muskingum": "McCarthy (1938); Cunge (1969), J. Hydraul. Res. 7(2):205 (Muskingum, 2Kx ≤ Δt ≤ 2K(1−x))",
}


class AbstractRouting(abc.ABC):
    """Routes runoff through a network; subclasses define one reach's daily update.

    Args:
        downstream: (N,) int64, the cell each cell drains into, −1 for outlets.
        k_days: (N,) storage constant K of each cell's reach (days).
    """

    name: str

    def __init__(self, downstream: Tensor, k_days: Tensor, beta: Tensor) -> None:
        self.downstream = downstream.to(torch.int64)
        self.k_days = k_days.to(torch.float64)
        self.outlets = torch.nonzero(self.downstream < 0).flatten()
        self.solver = UpstreamSolver(self.downstream, beta)

    @property
    def n_cells(self) -> int:
        return self.downstream.numel()

    @abc.abstractmethod
    def initial_state(self, batch: int) -> dict[str, Tensor]:
        """Empty channels for `batch` members: a dict of float64 tensors with leading dim B."""

    @abc.abstractmethod
    def storage(self, state: dict[str, Tensor]) -> Tensor:
        """Water held in all reaches (m³), summed from the state, (B,)."""

    @abc.abstractmethod
    def _intercept(self, state: dict[str, Tensor]) -> Tensor:
        """c in outflow = c + β·inflow for the coming day, (B, N) m³/day."""

    @abc.abstractmethod
    def _update(self, state: dict[str, Tensor], inflow: Tensor, outflow: Tensor) -> dict[str, Tensor]:
        """The state after a day with these inflows and outflows (B, N) m³/day."""

    def to_dict(self) -> dict:
        return {"scheme": self.name, "citation": _CITATION[self.name]}

    def route(self, state: dict[str, Tensor], runoff: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """One day of routing.

        Args:
            state: from `initial_state` or a previous call (not modified).
            runoff: local inflow of each cell, (B, N) m³/day.

        Returns:
            The new state, every cell's outflow (B, N) m³/day, and the volume leaving the grid
            through the outlets (B,) m³.
        """
        outflow = self.solver.solve(self._intercept(state) + self.solver.beta * runoff)
        inflow = runoff + self.solver.upstream_sum(outflow)
        return self._update(state, inflow, outflow), outflow, outflow[:, self.outlets].sum(dim=1)


@final
class LinearReservoirRouting(AbstractRouting):
    """Each reach is a cascade of n linear reservoirs (dS/dt = I − S/k, k = K/n).

    With the inflow held constant over the day, one reservoir's update is exact:
    S' = a S + b I, a = e^{−Δt/k}, b = k(1 − a)/Δt (I in volume per day), and the day's outflow
    is S + I − S' = (1 − a) S + (1 − b) I ≥ 0. An impulse V stored at t = 0 leaves a single
    reservoir as V aⁿ(1 − a) on day n, the exact daily integral of V e^{−t/k}/k. In a cascade,
    each reservoir takes the previous one's daily outflow as its (constant) inflow.

    Args:
        downstream: (N,) int64, −1 for outlets.
        k_days: (N,) residence time K of each cell's whole cascade (days).
        n_reservoirs: cascade length n.
    """

    name = "reservoir"

    def __init__(self, downstream: Tensor, k_days: Tensor, n_reservoirs: int = 1) -> None:
        k = k_days.to(torch.float64) / n_reservoirs
        self.decay = torch.exp(-1.0 / k)  # a, (N,)
        self.passing = 1.0 + k * torch.expm1(-1.0 / k)  # 1 − b, (N,)
        super().__init__(downstream, k_days, self.passing**n_reservoirs)
        self.n_reservoirs = n_reservoirs

    def initial_state(self, batch: int) -> dict[str, Tensor]:
        return {"channel_storage": torch.zeros(batch, self.n_reservoirs, self.n_cells, dtype=torch.float64)}

    def storage(self, state: dict[str, Tensor]) -> Tensor:
        return state["channel_storage"].sum(dim=(1, 2))

    def _intercept(self, state: dict[str, Tensor]) -> Tensor:
        stores = state["channel_storage"]  # (B, n, N)
        intercept = torch.zeros_like(stores[:, 0])
        for r in range(self.n_reservoirs):  # outflow of reservoir r is (1 − a) S_r + (1 − b)·its inflow
            intercept = (1.0 - self.decay) * stores[:, r] + self.passing * intercept
        return intercept

    def _update(self, state: dict[str, Tensor], inflow: Tensor, outflow: Tensor) -> dict[str, Tensor]:
        stores = state["channel_storage"]
        new = []
        for r in range(self.n_reservoirs):
            last = r == self.n_reservoirs - 1  # the last one's outflow is the solved one, exactly
            out = outflow if last else (1.0 - self.decay) * stores[:, r] + self.passing * inflow
            new.append(stores[:, r] + inflow - out)
            inflow = out
        return {"channel_storage": torch.stack(new, dim=1)}

    def to_dict(self) -> dict:
        return {**super().to_dict(), "reservoirs_per_cell": self.n_reservoirs}


@final
class MuskingumRouting(AbstractRouting):
    """Constant-parameter Muskingum: O₁ = C₀ I₁ + C₁ I₀ + C₂ O₀ with C₀ + C₁ + C₂ = 1.

    C₀ = (Δt − 2Kx)/D, C₁ = (Δt + 2Kx)/D, C₂ = (2K(1 − x) − Δt)/D, D = 2K(1 − x) + Δt; all are
    ≥ 0 (so outflow ≥ 0) iff 2Kx ≤ Δt ≤ 2K(1 − x), which is enforced. The state is the
    previous day's inflow and outflow; the water held, K[xI + (1 − x)O] + Δt(I − O)/2, changes
    by exactly I₁ − O₁ per day (Δt = 1 day).

    Args:
        downstream: (N,) int64, −1 for outlets.
        k_days: (N,) travel time K of each reach (days).
        x: weighting factor in [0, 0.5].

    Raises:
        ConfigError: if some reach violates 2Kx ≤ Δt ≤ 2K(1 − x).
    """

    name = "muskingum"

    def __init__(self, downstream: Tensor, k_days: Tensor, x: float) -> None:
        k, dt = k_days.to(torch.float64), 1.0
        if bool((2 * k * x > dt).any()) or bool((2 * k * (1 - x) < dt).any()):
            raise ConfigError(
                f"Muskingum needs 2Kx ≤ Δt ≤ 2K(1−x) with Δt = 1 day, but K ∈ [{float(k.min()):.3g}, "
                f"{float(k.max()):.3g}] days with x = {x}; change routing_k_days or muskingum_x"
            )
        denominator = 2 * k * (1 - x) + dt
        self.c0 = (dt - 2 * k * x) / denominator
        self.c1 = (dt + 2 * k * x) / denominator
        self.c2 = (2 * k * (1 - x) - dt) / denominator
        super().__init__(downstream, k_days, self.c0)
        self.x = x
        self._held_in = k * x + dt / 2
        self._held_out = k * (1 - x) - dt / 2

    def initial_state(self, batch: int) -> dict[str, Tensor]:
        zeros = torch.zeros(batch, self.n_cells, dtype=torch.float64)
        return {"reach_inflow": zeros, "reach_outflow": zeros.clone()}

    def storage(self, state: dict[str, Tensor]) -> Tensor:
        held = self._held_in * state["reach_inflow"] + self._held_out * state["reach_outflow"]
        return held.sum(dim=1)

    def _intercept(self, state: dict[str, Tensor]) -> Tensor:
        return self.c1 * state["reach_inflow"] + self.c2 * state["reach_outflow"]

    def _update(self, state: dict[str, Tensor], inflow: Tensor, outflow: Tensor) -> dict[str, Tensor]:
        return {"reach_inflow": inflow, "reach_outflow": outflow}

    def to_dict(self) -> dict:
        return {**super().to_dict(), "muskingum_x": self.x}
