"""Typed training settings (the CLI builds this from the Hydra config)."""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import ConfigError


@dataclass(frozen=True)
class TrainerConfig:
    """How to train.

    Attributes:
        epochs: number of epochs; an epoch is `batches_per_epoch` batches of windows sampled
            uniformly with replacement (there is no pass over a fixed dataset).
        batches_per_epoch, batch_size: sampling per epoch.
        seq_len: steps predicted per window (windows hold seq_len + 1 observations).
        optimizer: ``radam`` (default), ``adam`` or ``adamw``.
        weight_decay: the optimizer's weight decay (decoupled for adamw).
        scheduler: the per-epoch schedule from lr_start to lr_end: ``exponential`` (default),
            ``cosine`` or ``constant`` (lr_start throughout).
        lr_start, lr_end: the learning rate at the first epoch and (for the decaying schedules) after the last.
        grad_clip: max gradient norm (null: no clipping).
        eval_every: epochs between validation free-run scores (protocol v2); the model with the
            fewest failed runs, then the lowest pooled D_stsp, then D_H is kept (0: never, keep the last).
        eval_steps: free-run length of those scores.
        probe_starts: further starts along each validation case whose shorter free runs
            (TAIL_STEPS) count only when they collapse or diverge: with 8 cases a model whose
            coexisting attractor catches one start in five passes unseen one time in four.
        wall_time_limit: seconds after which training stops cleanly at an epoch end (null: none).
        max_loss: a loss above this (or NaN/Inf) counts as divergence.
        future_forcing: driven stores: ``observed`` (windows carry the observed forcing) or
            ``climatology`` (from step `forecast_context` of each window on, the training split's
            mean forcing per cell: windows shaped like the forecasts evaluation makes without
            future weather, `eval.future_forcing`).
        forecast_context: the issue step of those windows (the steps read before a forecast).
        normalization: ``channel`` (each state dimension or field channel standardized by its
            training mean and std) or ``cell`` (field and grid stores: each cell by its own, so
            small and large cells count alike in the loss, as they do in per-cell scores like NSE).
        horizon: steps of each training trajectory (of each period, for a store split by time)
            that windows are drawn from, counted from its start (null: all of them); forecasts
            past it extrapolate in time (Φ-ROM's protocol: train on the first 50 frames, test on 100).
        progress: show a progress bar.
    """

    epochs: int = 200
    batches_per_epoch: int = 50
    batch_size: int = 16
    seq_len: int = 200
    optimizer: str = "radam"
    weight_decay: float = 0.0
    scheduler: str = "exponential"
    lr_start: float = 1e-3
    lr_end: float = 1e-5
    grad_clip: float | None = 10.0
    eval_every: int = 10
    eval_steps: int = 2_000
    probe_starts: int = 3
    wall_time_limit: float | None = None
    max_loss: float = 1e4
    future_forcing: str = "observed"
    forecast_context: int | None = None
    normalization: str = "channel"
    horizon: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batches_per_epoch", "batch_size", "seq_len", "eval_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        if self.optimizer not in ("radam", "adam", "adamw"):
            raise ConfigError(f"unknown trainer.optimizer {self.optimizer!r}; choose radam, adam or adamw")
        if self.scheduler not in ("exponential", "cosine", "constant"):
            raise ConfigError(f"unknown trainer.scheduler {self.scheduler!r}; choose exponential, cosine or constant")
        if self.weight_decay < 0:
            raise ConfigError(f"trainer.weight_decay must be >= 0, got {self.weight_decay}")
        if not (self.lr_start > 0 and self.lr_end > 0):
            raise ConfigError("trainer.lr_start and trainer.lr_end must be positive")
        if self.probe_starts < 0:
            raise ConfigError(f"trainer.probe_starts must be >= 0, got {self.probe_starts}")
        if self.eval_every < 0:
            raise ConfigError(f"trainer.eval_every must be >= 0, got {self.eval_every}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError("trainer.grad_clip must be positive or null")
        if self.future_forcing not in ("observed", "climatology"):
            raise ConfigError(f"trainer.future_forcing must be observed or climatology, got {self.future_forcing!r}")
        if self.future_forcing == "climatology" and not (
                self.forecast_context is not None and 1 <= self.forecast_context <= self.seq_len):
            raise ConfigError(f"trainer.future_forcing=climatology needs trainer.forecast_context between 1 and "
                              f"trainer.seq_len ({self.seq_len}), got {self.forecast_context}")
        if self.normalization not in ("channel", "cell"):
            raise ConfigError(f"trainer.normalization must be channel or cell, got {self.normalization!r}")
        if self.horizon is not None and self.horizon <= self.seq_len:
            raise ConfigError(f"trainer.horizon ({self.horizon}) must exceed trainer.seq_len ({self.seq_len}): a "
                              "window holds seq_len + 1 steps; raise the horizon or shorten the windows")
        if self.wall_time_limit is not None and self.wall_time_limit <= 0:
            raise ConfigError("trainer.wall_time_limit must be positive (seconds) or null")
