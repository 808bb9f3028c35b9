"""Neural ODE: dx/dt = f_θ(x) with an MLP f_θ, one step = one integration over the data's dt.

Chen, Rubanova, Bettencourt, Duvenaud (2018), "Neural Ordinary Differential Equations", NeurIPS,
arXiv 1806.07366; integrated with torchdiffeq (``odeint``, or ``odeint_adjoint`` for O(1) memory in
the integration length). Trained by multiple shooting: a chaotic trajectory integrated over a
whole window diverges from the data and its gradient explodes, so each window is cut into short
segments, each integrated from its own observed start (Ribeiro et al. 2020, "On the smoothness of
nonlinear system identification", Automatica; Turan & Jäschke 2022, "Multiple shooting for training
neural differential equations on time series", IEEE Control Systems Letters).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, final

import torch
from torch import Tensor, nn

from dynlearn._errors import ConfigError
from dynlearn.layers import ACTIVATIONS, mlp
from dynlearn.models._base import AbstractModel, IOShape



@dataclasses.dataclass(frozen=True)
class NeuralODEConfig:
    """Hyperparameters of `NeuralODE`.

    Attributes:
        width: units per hidden layer of the vector field.
        depth: hidden layers; 0 makes the field linear, ``f(x) = W x + b``.
        activation: ``tanh``, ``relu``, ``softplus``, ``gelu`` or ``silu``.
        dt: time between consecutive observations. Training fills it in with the store's dt when
            the model config leaves it null (conf/model/neural_ode.yaml); a model built directly
            takes this default.
        method: ``rk4`` (one fixed step per dt, torchdiffeq's 3/8-rule RK4, order 4) or
            ``dopri5`` (adaptive Dormand–Prince 5(4) with `rtol`, `atol`).
        rtol, atol: tolerances of ``dopri5``.
        shooting_length: steps per shooting segment in the loss (1: one-step prediction).
        continuity: weight of the squared gap between each segment's end and the observation the
            next segment starts from (0: off). The starts are observations, so this weights each
            segment's last, least constrained step once more.
        adjoint: backpropagate with the adjoint ODE (``odeint_adjoint``) instead of through the
            solver's operations: memory independent of the segment length, one more solve.
        seed: seed of the parameter initialization.
    """

    width: int = 64
    depth: int = 2
    activation: Literal["tanh", "relu", "softplus", "gelu", "silu"] = "tanh"
    dt: float = 0.01
    method: Literal["rk4", "dopri5"] = "rk4"
    rtol: float = 1e-6
    atol: float = 1e-8
    shooting_length: int = 10
    continuity: float = 0.0
    adjoint: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.width >= 1, "width must be >= 1"),
            (self.depth >= 0, "depth must be >= 0"),
            (self.activation in ACTIVATIONS, f"activation must be one of {', '.join(ACTIVATIONS)}"),
            (isinstance(self.dt, (int, float)) and self.dt > 0, "dt must be positive (null only in the model config)"),
            (self.method in ("rk4", "dopri5"), "method must be rk4 or dopri5"),
            (self.rtol > 0 and self.atol > 0, "rtol and atol must be positive"),
            (self.shooting_length >= 1, "shooting_length must be >= 1"),
            (self.continuity >= 0, "continuity must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"NeuralODE: {message} (got {self}); fix the model config")


class _VectorField(nn.Module):
    """f_θ(x), (..., D) -> (..., D); the time argument torchdiffeq passes is ignored (autonomous)."""

    def __init__(self, dim: int, config: NeuralODEConfig) -> None:
        super().__init__()
        self.net = mlp([dim] + [config.width] * config.depth + [dim], config.activation)
        # Uniform weights ±1/√fan-in as torch's default (biases ±1/√fan-out), from a private generator.
        g = torch.Generator().manual_seed(config.seed)
        with torch.no_grad():
            for p in self.net.parameters():
                bound = 1 / math.sqrt(p.shape[-1] if p.ndim == 2 else p.numel())
                p.copy_((2 * torch.rand(p.shape, generator=g, dtype=torch.float64) - 1) * bound)

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        return self.net(x)


@final
class NeuralODE(AbstractModel):
    """An autonomous neural ODE on the observed state (latent = observation).

    The state is the last context observation; `step` integrates ``dx/dt = f_θ(x)`` over dt.
    Parameters: the MLP's weights and biases (``field.net``).

    Args:
        io: D, the observed dimension, or an `IOShape` ((D,),) without exogenous inputs.
        config: hyperparameters; `NeuralODEConfig` defaults when None.
    """

    Config = NeuralODEConfig

    def __init__(self, io: IOShape | int, config: NeuralODEConfig | None = None) -> None:
        super().__init__()
        io = IOShape.of(io)
        if len(io.state) != 1 or io.n_inputs > 0:
            raise ConfigError(f"NeuralODE learns autonomous vectors; got observations {io.state} with "
                              f"{io.n_inputs} exogenous inputs: use a driven family (e.g. alrnn) for forced data")
        self.config = NeuralODEConfig() if config is None else config
        self.field = _VectorField(io.dim, self.config).to(torch.get_default_dtype())

    def _integrate(self, x0: Tensor, n_steps: int, adjoint: bool = False) -> Tensor:
        """States at 0, dt, .., n_steps·dt from x0 (N, D): (n_steps + 1, N, D), differentiated
        through the adjoint ODE when `adjoint` (the loss's choice; one step gains nothing from it)."""
        from torchdiffeq import odeint, odeint_adjoint

        cfg = self.config
        times = torch.arange(n_steps + 1, dtype=x0.dtype, device=x0.device) * cfg.dt
        solve = odeint_adjoint if adjoint else odeint
        extra = {"rtol": cfg.rtol, "atol": cfg.atol} if cfg.method == "dopri5" else {}
        return solve(self.field, x0, times, method=cfg.method, **extra)

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """One integration over dt, (B, D) -> (B, D); rk4: one RK4 step (error O(dt^5) per step)."""
        return self._integrate(state, 1)[-1]

    def jacobian(self, state: Tensor) -> Tensor:
        """∂step/∂state by reverse mode through the solver, one backward pass per output, (B, D) -> (B, D, D).

        Rows do not interact in a fixed-step solve, so the gradient of the batch's summed output i
        is row i of every Jacobian; with ``dopri5`` the shared step size couples the rows slightly
        (ignored). Plain autograd, not torch.func: torchdiffeq's solvers use autograd.Functions
        that torch.func cannot trace.
        """
        with torch.enable_grad():
            x = state.detach().requires_grad_(True)
            y = self.step(x)
            rows = [torch.autograd.grad(y[:, i].sum(), x, retain_graph=i < y.shape[1] - 1)[0]
                    for i in range(y.shape[1])]
        return torch.stack(rows, dim=1)

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """The last context observation, (B, Tc, D) -> (B, D)."""
        return context[:, -1]

    def observe(self, state: Tensor) -> Tensor:
        """The state itself, (B, D)."""
        return state

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Multiple-shooting MSE over segments of `shooting_length` steps.

        A window x (B, T + 1, D) has shooting nodes at steps 0, L, 2L, .. < T; each segment is
        integrated L steps from its observed node (the last one up to T only) and compared with
        the observations it covers, all segments in one batched solve.

        Returns:
            ``"loss"``, ``"mse"`` of the integrated states against the observations, and
            ``"continuity"`` (the segment ends' squared gap to the next node) when its weight > 0.
        """
        x = batch["x"]
        b, t, d = x.shape[0], x.shape[1] - 1, x.shape[2]
        length = min(self.config.shooting_length, t)
        starts = torch.arange(0, t, length, device=x.device)  # (K,)
        index = starts[:, None] + torch.arange(1, length + 1, device=x.device)  # (K, L)
        valid = index <= t
        predicted = self._integrate(x[:, starts].reshape(-1, d), length, self.config.adjoint)[1:]  # (L, B·K, D)
        predicted = predicted.reshape(length, b, len(starts), d).permute(1, 2, 0, 3)  # (B, K, L, D)
        target = x[:, index.clamp(max=t)]  # (B, K, L, D)
        error = (predicted - target)[:, valid]  # (B, n, D): each observed step once
        mse = error.pow(2).mean()
        out = {"loss": mse, "mse": mse.detach()}
        if self.config.continuity > 0 and len(starts) > 1:
            # The end of every full segment but the last against the next segment's node.
            gap = (predicted[:, :-1, -1] - x[:, starts[1:]]).pow(2).mean()
            out["loss"] = mse + self.config.continuity * gap
            out["continuity"] = gap.detach()
        elif self.config.continuity > 0:
            out["continuity"] = mse.new_zeros(())
        return out
