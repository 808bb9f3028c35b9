"""DynaMix: a mixture of AL-RNN experts sharing one latent state, gated by the context.

Hemmer & Durstewitz (2025), "True Zero-Shot Inference of Dynamical Systems Preserving Long-Term
Statistics", NeurIPS, arXiv 2505.13192. Defaults follow the authors' released 3-d model and training
settings (J = 10 experts of M = 30 units, P = 2 of them piecewise linear; sparse teacher forcing every
10 steps; input noise 0.05; reference/models.md §5). Each step,

    z_{t+1} = Σ_j w_j(z_t, C) · (A_j ⊙ z_t + W_j Φ*(z_t) + h_j),    x_t = z_t[:N],

with w from `ContextGate` over the context C. With one expert, w = 1 and the model is an AL-RNN.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import final

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynlearn._cpp_extension import takes
from dynlearn._errors import ConfigError
from dynlearn.models._base import AbstractModel, IOShape
from dynlearn.models.alrnn import forced_rollout, initial_parameters
from dynlearn.models.dynamix._experts import experts_flat, mix_experts
from dynlearn.models.dynamix._gating import ContextGate


@dataclasses.dataclass(frozen=True)
class DynaMixConfig:
    """Hyperparameters of `DynaMix`.

    Attributes:
        n_experts: J, AL-RNN experts.
        latent_dim: M, units of the shared latent state (>= the observed dimension N).
        n_pwl: P, piecewise-linear units of every expert (the last P of the M).
        context_len: frames at the start of each training window that the gate reads as the
            context; the rest of the window is forecast from the context's last frame under sparse
            teacher forcing. A number in (0, 1): that fraction of the window (rounded down). None:
            the first half.
        forcing_interval: τ, steps between teacher-forcing times.
        noise: standard deviation of Gaussian noise added in training to the observations that
            initialize and force the state (not to the targets, nor to the context).
        gate_noise: initial σ of the gating noise.
        attention_temperature, gate_temperature: initial τ₁ (attention over the context) and τ₂
            (softmax over the experts).
        gate_reg: λ, weight of the penalty that keeps σ away from 0.
        seed: seed of the parameter initialization.
    """

    n_experts: int = 10
    latent_dim: int = 30
    n_pwl: int = 2
    context_len: int | float | None = None
    forcing_interval: int = 10
    noise: float = 0.05
    gate_noise: float = 0.05
    attention_temperature: float = 0.1
    gate_temperature: float = 0.1
    gate_reg: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.n_experts >= 1, "n_experts must be >= 1"),
            (self.latent_dim >= 1, "latent_dim must be >= 1"),
            (0 <= self.n_pwl <= self.latent_dim, "n_pwl must be in [0, latent_dim]"),
            (self.context_len is None or (isinstance(self.context_len, int) and self.context_len >= 2)
             or 0 < self.context_len < 1, "context_len must be >= 2 steps, a fraction in (0, 1), or null"),
            (self.forcing_interval >= 1, "forcing_interval must be >= 1"),
            (self.noise >= 0 and self.gate_noise >= 0 and self.gate_reg >= 0,
             "noise, gate_noise and gate_reg must be >= 0"),
            (self.attention_temperature > 0 and self.gate_temperature > 0, "temperatures must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"DynaMix: {message} (got {self}); fix the model config")


@final
class DynaMix(AbstractModel):
    """J AL-RNN experts on one latent state, mixed by a gate that reads a context (Hemmer & Durstewitz 2025).

    The state of `initial_state` / `step` is ``[z (M), keys, values]``: the latent units, then the
    context as the gate reads it (`ContextGate.features`, flattened), carried along unchanged so
    that every step can attend to it. The initial latent state is ``[x, L x]`` from the context's
    last frame x (the reference's z_0 = x B with z_0[:N] = x; L = B[:, N:]ᵀ, uniform ±1/√M).

    Parameters: A (J, M), W (J, M, M), h (J, M) of the experts (each with the AL-RNN's
    initialization), L (M − N, N), and the gate's. The gating noise makes steps random, also at
    inference (as in the reference); seed torch's generator for repeatable forecasts.

    Args:
        io: N, the observed dimension (vectors, no forcing).
        config: hyperparameters; `DynaMixConfig` defaults when None.
    """

    Config = DynaMixConfig

    def __init__(self, io: IOShape | int, config: DynaMixConfig | None = None) -> None:
        super().__init__()
        config = DynaMixConfig() if config is None else config
        io = IOShape.of(io)
        if len(io.state) != 1 or io.n_inputs:
            raise ConfigError(f"DynaMix reads vectors without forcing; got observations {io.state}, forcing {io.forcing}")
        n, m, p, j = io.dim, config.latent_dim, config.n_pwl, config.n_experts
        if not 1 <= n <= m:
            raise ConfigError(f"DynaMix reads out its first N units: need 1 <= N ({n}) <= latent_dim ({m}); raise latent_dim")
        self.config, self.obs_dim = config, n
        dtype = torch.get_default_dtype()
        experts = [initial_parameters(m, n, config.seed * j + k) for k in range(j)]
        self.A = nn.Parameter(torch.stack([a for a, _, _ in experts]).to(dtype))
        self.W = nn.Parameter(torch.stack([w for _, w, _ in experts]).to(dtype))
        self.h = nn.Parameter(torch.zeros(j, m, dtype=dtype))
        g = torch.Generator().manual_seed(config.seed)
        self.L = nn.Parameter(((2 * torch.rand(m - n, n, generator=g, dtype=torch.float64) - 1) / math.sqrt(m)).to(dtype))
        with torch.random.fork_rng(devices=[]):  # the gate's layers draw from an RNG of their own
            torch.manual_seed(config.seed)
            self.gate = ContextGate(n, m, j, config.gate_noise, config.attention_temperature, config.gate_temperature)
        floor = torch.full((m,), -math.inf, dtype=dtype)  # Φ*: identity on the first M − P units, ReLU on the rest
        floor[m - p:] = 0.0
        self.register_buffer("_floor", floor, persistent=False)

    def _latent_map(self, keys: Tensor, values: Tensor) -> Callable[..., Tensor]:
        """The mixture step for one context, `step(z, eps=None)` (ε: the gating noise (B, N), drawn
        when None), the experts' weights reshaped once (for loops over many steps)."""
        a, wt, h = experts_flat(self.A, self.W, self.h)

        def step(z: Tensor, eps: Tensor | None = None) -> Tensor:
            return mix_experts(z, self.gate(z, keys, values, eps), a, wt, h, self._floor)

        return step

    def _split(self, state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        m, n = self.config.latent_dim, self.obs_dim
        z, keys, values = state.split([m, (state.shape[1] - m) // 2, (state.shape[1] - m) // 2], dim=1)
        return z, keys.reshape(len(state), -1, n), values.reshape(len(state), -1, n)

    def _start(self, x: Tensor) -> Tensor:
        """z_0 = [x, L x] from observations x (B, N)."""
        return torch.cat([x, x @ self.L.t()], dim=-1)

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """``[z_0, keys, values]`` (B, M + 2N·max(Tc − 1, 1)) from a context (B, Tc, N); u unused."""
        keys, values = self.gate.features(context)
        return torch.cat([self._start(context[:, -1]), keys.flatten(1), values.flatten(1)], dim=1)

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """One mixture step on the latent units; the context part is carried unchanged."""
        z, keys, values = self._split(state)
        return torch.cat([self._latent_map(keys, values)(z), state[:, z.shape[1]:]], dim=1)

    def observe(self, state: Tensor) -> Tensor:
        """The read-out units, (B, M + ...) -> (B, N)."""
        return state[:, :self.obs_dim]

    @torch.no_grad()
    def rollout(self, context: Tensor, n_steps: int, u: Tensor | None = None) -> Tensor:
        """Free run from a context (B, Tc, N): the gate's features computed once, only the latent
        units stepped, the read-out returned as (B, n_steps, N); u unused.

        The gating noise ε of the whole run is drawn up front from torch's global generator, one
        (B, N) draw per step as `step` draws it (so a rollout is `step` repeated, number for number;
        seed the generator for repeatable forecasts; 10,000 draws take ~40 ms). On the CPU
        in float32/float64 the run is then one call of the fused C++ kernel
        (`_fused.rollout_cpu`, built on first use); elsewhere, or when it cannot build
        (`_fused.status()` says why), the PyTorch loop `_fused.rollout_ref`. Both read the same ε,
        so they agree to rounding.
        """
        # Imported here, not with the package, so that `python -m dynlearn.models.dynamix._fused --build`
        # runs that module once (runpy warns when the package has imported it already).
        from dynlearn.models.dynamix import _fused

        keys, values = self.gate.features(context)
        z = self._start(context[:, -1])
        noise = z.new_empty(n_steps, z.shape[0], self.obs_dim)
        for t in range(n_steps):
            noise[t] = torch.randn(z.shape[0], self.obs_dim, dtype=z.dtype, device=z.device)
        args = (z, keys, values, noise, self.A, self.W, self.h, self._floor, *self.gate.weights())
        fused = takes(*args) and _fused.status() is None
        return (_fused.rollout_cpu if fused else _fused.rollout_ref)(*args)

    def split_window(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """A training window (B, T, N) as ``(context, sequence)``: the first `context_len` frames
        (half when null), and the frames from the context's last one on, which the loss forecasts.

        Raises:
            ValueError: the window leaves no frame to forecast.
        """
        given = self.config.context_len
        tc = x.shape[1] // 2 if given is None else int(given * x.shape[1]) if given < 1 else given
        if not 2 <= tc <= x.shape[1] - 1:
            raise ValueError(f"DynaMix trains on windows of a {tc}-step context and >= 1 step after it; got "
                             f"windows of {x.shape[1]} steps: raise trainer.seq_len or lower model.context_len")
        return x[:, :tc], x[:, tc - 1:]

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """MSE of the read-out under sparse teacher forcing, after the context, + λ·`noise_penalty`.

        Args:
            batch: ``"x"``, normalized windows (B, T, N), split by `split_window`.

        Returns:
            ``"loss"``, ``"mse"`` and ``"gate_reg"`` (the penalty before its weight λ).
        """
        context, sequence = self.split_window(batch["x"])
        cfg = self.config
        signal = sequence + cfg.noise * torch.randn_like(sequence) if self.training and cfg.noise > 0 else sequence
        step = self._latent_map(*self.gate.features(context))
        predictions, _ = forced_rollout(step, self._start(signal[:, 0]), signal[:, 1:],
                                        interval=cfg.forcing_interval, alpha=None)
        mse = F.mse_loss(torch.stack(predictions, dim=1)[..., :self.obs_dim], sequence[:, 1:])
        penalty = self.gate.noise_penalty()
        return {"loss": mse + cfg.gate_reg * penalty, "mse": mse.detach(), "gate_reg": penalty.detach()}

