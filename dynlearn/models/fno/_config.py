"""Hyperparameters of the FNO family."""

from __future__ import annotations

import dataclasses
from typing import Literal

from dynlearn._errors import ConfigError


@dataclasses.dataclass(frozen=True)
class FNOConfig:
    """Hyperparameters of `FNO`.

    Attributes:
        history: frames the model reads to predict the next (Li et al.'s FNO-2D: 10; conf/model/fno.yaml
            sets 10, this default is short enough for any window of 9 or more steps).
        modes: retained Fourier wavenumbers per axis, k = -m .. m-1 on the leading axes and 0 .. m-1 on
            the last (Li et al.'s convention: FNO-2D has 12; neuraloperator's ``n_modes`` counts both
            signs, so its 64 is 32 here).
        width: channels of the Fourier layers.
        n_layers: Fourier blocks.
        projection_ratio: hidden channels of the projection MLP per width (neuraloperator: 2, its
            Navier–Stokes config 4). The lifting MLP's ratio is neuraloperator's fixed 2.
        positional: coordinate channels fed with the fields: ``periodic`` (sin, cos 2πx per axis;
            discretization invariant), ``grid`` (the ramp x ∈ [0, 1), neuraloperator's) or ``none``.
        residual: predict the increment, x_{t+1} = x_t + FNO(...), instead of x_{t+1} itself.
        rollout_steps: steps the loss rolls out from each start (windows need history + this steps:
            trainer.seq_len + 1 >= history + rollout_steps).
        pushforward: unroll the first rollout_steps - 1 steps without gradient and score only the last
            (Brandstetter, Worrall & Welling 2022, "Message Passing Neural PDE Solvers", ICLR): the
            model learns from its own inputs' distribution at one step's backpropagation cost.
        starts_per_window: rollout starts per training window, evenly spaced over the window
            (0: every start), batched together so that a long window is not spent on one sample.
        loss: ``relative_l2`` (per sample ‖ŷ - y‖ / ‖y‖, neuraloperator's ``LpLoss`` and the
            paper's metric) or ``mse``.
        input_noise: standard deviation of Gaussian noise added to the frames a training rollout
            starts from (standardized units; the targets stay clean), so the model learns to pull a
            slightly-off state back toward the data (Sanchez-Gonzalez et al. 2020, "Learning to
            Simulate Complex Physics with Graph Networks", ICML: noise against rollout drift). 0: off.
        input_scale: the forcing is divided by this before it enters (stored in physical units:
            mm/day of rain are tens, standardized fields ~1).
        seed: seed of the parameter initialization.

    The defaults of residual, rollout_steps and pushforward trained best in one comparison on
    Kuramoto–Sivashinsky (L = 22, 64 points, one time unit per frame, standardized; history 4,
    modes 16, width 20; 45 s of Adam at lr 2e-3 on one CPU thread per setting, one seed), relative
    L2 of free runs after 1 / 20 steps on held-out trajectories:
    one step, residual 0.004 / 0.21; 2 steps, residual 0.011 / 0.60, direct 0.016 / 0.65;
    pushforward over 2 steps 0.006 / 0.28, over 3 steps 0.012 / 0.27. Unrolling with gradient
    costs iterations that the one-step loss spends on more data within a CPU budget; where
    rollouts are wanted, pushforward beat full backpropagation at equal cost.
    """

    history: int = 4
    modes: int = 12
    width: int = 20
    n_layers: int = 4
    projection_ratio: float = 2.0
    positional: Literal["periodic", "grid", "none"] = "periodic"
    residual: bool = True
    rollout_steps: int = 1
    pushforward: bool = False
    starts_per_window: int = 4
    loss: Literal["relative_l2", "mse"] = "relative_l2"
    input_noise: float = 0.0
    input_scale: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.history >= 1, "history must be >= 1"),
            (self.modes >= 1, "modes must be >= 1"),
            (self.width >= 1, "width must be >= 1"),
            (self.n_layers >= 1, "n_layers must be >= 1"),
            (self.projection_ratio > 0, "projection_ratio must be positive"),
            (self.positional in ("periodic", "grid", "none"), "positional must be periodic, grid or none"),
            (self.rollout_steps >= 1, "rollout_steps must be >= 1"),
            (self.starts_per_window >= 0, "starts_per_window must be >= 0 (0: every start)"),
            (self.loss in ("relative_l2", "mse"), "loss must be relative_l2 or mse"),
            (self.input_noise >= 0, "input_noise must be >= 0"),
            (self.input_scale > 0, "input_scale must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"FNO: {message} (got {self}); fix the model config")
