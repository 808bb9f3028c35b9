"""The almost-linear RNN (AL-RNN) trained with sparse or generalized teacher forcing.

Brenner, Hemmer, Monfared, Durstewitz (2024), "Almost-Linear RNNs Yield Highly Interpretable
Symbolic Codes in Dynamical Systems Reconstruction", NeurIPS, arXiv 2410.14240. Defaults follow the
Lorenz-63 settings of the authors' Julia code (``DurstewitzLab/ALRNN-DSR``); `_minimal.py`
is the same model written as a short listing to check against the paper.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal, final

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynlearn._errors import ConfigError
from dynlearn.models._base import AbstractModel, IOShape, check_forcing
from dynlearn.models.alrnn._teacher_forcing import (
    anneal_alpha,
    forced_rollout,
    optimal_alpha,
    product_upper_bound,
)


@dataclasses.dataclass(frozen=True)
class ALRNNConfig:
    """Hyperparameters of `ALRNN`.

    Forcing acts on the first N latent units (the read-out) at forcing times, which are every
    ``forcing_interval`` steps for ``"sparse"`` and every step for ``"generalized"``. There the
    units become ``(1 - alpha) z + alpha x``: with ``alpha = 1`` (the default) they are replaced and
    cut from the gradient, which is sparse teacher forcing (Mikhaeil et al. 2022) for ``"sparse"``;
    ``"generalized"`` with alpha < 1 is GTF (Hess et al. 2023), the gradient flowing through the
    ``(1 - alpha) z`` term.

    Attributes:
        latent_dim: M, number of latent units (>= the observed dimension N).
        n_pwl: P, number of piecewise-linear (ReLU) units, the last P of the M.
        forcing: ``"sparse"`` or ``"generalized"``.
        forcing_interval: tau, steps between forcing times for ``"sparse"``; unused by
            ``"generalized"``, which forces at every step.
        alpha: forcing strength in [0, 1]; the initial value when ``adaptive_alpha``.
        adaptive_alpha: aGTF, adapting alpha during training (``"generalized"`` only).
        alpha_update_interval: k, training batches between aGTF updates.
        alpha_decay: gamma, the aGTF decay toward a smaller estimate.
        noise: standard deviation of Gaussian noise added, during training only, to the
            observations that initialize and force the latent state (not to the targets).
        lat_reg: lambda, weight of the L1 penalty on (1 - A), W and h.
        seed: seed of the parameter initialization.
    """

    latent_dim: int = 20
    n_pwl: int = 2
    forcing: Literal["sparse", "generalized"] = "sparse"
    forcing_interval: int = 16
    alpha: float = 1.0
    adaptive_alpha: bool = False
    alpha_update_interval: int = 5
    alpha_decay: float = 0.999
    noise: float = 0.05
    lat_reg: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.latent_dim >= 1, "latent_dim must be >= 1"),
            (0 <= self.n_pwl <= self.latent_dim, "n_pwl must be in [0, latent_dim]"),
            (self.forcing in ("sparse", "generalized"), "forcing must be sparse or generalized"),
            (self.forcing_interval >= 1, "forcing_interval must be >= 1"),
            (0.0 <= self.alpha <= 1.0, "alpha must be in [0, 1]"),
            (
                not self.adaptive_alpha or self.forcing == "generalized",
                "adaptive_alpha needs forcing='generalized'",
            ),
            (self.alpha_update_interval >= 1, "alpha_update_interval must be >= 1"),
            (0.0 <= self.alpha_decay <= 1.0, "alpha_decay must be in [0, 1]"),
            (self.noise >= 0.0, "noise must be >= 0"),
            (self.lat_reg >= 0.0, "lat_reg must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"ALRNN: {message} (got {self}); fix the model config")


def initial_parameters(m: int, n: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """A, W, L as initialized by the authors' code, drawn in float64 from a private generator.

    A = diag(K) / lambda_max(K) with K = R^T R / M + I, R ~ N(0, 1) (Talathi & Vartak 2016), so
    0 < A_i <= 1; W ~ N(0, 0.01^2); L Glorot-uniform, bound sqrt(6 / (fan_in + fan_out)).
    """
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(m, m, generator=g, dtype=torch.float64)
    k = r.T @ r / m + torch.eye(m, dtype=torch.float64)
    a = torch.diagonal(k) / torch.linalg.eigvalsh(k)[-1]
    w = 0.01 * torch.randn(m, m, generator=g, dtype=torch.float64)
    bound = math.sqrt(6.0 / m)  # fan_in + fan_out = N + (M - N)
    lat = (2 * torch.rand(m - n, n, generator=g, dtype=torch.float64) - 1) * bound
    return a, w, lat


@final
class ALRNN(AbstractModel):
    """Almost-linear RNN with an identity read-out (Brenner et al. 2024).

    ``z_t = A * z_{t-1} + W phi(z_{t-1}) + h (+ C u_t)`` with
    ``phi(z) = [z_1..z_{M-P}, relu(z_{M-P+1})..relu(z_M)]``, and ``x_t = z_t[:N]``. The initial state is ``[x_1, L x_1]`` with a learned (M - N, N) matrix L.
    Parameters: A (M,), W (M, M), h (M,), L (M - N, N), and C (M, U) when the data carry U
    exogenous inputs u_t (the paper's external-input term; zero at initialization, so the forced
    model starts as the free one). Buffers checkpointed with them: ``alpha`` (the forcing strength,
    adapted by aGTF) and ``n_batches`` (training batches seen).

    Args:
        io: N, the observed dimension, or an `IOShape` ((N,), (U,)) with exogenous inputs.
        config: hyperparameters; `ALRNNConfig` defaults when None.
    """

    Config = ALRNNConfig

    def __init__(self, io: IOShape | int, config: ALRNNConfig | None = None) -> None:
        super().__init__()
        config = ALRNNConfig() if config is None else config
        io = IOShape.of(io)
        if len(io.state) != 1 or len(io.forcing) != 1:
            raise ConfigError(f"ALRNN reads vectors; got observations {io.state} and forcing {io.forcing}")
        obs_dim, m, p = io.dim, config.latent_dim, config.n_pwl
        if not 1 <= obs_dim <= m:
            raise ConfigError(
                f"ALRNN reads out its first obs_dim units: need 1 <= obs_dim ({obs_dim}) <= "
                f"latent_dim ({m}); raise latent_dim"
            )
        self.config = config
        self.obs_dim = obs_dim
        dtype = torch.get_default_dtype()
        a, w, lat = initial_parameters(m, obs_dim, config.seed)
        self.A = nn.Parameter(a.to(dtype))
        self.W = nn.Parameter(w.to(dtype))
        self.h = nn.Parameter(torch.zeros(m, dtype=dtype))
        self.L = nn.Parameter(lat.to(dtype))
        self.n_inputs = io.n_inputs
        if self.n_inputs:
            self.C = nn.Parameter(torch.zeros(m, self.n_inputs, dtype=dtype))
        # phi(z) = where(z > floor, z, floor): -inf leaves the linear units alone, 0 is a ReLU.
        floor = torch.full((m,), -math.inf, dtype=dtype)
        floor[m - p :] = 0.0
        self.register_buffer("_floor", floor, persistent=False)
        self.register_buffer("alpha", torch.tensor(config.alpha, dtype=dtype))
        self.register_buffer("n_batches", torch.tensor(0, dtype=torch.long))

    def _latent_map(self) -> Callable[..., Tensor]:
        """The step with W^T (and C^T) taken once, for loops over many steps (3 autograd nodes
        per step, one more with inputs)."""
        a, wt, h, floor = self.A, self.W.t(), self.h, self._floor
        ct = self.C.t() if self.n_inputs else None

        def step(z: Tensor, u: Tensor | None = None) -> Tensor:
            phi = torch.where(z > floor, z, floor)
            z_next = torch.addcmul(torch.addmm(h, phi, wt), a, z)
            return z_next if u is None or ct is None else torch.addmm(z_next, u, ct)

        return step

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """One AL-RNN step ``A * z + W phi(z) + h (+ C u)``, (B, M) -> (B, M); u (B, U)."""
        return self._latent_map()(state, self._inputs(u))

    def jacobian(self, state: Tensor) -> Tensor:
        """Closed-form Jacobian of `step`: ``diag(A) + W diag(1, .., 1, 1[z_PWL > 0])``.

        Args:
            state: latent states (..., M).

        Returns:
            Jacobians (..., M, M).
        """
        slope = (state > self._floor).to(state.dtype)  # phi'(z): 1 on linear units
        return torch.diag(self.A) + self.W * slope.unsqueeze(-2)

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """``[x, L x]`` from the last context observation x; earlier frames (and their forcing,
        which acts through later steps) are not used.

        Args:
            context: observations (B, Tc, N).
            u: the context's forcing, unused.

        Returns:
            Latent states (B, M).
        """
        x = context[:, -1]
        return torch.cat([x, x @ self.L.t()], dim=-1)

    def observe(self, state: Tensor) -> Tensor:
        """The read-out units, (..., M) -> (..., N)."""
        return state[..., : self.obs_dim]

    @torch.no_grad()
    def rollout(self, context: Tensor, n_steps: int, u: Tensor | None = None) -> Tensor:
        """Free run from the last context observation; see `AbstractModel.rollout`.

        Writes the read-out into a preallocated (B, n_steps, N) tensor, so no latent state outlives
        its step (memory B * n_steps * N, not * M) and W^T is taken once.
        """
        step = self._latent_map()
        inputs = self._inputs(check_forcing(u, context, n_steps))
        tc = context.shape[1]
        z = self.initial_state(context)
        out = z.new_empty(z.shape[0], n_steps, self.obs_dim)
        for t in range(n_steps):
            z = step(z) if inputs is None else step(z, inputs[:, tc + t])
            out[:, t] = self.observe(z)
        return out

    def teacher_forced(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """Latent predictions along a window under the configured teacher forcing, without noise.

        Args:
            x: observations (B, T + 1, N); x[:, 0] initializes the state, the rest force it.
            u: their forcing (B, T + 1, U), or None.

        Returns:
            Pre-forcing latent states (B, T, M) at the times of x[:, 1:].
        """
        predictions, _ = self._forced_rollout(x, u)
        return torch.stack(predictions, dim=1)

    def _inputs(self, u: Tensor | None) -> Tensor | None:
        """u when this model takes inputs and the data carry some, else None (refusing a mismatch)."""
        if u is None or u.shape[-1] == 0:
            if self.n_inputs:
                raise ValueError(f"this ALRNN was trained with {self.n_inputs} exogenous inputs; pass u")
            return None
        if u.shape[-1] != self.n_inputs:
            raise ValueError(f"this ALRNN takes {self.n_inputs} exogenous inputs, got u with {u.shape[-1]}")
        return u

    def _forced_rollout(self, signal: Tensor, u: Tensor | None = None) -> tuple[list[Tensor], list[Tensor]]:
        interval = self.config.forcing_interval if self.config.forcing == "sparse" else 1
        # alpha = 1 replaces the units outright: same values and gradient as the mixture, no graph.
        alpha = None if float(self.alpha) == 1.0 else self.alpha
        z0 = self.initial_state(signal[:, :1])
        inputs = self._inputs(u)
        return forced_rollout(self._latent_map(), z0, signal[:, 1:], interval=interval, alpha=alpha,
                              inputs=None if inputs is None else inputs[:, 1:])

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Teacher-forced one-window MSE (+ L1 regularization), updating alpha under aGTF.

        Args:
            batch: ``"x"``, normalized observed windows (B, T + 1, N), and their forcing ``"u"``
                (B, T + 1, U) when the model takes inputs.

        Returns:
            ``"loss"``, ``"mse"`` of the pre-forcing predictions of x[:, 1:], ``"alpha"`` used
            for this batch, and ``"reg"`` when ``lat_reg > 0``.
        """
        x = batch["x"]
        cfg = self.config
        signal = x + cfg.noise * torch.randn_like(x) if self.training and cfg.noise > 0 else x
        alpha = self.alpha.detach().clone()
        predictions, stepped_from = self._forced_rollout(signal, batch.get("u"))
        mse = F.mse_loss(self.observe(torch.stack(predictions, dim=1)), x[:, 1:])
        out = {"loss": mse, "mse": mse.detach(), "alpha": alpha}
        if cfg.lat_reg > 0:
            reg = cfg.lat_reg * ((1 - self.A).abs().sum() + self.W.abs().sum() + self.h.abs().sum())
            out["loss"] = mse + reg
            out["reg"] = reg.detach()
        if self.training:
            self.n_batches += 1
            if cfg.adaptive_alpha and int(self.n_batches) % cfg.alpha_update_interval == 0:
                self._update_alpha(stepped_from)
        return out

    @torch.no_grad()
    def _update_alpha(self, stepped_from: list[Tensor]) -> None:
        """aGTF on the states this batch stepped from; the new alpha applies from the next batch.

        Hess et al. take the Jacobians at the inverted observations, which for an identity
        read-out leave the hidden (and here all piecewise-linear) units at zero; the states of the
        forced trajectory are the points whose Jacobians the gradient actually multiplies.
        """
        norms = self._jacobian_norms(torch.stack(stepped_from, dim=1))  # (B, T)
        estimate = optimal_alpha(product_upper_bound(norms))
        self.alpha.copy_(anneal_alpha(self.alpha, estimate, self.config.alpha_decay))

    @torch.no_grad()
    def _jacobian_norms(self, states: Tensor) -> Tensor:
        """Spectral norms of the Jacobians at states (..., M) -> (...).

        A Jacobian depends on its state only through the ReLU pattern (the symbolic code), so the
        norm, an SVD, is taken once per distinct pattern: 100 ms -> 10 ms for B * T = 3200, P = 2.
        """
        m, p = self.config.latent_dim, self.config.n_pwl
        if p == 0:  # a linear map: one Jacobian
            norm = torch.linalg.matrix_norm(self.jacobian(states.new_zeros(m)), ord=2)
            return norm.expand(states.shape[:-1])
        active = states[..., m - p :] > 0
        patterns, which = torch.unique(active.reshape(-1, p), dim=0, return_inverse=True)
        # One state per pattern: 1 > 0 switches a ReLU on, 0 leaves it off.
        representatives = F.pad(patterns.to(states.dtype), (m - p, 0))
        norms = torch.linalg.matrix_norm(self.jacobian(representatives), ord=2)
        return norms[which].reshape(active.shape[:-1])
