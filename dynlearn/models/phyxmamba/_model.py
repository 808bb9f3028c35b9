"""PhyxMamba: a next-patch forecaster on delay-embedded tokens with a residual Mamba-2 stack.

Liu, Zhao, Ding, Wang, Li (2025), "Mamba Integrated with Physics Principles Masters Long-term
Chaotic System Forecasting", arXiv 2505.23863. One forward pass, for a context of L steps:

    e = Linear(patchify(delay_embed(x)))  + sinusoidal positions     # (B, S = L/P, d)
    r_0 = e;  h_i = Mamba2_i(r_{i-1});  r_i = r_{i-1} - W h_i;  h = Σ_i h_i
    next patch of token s = head(h_s)                                 # (B, S, P·V)

Multi-token prediction (DeepSeek-V3 style) adds depths k = 1..K: token s of depth k mixes the
previous depth's state with the embedding of the true patch k ahead,
``h^k_s = Mamba2^k(W^k [RMSNorm(h^{k-1}_s); RMSNorm(e_{s+k})])``, and the shared head predicts the
patch k + 1 ahead. Training has two stages (`begin_epoch` switches): teacher-forced next-patch
(+ MTP) regression, then fine-tuning on free rollouts of `rollout_steps` with the MMD terms that
match the predicted states' distribution to the truth's at each step (conditional) and to the
invariant measure (unconditional); its first epochs train the head alone ("linear probing").
Inference predicts a patch, appends it and slides the context window.
"""

from __future__ import annotations

import dataclasses
import math
from typing import final

import torch
from torch import Tensor, nn

from dynlearn._errors import ConfigError, DataError
from dynlearn.layers import Mamba2
from dynlearn.models._base import AbstractModel, DataFacts, IOShape
from dynlearn.models.phyxmamba._embedding import causal_delay_embed, choose_delays, patchify, unpatchify
from dynlearn.models.phyxmamba._mmd import SCALES, mmd

# Provisional delays for checking a config whose m / tau are left to the data (never trained with).
_CHECK_DELAYS = (3, 7)


@dataclasses.dataclass(frozen=True)
class PhyxMambaConfig:
    """Hyperparameters of `PhyxMamba` (defaults: the CPU-sized Lorenz-63 configuration).

    Attributes:
        m, tau: delays per channel and steps between them (the paper: 3, 7 for Lorenz and
            Rössler; 4, 3 for Lorenz-96). None in a run config: chosen from the training data by
            mutual information and false nearest neighbours (`choose_delays`).
        context: L, observations read per forecast (a multiple of `patch`; the paper: 30).
        patch: P, steps per token (the paper: 10 Lorenz, 5 Rössler and Lorenz-96).
        d_model, d_state, expand, headdim, d_conv, chunk_size: the Mamba-2 blocks (paper: 256,
            1024, 2, 64, 4; the chunk is capped at L/P, the most tokens a sequence holds).
        n_layers: blocks of the residual stack (paper: 4 Lorenz, 1 Rössler, 3 Lorenz-96).
        dropout: after the token embedding (paper 0.1; the CPU configuration trains without:
            bench/RESULTS.md).
        mtp_steps: K, multi-token prediction depths (0: off; paper 3); at most L/P - 1 are built.
        mtp_weight: λ_mtp, weight of the mean MTP loss (paper 0.1).
        rollout_steps: H, free-rollout length of the stage-2 loss (paper 30).
        stage1_fraction: share of the epochs trained teacher-forced before the rollout stage
            (paper: 800 of 1600).
        probe_fraction: share of the epochs, right after stage 1, that train the head alone
            (paper: 50 of 1600).
        mmd_unconditional, mmd_conditional: λ_u and λ_c of the stage-2 MMD terms (paper 1, 1000).
        mmd_scales: σ of the rational-quadratic kernels.
        seed: seed of the parameter initialization.
    """

    m: int | None = 3
    tau: int | None = 7
    context: int = 30
    patch: int = 10
    d_model: int = 64
    d_state: int = 32
    expand: int = 2
    headdim: int = 16
    d_conv: int = 4
    chunk_size: int = 8
    n_layers: int = 2
    dropout: float = 0.0
    mtp_steps: int = 3
    mtp_weight: float = 0.1
    rollout_steps: int = 30
    stage1_fraction: float = 0.5
    probe_fraction: float = 0.03
    mmd_unconditional: float = 1.0
    mmd_conditional: float = 1000.0
    mmd_scales: tuple[float, ...] = SCALES
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "mmd_scales", tuple(float(s) for s in self.mmd_scales))
        checks = [
            (self.m is None or self.m >= 1, "m must be >= 1 (or null: chosen from the data)"),
            (self.tau is None or self.tau >= 1, "tau must be >= 1 (or null: chosen from the data)"),
            (self.patch >= 1 and self.context >= self.patch and self.context % self.patch == 0,
             "context must be a positive multiple of patch"),
            (self.m is None or self.tau is None or (self.m - 1) * self.tau < self.context,
             "the delays span (m - 1) tau steps, which must be shorter than the context (later delay "
             "coordinates of every token would be zero)"),
            (self.d_model >= 1 and self.d_state >= 1 and self.n_layers >= 1, "sizes must be >= 1"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.mtp_steps >= 0 and self.mtp_weight >= 0, "mtp_steps and mtp_weight must be >= 0"),
            (self.rollout_steps >= 1, "rollout_steps must be >= 1"),
            (0 <= self.stage1_fraction <= 1 and 0 <= self.probe_fraction <= 1,
             "stage1_fraction and probe_fraction must be in [0, 1]"),
            (self.mmd_unconditional >= 0 and self.mmd_conditional >= 0, "MMD weights must be >= 0"),
            (len(self.mmd_scales) >= 1 and all(s > 0 for s in self.mmd_scales), "mmd_scales must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"PhyxMamba: {message} (got {self}); fix the model config")


def shifted_targets(window: Tensor, context: int, patch: int, depth: int) -> Tensor:
    """What the tokens of MTP depth `depth` predict (depth 0: the main next-patch head).

    Token s of a context ``window[:, :context]`` covers steps [sP, (s+1)P); depth k predicts the
    patch k + 1 ahead, steps [(s+k+1)P, (s+k+2)P), for the tokens s whose target lies within
    ``window[:, :context + patch]``.

    Args:
        window: (B, >= context + patch, V).

    Returns:
        (B, (S - k)·P, V), S = context / patch.
    """
    return window[:, (depth + 1) * patch:context + patch]


def _positions(length: int, width: int) -> Tensor:
    """Sinusoidal position embedding (Vaswani et al. 2017), (length, width)."""
    position = torch.arange(length, dtype=torch.float64)[:, None]
    frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float64) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, :width // 2]
    return table


class _RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(width)), eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class _ResidualStack(nn.Module):
    """The N-BEATS-like residual Mamba-2 stack: each block reads what the earlier ones left
    unexplained, ``r_i = r_{i-1} - W h_i`` (one W for all blocks), and the output is Σ h_i."""

    def __init__(self, blocks: list[Mamba2], width: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.explained = nn.Linear(width, width)

    def forward(self, e: Tensor) -> Tensor:
        """(B, S, d) -> (B, S, d)."""
        residual, out = e, torch.zeros_like(e)
        for block in self.blocks:
            h = block(residual)
            residual = residual - self.explained(h)
            out = out + h
        return out


class _MTPDepth(nn.Module):
    """One multi-token-prediction depth: [RMSNorm(h); RMSNorm(e)] -> Linear(2d, d) -> Mamba-2."""

    def __init__(self, block: Mamba2, width: int) -> None:
        super().__init__()
        self.norm = _RMSNorm(width)  # one norm for both inputs, as in the authors' code
        self.mix = nn.Linear(2 * width, width)
        self.block = block

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        return self.block(self.mix(torch.cat([self.norm(h), self.norm(e)], dim=-1)))


@final
class PhyxMamba(AbstractModel):
    """PhyxMamba on the observed vector (see the module docstring for the equations).

    The state of the common interface is the sliding window itself: ``(B, L + P + 1, V)``, the
    context the pending patch was predicted from, that patch, and a last row holding how many of
    its steps have been emitted. `step` emits the next pending step and predicts a new patch when
    none is left, so repeated `step` equals the patch-at-a-time `rollout`. A context shorter
    than L is extended backwards with its first observation.

    Args:
        io: V, the observed dimension, or an `IOShape` ((V,),) without exogenous inputs.
        config: hyperparameters (m and tau must be set: `resolve_options` fills them from data).
    """

    Config = PhyxMambaConfig

    def __init__(self, io: IOShape | int, config: PhyxMambaConfig | None = None) -> None:
        super().__init__()
        io = IOShape.of(io)
        if len(io.state) != 1 or io.n_inputs > 0:
            raise ConfigError(f"PhyxMamba forecasts autonomous vectors; got observations {io.state} with "
                              f"{io.n_inputs} exogenous inputs: use a driven family (e.g. alrnn) for forced data")
        cfg = self.config = PhyxMambaConfig() if config is None else config
        if cfg.m is None or cfg.tau is None:
            raise ConfigError("PhyxMamba: m and tau are null; training chooses them from the data "
                              "(PhyxMamba.resolve_options), a model built directly needs integers")
        self.dim = io.dim
        dtype = torch.get_default_dtype()
        with torch.random.fork_rng(devices=[]):  # an initialization of its own, the caller's RNG untouched
            torch.manual_seed(cfg.seed)
            self.embed = nn.Linear(io.dim * cfg.m * cfg.patch, cfg.d_model)
            self.dropout = nn.Dropout(cfg.dropout)
            self.backbone = _ResidualStack([self._block() for _ in range(cfg.n_layers)], cfg.d_model)
            # Depth k needs a token s with s + k in the context: with S tokens at most S - 1 depths
            # ever train (the authors' loop stops there too), so no more are built.
            depths = min(cfg.mtp_steps, cfg.context // cfg.patch - 1)
            self.mtp = nn.ModuleList(_MTPDepth(self._block(), cfg.d_model) for _ in range(depths))
            self.head = nn.Linear(cfg.d_model, cfg.patch * io.dim)
        self.register_buffer("positions", _positions(cfg.context // cfg.patch, cfg.d_model).to(dtype),
                             persistent=False)
        self.to(dtype)
        self._stage = "next_patch"

    def _block(self) -> Mamba2:
        cfg = self.config
        # A sequence never holds more than L/P tokens: a longer chunk would only pad.
        return Mamba2(cfg.d_model, d_state=cfg.d_state, d_conv=cfg.d_conv, expand=cfg.expand,
                      headdim=cfg.headdim, chunk_size=min(cfg.chunk_size, cfg.context // cfg.patch))

    @classmethod
    def resolve_options(cls, options: dict, data: DataFacts | None) -> dict:
        """`options` with m / tau left null chosen from one training trajectory (T, V) by
        `choose_delays`; without data (a config checked before any exists) provisional values."""
        if options.get("m", 1) is not None and options.get("tau", 1) is not None:
            return dict(options)
        if data is None:
            m, tau = _CHECK_DELAYS
        else:
            try:
                m, tau = choose_delays(data.series())
            except ValueError as error:
                raise DataError(f"PhyxMamba could not choose its delays from the training data ({error}); "
                                "give model.m and model.tau") from None
        m, tau = options.get("m") or m, options.get("tau") or tau
        context = options.get("context", PhyxMambaConfig.context)
        if m > 1 and (m - 1) * tau >= context and options.get("tau") is None:
            tau = max(1, (context - 1) // (m - 1))  # the data's τ, capped so the delays fit the window
        return {**options, "m": m, "tau": tau}

    # -- training stages -------------------------------------------------------------------

    def begin_epoch(self, epoch: int, n_epochs: int) -> None:
        """Stage by epoch: next-patch (+ MTP) regression, then head-only rollout fine-tuning,
        then full rollout fine-tuning (fractions of `n_epochs` from the config)."""
        first_rollout = round(self.config.stage1_fraction * n_epochs)
        first_full = first_rollout + round(self.config.probe_fraction * n_epochs)
        self._stage = "next_patch" if epoch < first_rollout else "probe" if epoch < first_full else "rollout"
        head = {id(p) for p in self.head.parameters()}
        for p in self.parameters():
            p.requires_grad_(self._stage != "probe" or id(p) in head)

    @property
    def stage(self) -> str:
        """``"next_patch"`` (stage 1), ``"probe"`` or ``"rollout"`` (stage 2)."""
        return self._stage

    # -- the network -----------------------------------------------------------------------

    def tokens(self, x: Tensor) -> Tensor:
        """Token embeddings of a window, (B, S·P, V) -> (B, S, d)."""
        cfg = self.config
        embedded = causal_delay_embed(x, cfg.m, cfg.tau)  # (B, T, V, m)
        e = self.embed(patchify(embedded, cfg.patch))
        return self.dropout(e + self.positions[:e.shape[1]])

    def _predict_patch(self, window: Tensor) -> Tensor:
        """The patch after a window of L steps, (B, L, V) -> (B, P, V)."""
        h = self.backbone(self.tokens(window))
        return self.head(h[:, -1]).reshape(window.shape[0], self.config.patch, self.dim)

    def _free_run(self, window: Tensor, n_steps: int) -> Tensor:
        """Patch after patch from a window of L steps, sliding it: (B, L, V) -> (B, n_steps, V)."""
        patches, produced = [], 0
        while produced < n_steps:
            patch = self._predict_patch(window)
            patches.append(patch)
            produced += patch.shape[1]
            window = torch.cat([window, patch], dim=1)[:, -self.config.context:]
        return torch.cat(patches, dim=1)[:, :n_steps]

    def _window(self, context: Tensor) -> Tensor:
        """The last L observations of a context, extended backwards with its first if shorter."""
        length = self.config.context
        if context.shape[1] >= length:
            return context[:, -length:]
        pad = context[:, :1].expand(-1, length - context.shape[1], -1)
        return torch.cat([pad, context], dim=1)

    # -- the common interface --------------------------------------------------------------

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Stage 1: next-patch MSE + λ_mtp · mean MTP MSE; stage 2: free-rollout MSE + the MMD terms.

        The window x (B, T, V) is extended backwards with its first observation when shorter than
        L + P (stage 1) or L + 1 (stage 2); targets on that extension are not scored.

        Returns:
            ``"loss"``, ``"next_patch"``, ``"mtp"``, ``"rollout"``, ``"mmd_u"``, ``"mmd_c"`` (NaN
            where the stage does not compute it, so every epoch logs the same columns).
        """
        x = batch["x"]
        cfg = self.config
        nan = x.new_full((), math.nan)
        out = dict.fromkeys(("next_patch", "mtp", "rollout", "mmd_u", "mmd_c"), nan)
        if self._stage == "next_patch":
            window, start = self._extended(x, cfg.context + cfg.patch)
            e = self.tokens(window[:, :cfg.context])
            h = self.backbone(e)
            main = _masked_mse(unpatchify(self.head(h), cfg.patch), shifted_targets(window, cfg.context, cfg.patch, 0),
                               start - cfg.patch)
            loss, depths = main, []
            for k, depth in enumerate(self.mtp, start=1):
                h = depth(h[:, :-1], e[:, k:])
                predicted = unpatchify(self.head(h), cfg.patch)
                depths.append(_masked_mse(predicted, shifted_targets(window, cfg.context, cfg.patch, k),
                                          start - (k + 1) * cfg.patch))
            if depths:
                out["mtp"] = torch.stack(depths).mean()
                loss = loss + cfg.mtp_weight * out["mtp"]
            out["next_patch"] = main
        else:
            window, start = self._extended(x, cfg.context + 1)
            horizon = min(cfg.rollout_steps, window.shape[1] - cfg.context)
            truth = window[:, cfg.context:cfg.context + horizon]  # (B, H, V)
            predicted = self._free_run(window[:, :cfg.context], horizon)
            out["rollout"] = loss = _masked_mse(predicted, truth, start - cfg.context)
            # Per step t, over the batch: the truth at t (conditional) and true states from the
            # invariant measure, the context's last states (unconditional).
            steps_first = predicted.transpose(0, 1)  # (H, B, V)
            if cfg.mmd_conditional > 0:
                out["mmd_c"] = mmd(truth.transpose(0, 1), steps_first, cfg.mmd_scales).mean()
                loss = loss + cfg.mmd_conditional * out["mmd_c"]
            if cfg.mmd_unconditional > 0:
                initial = window[:, cfg.context - 1].expand(horizon, -1, -1)
                out["mmd_u"] = mmd(initial, steps_first, cfg.mmd_scales).mean()
                loss = loss + cfg.mmd_unconditional * out["mmd_u"]
        return {"loss": loss, **{k: v.detach() for k, v in out.items()}}

    @staticmethod
    def _extended(x: Tensor, length: int) -> tuple[Tensor, int]:
        """x extended backwards with its first observation to at least `length` steps, and the
        index of its first real step."""
        pad = max(0, length - x.shape[1])
        return (torch.cat([x[:, :1].expand(-1, pad, -1), x], dim=1) if pad else x), pad

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """(B, Tc, V) -> (B, L + P + 1, V): the window, no pending step, the phase row at P."""
        cfg = self.config
        window = self._window(context)
        state = window.new_zeros(window.shape[0], cfg.context + cfg.patch + 1, self.dim)
        state[:, cfg.patch:cfg.context + cfg.patch] = window
        state[:, -1] = cfg.patch
        return state

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """The next step: the next pending one, or the first of a newly predicted patch."""
        cfg = self.config
        emitted = int(state[0, -1, 0].item())
        state = state.clone()
        if emitted < cfg.patch:
            state[:, -1] = emitted + 1
            return state
        window = state[:, cfg.patch:cfg.context + cfg.patch].clone()  # overlaps its destination
        state[:, :cfg.context] = window
        state[:, cfg.context:cfg.context + cfg.patch] = self._predict_patch(window)
        state[:, -1] = 1
        return state

    def observe(self, state: Tensor) -> Tensor:
        """The current observation, (B, L + P + 1, V) -> (B, V)."""
        emitted = int(state[0, -1, 0].item())
        return state[:, self.config.context - 1 + emitted]

    @torch.no_grad()
    def rollout(self, context: Tensor, n_steps: int, u: Tensor | None = None) -> Tensor:
        """Patch-at-a-time free run from the last L context steps, equal to repeated `step`."""
        if u is not None and u.shape[2] > 0:
            raise ValueError("PhyxMamba takes no exogenous inputs")
        if n_steps == 0:
            return context.new_empty(context.shape[0], 0, self.dim)
        return self._free_run(self._window(context), n_steps)


def _masked_mse(predicted: Tensor, target: Tensor, first_real: int) -> Tensor:
    """MSE over the target steps at index >= first_real (earlier ones lie on the extension)."""
    first_real = max(0, first_real)
    return (predicted[:, first_real:] - target[:, first_real:]).pow(2).mean()
