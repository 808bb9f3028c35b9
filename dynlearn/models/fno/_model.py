"""Fourier neural operator as an autoregressive field model: the last `history` frames -> the next frame.

Li, Kovachki, Azizzadenesheli, Liu, Bhattacharya, Stuart, Anandkumar (2021), "Fourier Neural
Operator for Parametric Partial Differential Equations", ICLR, arXiv 2010.08895 (FNO-2D: ten
input frames, the next one out, rolled out); the block layout of neuraloperator's ``FNO`` (lifting
and projection channel MLPs, a channel MLP with soft-gating skip in each block). Training rolls the
model out over several steps from several starts per window, optionally with the pushforward trick
(Brandstetter, Worrall & Welling 2022, ICLR), which the neuraloperator library has no trainer for.

Masks (river grids): a cell that is NaN in any frame the model reads is off the mask. Its values are
replaced by 0 before the network (the spectral convolutions mix every cell, so nothing else would
keep them from reaching the river), a mask channel tells the network where the river is, it is
left out of the loss, and the model's frames there are NaN. Forcing is read on every cell: rain off
the river drains into it.
"""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor, nn

from dynlearn._errors import ConfigError
from dynlearn.models._base import AbstractModel, IOShape
from dynlearn.models.fno._blocks import ChannelMLP, FourierBlock, n_positional, positional_channels
from dynlearn.models.fno._config import FNOConfig


@final
class FNO(AbstractModel):
    """FNO on fields (B, T, C, *spatial), 1-D or 2-D, with forcing (B, T, U, *spatial) (U may be 0).

    One step: the lifting ChannelMLP (width·2 hidden) reads, per point, the `history` frames (h·C
    channels, oldest first), the forcing at the predicted time divided by ``input_scale`` (U), the
    positional channels and the mask channel; `n_layers` `FourierBlock`s; the projection ChannelMLP
    (width·projection_ratio hidden) writes the C channels of the next frame, or its increment over the
    last frame (``residual``). The state is the last `history` frames, (B, h, C, *spatial).

    Args:
        io: an `IOShape` with state (C, *spatial) (one or two spatial axes) and forcing (U, *spatial)
            or (0,).
        config: hyperparameters; `FNOConfig` defaults when None.
    """

    Config = FNOConfig
    layout = "field"
    kinds = ("field1d", "field2d", "grid")
    differentiable_step = True  # λ_max by Jacobian-vector products of `step`

    def __init__(self, io: IOShape | int, config: FNOConfig | None = None) -> None:
        super().__init__()
        io = IOShape.of(io)
        d = len(io.state) - 1
        if d not in (1, 2) or (io.n_inputs > 0 and tuple(io.forcing[1:]) != tuple(io.state[1:])):
            raise ConfigError(f"FNO reads 1-D or 2-D fields (C, *spatial) with forcing on the same grid; got "
                              f"{io.state} and {io.forcing}: use it on a field or grid store")
        self.config = cfg = FNOConfig() if config is None else config
        self.channels, self.n_inputs = io.state[0], io.n_inputs
        g = torch.Generator().manual_seed(cfg.seed)
        n_in = cfg.history * self.channels + self.n_inputs + n_positional(cfg.positional, d) + 1
        self.lifting = ChannelMLP(n_in, 2 * cfg.width, cfg.width, g)
        self.blocks = nn.ModuleList(FourierBlock(cfg.width, (cfg.modes,) * d, i == cfg.n_layers - 1, g)
                                    for i in range(cfg.n_layers))
        self.projection = ChannelMLP(cfg.width, max(1, round(cfg.projection_ratio * cfg.width)), self.channels, g)

    def predict(self, frames: Tensor, mask: Tensor, u_next: Tensor | None) -> Tensor:
        """The next frame from frames that are already zero off the mask.

        Args:
            frames: (N, h, C, *spatial), finite, 0 off the mask.
            mask: (N, *spatial) bool, the cells on the mask.
            u_next: forcing at the predicted time (N, U, *spatial), or None.

        Returns:
            (N, C, *spatial), 0 off the mask.
        """
        n, spatial = frames.shape[0], frames.shape[3:]
        parts = [frames.flatten(1, 2)]
        if self.n_inputs:
            if u_next is None:
                raise ValueError(f"this FNO reads {self.n_inputs} forcing channels; pass the forcing u")
            parts.append(torch.nan_to_num(u_next, nan=0.0) / self.config.input_scale)
        position = positional_channels(tuple(spatial), self.config.positional, frames)
        parts += [position.expand(n, *position.shape), mask.unsqueeze(1).to(frames.dtype)]
        v = self.lifting(torch.cat(parts, dim=1))
        for block in self.blocks:
            v = block(v)
        out = self.projection(v)
        if self.config.residual:
            out = out + frames[:, -1]
        return torch.where(mask.unsqueeze(1), out, 0.0)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Relative L2 (or MSE) of `rollout_steps`-step rollouts from evenly spaced starts, averaged over
        the steps (pushforward: the last step only), over the cells finite in every frame of the window.

        Args:
            batch: ``"x"`` (B, T, C, *spatial) with T >= history + rollout_steps, ``"u"`` (B, T, U, *spatial).

        Returns:
            ``"loss"``, and ``"one_step"``: the error of the first step (no gradient), comparable across
            rollout settings.

        Raises:
            ConfigError: windows too short for history + rollout_steps.
        """
        cfg = self.config
        x, u = batch["x"], batch.get("u")
        u = None if u is None or u.shape[2] == 0 else u
        needed = cfg.history + cfg.rollout_steps
        if x.shape[1] < needed:
            raise ConfigError(f"FNO: windows of {x.shape[1]} steps are shorter than history + rollout_steps = {needed}; "
                              f"set trainer.seq_len >= {needed - 1} (or lower model.history / model.rollout_steps)")
        mask = _on_mask(x)
        x = torch.where(mask[:, None, None], x, 0.0)
        starts = _starts(x.shape[1] - needed + 1, cfg.starts_per_window, x.device)
        times = starts[:, None] + torch.arange(needed, device=x.device)  # (S, needed)
        windows = x[:, times].flatten(0, 1)  # (B·S, needed, C, *spatial)
        forcing = None if u is None else u[:, times].flatten(0, 1)
        mask = mask.repeat_interleave(len(starts), dim=0)

        frames, errors = windows[:, :cfg.history], []
        if cfg.input_noise > 0 and self.training:  # off the mask the frames stay 0
            frames = frames + cfg.input_noise * torch.randn_like(frames) * mask[:, None, None]
        for j in range(cfg.rollout_steps):
            t = cfg.history + j
            scored = not cfg.pushforward or j == cfg.rollout_steps - 1
            with torch.set_grad_enabled(scored and torch.is_grad_enabled()):
                new = self.predict(frames, mask, None if forcing is None else forcing[:, t])
            if scored or j == 0:
                errors.append(self._error(new, windows[:, t], mask))
            frames = torch.cat([frames[:, 1:], new.unsqueeze(1)], dim=1)
        scored = errors[-1:] if cfg.pushforward else errors
        return {"loss": torch.stack(scored).mean(), "one_step": errors[0].detach()}

    def _error(self, predicted: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """The loss of one step over the batch; both fields are 0 off the mask, (N, C, *spatial) -> ()."""
        squared = (predicted - target).pow(2).flatten(1).sum(1)
        if self.config.loss == "mse":
            return squared.sum() / (mask.sum() * target.shape[1]).clamp_min(1)
        norm = target.pow(2).flatten(1).sum(1).clamp_min(torch.finfo(target.dtype).tiny)
        return (squared / norm).sqrt().mean()

    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """The last `history` context frames, (B, Tc, C, *spatial) -> (B, h, C, *spatial); a context
        shorter than `history` is extended backwards by repeating its first frame (as if the field
        had rested there), so that a one-frame context still starts a forecast."""
        h = self.config.history
        if context.shape[1] >= h:
            return context[:, -h:]
        pad = context[:, :1].expand(-1, h - context.shape[1], *context.shape[2:])
        return torch.cat([pad, context], dim=1)

    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """(B, h, C, *spatial) -> (B, h, C, *spatial): drop the oldest frame, append the prediction.

        Args:
            state: the last h frames; a cell NaN in any of them is off the mask and NaN in the new frame.
            u: the forcing at the predicted time (B, U, *spatial), or None.
        """
        mask = _on_mask(state)
        frames = torch.where(mask[:, None, None], state, 0.0)
        new = self.predict(frames, mask, u if self.n_inputs else None)
        new = torch.where(mask.unsqueeze(1), new, float("nan"))
        return torch.cat([state[:, 1:], new.unsqueeze(1)], dim=1)

    def observe(self, state: Tensor) -> Tensor:
        """The newest frame, (B, h, C, *spatial) -> (B, C, *spatial)."""
        return state[:, -1]


def _on_mask(frames: Tensor) -> Tensor:
    """The cells finite in every frame and channel, (B, T, C, *spatial) -> (B, *spatial) bool."""
    return torch.isfinite(frames).flatten(1, 2).all(dim=1)


def _starts(n_possible: int, wanted: int, device: torch.device) -> Tensor:
    """`wanted` start times spread evenly over 0 .. n_possible - 1, both ends included (all when
    `wanted` is 0 or at least n_possible), (S,) int64."""
    if wanted == 0 or wanted >= n_possible:
        return torch.arange(n_possible, device=device)
    if wanted == 1:
        return torch.zeros(1, dtype=torch.int64, device=device)
    return torch.round(torch.linspace(0, n_possible - 1, wanted, dtype=torch.float64)).to(torch.int64).to(device)
