"""Same-day propagation down a drainage tree: solve y = r + β ⊙ (P y) for all cells at once.

(P y)_c = Σ_{u → c} y_u sums what the cells directly upstream of c send into it. When a
reach's outflow is affine in its inflow (linear reservoirs, Muskingum), a day's outflows solve
(I − diag(β) P) y = r, a lower-triangular system in topological order. `UpstreamSolver.solve`
evaluates y = Σ_k (βP)^k r with pointer doubling: (I + A)(I + A²)(I + A⁴)… = Σ_{k<2^m} A^k, and
A^(2^j) sends each cell's value 2^j steps downstream with the product of the β's on the way,
so a day costs ~log2(longest path) scatter-adds over the grid instead of one pass per level.
`solve_ref` is the readable twin: one level of the topological order after another.
"""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor

from dynlearn.systems.river._flow_network import topological_levels


@final
class UpstreamSolver:
    """Solves (I − diag(β) P) y = r on one network for any right-hand side.

    Args:
        downstream: (N,) int64, the cell each cell drains into, −1 for outlets.
        beta: (N,) the fraction of a reach's inflow that leaves it the same day.
    """

    def __init__(self, downstream: Tensor, beta: Tensor) -> None:
        self.downstream = downstream.to(torch.int64)
        self.beta = beta.to(torch.float64)
        level = topological_levels(self.downstream)
        n = self.downstream.numel()
        has_down = self.downstream >= 0
        # Jump j: cell u adds w_j(u)·y_u to cell d_j(u), 2^j steps downstream (weight 0 past an outlet).
        target = torch.where(has_down, self.downstream, torch.arange(n))
        weight = torch.where(has_down, self.beta[target], torch.zeros(n, dtype=torch.float64))
        self.jumps: list[tuple[Tensor, Tensor]] = []
        depth = int(level.max()) + 1 if n else 0  # the longest path has `depth` cells
        while (1 << len(self.jumps)) < depth:
            self.jumps.append((target, weight))
            weight = weight * weight[target]
            target = target[target]
        order = torch.argsort(level, stable=True)
        groups = torch.split(order, torch.bincount(level).tolist())
        self._levels = [(cells, self.downstream[cells]) for cells in groups]

    def solve(self, rhs: Tensor) -> Tensor:
        """y with y = rhs + β ⊙ (P y), rhs (B, N) -> (B, N)."""
        y = rhs
        for target, weight in self.jumps:
            y = y.index_add(1, target, y * weight)
        return y

    def solve_ref(self, rhs: Tensor) -> Tensor:
        """The same by levels of the topological order (upstream first); slow, for checking."""
        y = rhs.clone()
        inflow = torch.zeros_like(rhs)
        for cells, down in self._levels:
            y[:, cells] = rhs[:, cells] + self.beta[cells] * inflow[:, cells]
            routed = down >= 0
            inflow.index_add_(1, down[routed], y[:, cells[routed]])
        return y

    def upstream_sum(self, y: Tensor) -> Tensor:
        """(P y): what each cell receives from the cells directly upstream, (B, N)."""
        has_down = self.downstream >= 0
        return torch.zeros_like(y).index_add_(1, self.downstream[has_down], y[:, has_down])
