"""Per-cell ARX(1): the hydrologist's linear baseline for a driven grid (discharge under rain).

``q_{t+1}(c) = a(c) q_t(c) + Σ_k b_k(c) u_{k,t+1}(c) + e(c)`` at every cell c, fitted by least
squares (the loss) on standardized discharge and the forcing as stored. A linear reservoir
(recession a, runoff response b) written as a model family: what a field model must beat beside
persistence, and the model the daily river forecast runs until the field models arrive.
Cells off the river mask (NaN in the store) take no part in the loss and stay NaN in forecasts.
"""

from __future__ import annotations

import dataclasses
from typing import final

import torch
from torch import Tensor, nn

from dynlearn._errors import ConfigError
from dynlearn.models._base import AbstractModel, IOShape


@dataclasses.dataclass(frozen=True)
class ARXConfig:
    """Hyperparameters of `ARX`.

    Attributes:
        input_scale: the forcing is divided by this before it enters (mm/day of rain are tens,
            standardized discharge is ~1: a common scale keeps the fit well conditioned).
    """

    input_scale: float = 10.0

    def __post_init__(self) -> None:
        if not self.input_scale > 0:
            raise ConfigError(f"ARX: input_scale must be positive, got {self.input_scale}; fix the model config")


@final
class ARX(AbstractModel):
    """Per-cell linear map with exogenous inputs on fields (B, T, 1, H, W) with forcing (B, T, U, H, W).

    Parameters: a (H, W) the recession, b (U, H, W) the input response, e (H, W) an offset. At
    initialization a = 1, b = e = 0: the untrained model is persistence, and training starts from the
    baseline it must beat (from a = 0, 2,000 Adam steps left it far below persistence even at lead 1).
    The state is the last field with NaN (off the mask) kept as NaN.

    Args:
        io: an `IOShape` with state (1, H, W) and forcing (U, H, W).
        config: hyperparameters; `ARXConfig` defaults when None.
    """

    Config = ARXConfig
    layout = "field"
    kinds = ("grid",)

    def __init__(self, io: IOShape | int, config: ARXConfig | None = None) -> None:
        super().__init__()
        io = IOShape.of(io)
        if len(io.state) != 3 or io.state[0] != 1 or len(io.forcing) != 3:
            raise ConfigError(f"ARX reads one field channel with forcing on the same grid, (1, H, W) and (U, H, W); "
                              f"got {io.state} and {io.forcing}: use it on a river grid (system=river data=river)")
        self.config = ARXConfig() if config is None else config
        spatial, dtype = io.state[1:], torch.get_default_dtype()
        self.a = nn.Parameter(torch.ones(spatial, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(io.n_inputs, *spatial, dtype=dtype))
        self.e = nn.Parameter(torch.zeros(spatial, dtype=dtype))

    def _next(self, q: Tensor, u: Tensor | None) -> Tensor:
        """q (B, H, W), u (B, U, H, W) -> the next field (B, H, W)."""
        drive = 0.0 if u is None else (self.b * (u / self.config.input_scale)).sum(1)
        return self.a * q + drive + self.e

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """One-step squared error over the river cells (finite in both frames).

        Returns:
            ``"loss"``, ``"mse"``, and ``"recession"``: the median of a over the cells.
        """
        q, u = batch["x"][:, :, 0], batch.get("u")
        river = torch.isfinite(q[:, 1:]) & torch.isfinite(q[:, :-1])
        predicted = self._next(torch.nan_to_num(q[:, :-1]).flatten(0, 1),
                               None if u is None or u.shape[2] == 0 else u[:, 1:].flatten(0, 1))
        error = (predicted - torch.nan_to_num(q[:, 1:]).flatten(0, 1))[river.flatten(0, 1)]
        mse = (error ** 2).mean()
        return {"loss": mse, "mse": mse.detach(), "recession": self.a.detach().median()}

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """The last context field (B, H, W); its NaN mark the cells off the river."""
        return context[:, -1, 0]

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """One day: (B, H, W) -> (B, H, W); u the forcing of the new day (B, U, H, W). NaN stay NaN."""
        return self._next(state, u)

    def observe(self, state: Tensor) -> Tensor:
        return state.unsqueeze(1)
