"""The one interface every model family implements."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class IOShape:
    """What a model reads and predicts at one time step.

    Attributes:
        state: one observation, ``(D,)`` for vector families, ``(C, *spatial)`` for field families.
        forcing: one exogenous input (e.g. precipitation) at the same time, ``(U,)`` or
            ``(U, *spatial)``; ``U = 0``: the data have none.
    """

    state: tuple[int, ...]
    forcing: tuple[int, ...] = (0,)

    @classmethod
    def of(cls, io: IOShape | int) -> IOShape:
        """`io` itself, or a vector of that many dimensions with no forcing."""
        return io if isinstance(io, IOShape) else cls((int(io),))

    @property
    def dim(self) -> int:
        """Numbers per observation (D for vectors, C·H·W for fields)."""
        return math.prod(self.state)

    @property
    def n_inputs(self) -> int:
        """Exogenous input channels U (0 without forcing)."""
        return self.forcing[0]


@dataclass(frozen=True)
class DataFacts:
    """What a family may read of its training data before it is built (`AbstractModel.resolve_options`).

    Attributes:
        series: reads one training trajectory (T, D), normalized.
        system: the store's system description (the system's ``to_dict()``), e.g. to rebuild its equations.
        norm_mean, norm_std: the statistics the model's inputs were standardized with, per channel.
        n_slots: how many trajectories the windows' ``index[:, 0]`` can name (1 + the largest; 1
            when the store is split by time, where it is -1).
        n_times: time steps per trajectory that a window's ``index[:, 1]`` counts into.
    """

    series: Callable[[], np.ndarray]
    system: dict | None = None
    norm_mean: list | None = None
    norm_std: list | None = None
    n_slots: int = 1
    n_times: int = 0


class AbstractModel(nn.Module, abc.ABC):
    """A learned dynamical system.

    Families declare the layout they read: ``"vector"`` families see observations (B, T, D) (a
    field flattened), ``"field"`` families (B, T, C, *spatial) with a channel axis. Exogenous
    inputs ``u`` come time-aligned with the observations: ``u[:, t]`` is the forcing at the time
    of ``x[:, t]``, (B, T, U) or (B, T, U, *spatial), with U = 0 when the data have none. A model
    keeps any latent state of its own (e.g. an RNN's z) behind `initial_state` / `step` /
    `observe`, so the same training loop, rollout, Lyapunov and forecasting code serves every family.
    A family's constructor takes ``(io: IOShape | int, config)`` (an int: a vector, no forcing).
    """

    layout: ClassVar[Literal["vector", "field"]] = "vector"
    # The store kinds (dynlearn.data's LAYOUTS) a family learns; a model is refused before training
    # on any other. Vector families read a 1-D field flattened.
    kinds: ClassVar[tuple[str, ...]] = ("ode", "field1d", "series")
    # The longest forecast a family supports, in steps (None: any); `dynlearn.forecast` refuses longer leads.
    max_lead: ClassVar[int | None] = None

    @abc.abstractmethod
    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Training loss on one batch.

        Args:
            batch: ``"x"``, observed windows (B, T, ...) already normalized, ``"u"`` their
                forcing (B, T, U, ...), ``"index"`` (B, 2) int64 (trajectory or -1, first time step).

        Returns:
            A dict with the scalar ``"loss"`` to minimize and any other scalars worth logging
            (the training log gets a column for each).
        """

    @abc.abstractmethod
    def initial_state(self, context: Tensor, u: Tensor | None = None) -> Tensor:
        """The model state after reading a context window.

        Args:
            context: observations (B, Tc, ...), Tc >= 1.
            u: the context's forcing (B, Tc, U, ...), or None.

        Returns:
            The state at the last context time, (B, ...).
        """

    @abc.abstractmethod
    def step(self, state: Tensor, u: Tensor | None = None) -> Tensor:
        """One step of the learned map, state (B, ...) -> (B, ...).

        Args:
            state: the state at time t.
            u: the forcing at time t + 1 (B, U, ...), or None.
        """

    @abc.abstractmethod
    def observe(self, state: Tensor) -> Tensor:
        """The observation of a state, (B, ...) -> (B, D) or (B, C, *spatial)."""

    @classmethod
    def resolve_options(cls, options: dict, data: DataFacts | None) -> dict:
        """`options` with those the family derives from the data (left null in its config)
        filled in, before the model is built (e.g. PhyxMamba's delays, Φ-ROM's equations).

        Args:
            options: fields of the family's config.
            data: what the family may know of its training data (its `series` read only by a
                family that needs it); None when a config is checked before any data exist: the
                family fills provisional values, so that the other options can be checked.

        Returns:
            The options to build the model with (default: unchanged).
        """
        return dict(options)

    def begin_epoch(self, epoch: int, n_epochs: int) -> None:
        """Called by the training loop before each epoch (0-based) of `n_epochs`, for families
        whose loss changes with training progress (stages). It must depend on its arguments
        only, so a resumed run trains exactly as an uninterrupted one. Default: nothing."""

    def jacobian(self, state: Tensor) -> Tensor:
        """The Jacobian of `step` at `state`, (B, M) -> (B, M, M), for the model's Lyapunov
        exponents. Families with a closed form override it (see `has_jacobian`); the others have
        no λ_max, and evaluation reports it as not available."""
        raise TypeError(f"{type(self).__name__} has no step Jacobian (check has_jacobian first)")

    @property
    def has_jacobian(self) -> bool:
        """Whether this family provides `jacobian`."""
        return type(self).jacobian is not AbstractModel.jacobian

    # Families whose `step` is a smooth torch function of the state set this: their λ_max comes
    # from Jacobian-vector products (forward-mode autodiff) when they have no closed-form
    # `jacobian`; fields whose states are too large for an M x M matrix take this road.
    differentiable_step: ClassVar[bool] = False

    @property
    def has_lyapunov(self) -> bool:
        """Whether the model's λ_max can be computed (a closed-form Jacobian or a differentiable step)."""
        return self.has_jacobian or self.differentiable_step

    def write_report(self, out_dir: Path) -> list[Path]:
        """Write what is worth keeping about the trained model itself (tables, figures; e.g. a
        Koopman model's learned eigenvalues) into `out_dir`, once training has ended.

        Returns:
            The files written; none by default.
        """
        return []

    @torch.no_grad()
    def rollout(self, context: Tensor, n_steps: int, u: Tensor | None = None) -> Tensor:
        """Free-run generation from a context window, written into a preallocated output.

        Args:
            context: observations (B, Tc, ...).
            n_steps: number of future steps to generate.
            u: forcing for the context and the generated times, (B, Tc + n_steps, U, ...), or None.

        Returns:
            Generated observations (B, n_steps, ...) for the times after the context.
        """
        tc = context.shape[1]
        inputs = check_forcing(u, context, n_steps)
        state = self.initial_state(context, None if inputs is None else inputs[:, :tc])
        out = None
        for t in range(n_steps):
            state = self.step(state, None if inputs is None else inputs[:, tc + t])
            y = self.observe(state)
            if out is None:
                out = y.new_empty(y.shape[0], n_steps, *y.shape[1:])
            out[:, t] = y
        return out if out is not None else context.new_empty(context.shape[0], 0, *context.shape[2:])


def check_forcing(u: Tensor | None, context: Tensor, n_steps: int) -> Tensor | None:
    """`u` for a rollout, or None when there is no forcing (None or U = 0).

    Raises:
        ValueError: u does not cover the context and the generated steps.
    """
    if u is None or u.shape[2] == 0:
        return None
    if u.shape[0] != context.shape[0] or u.shape[1] != context.shape[1] + n_steps:
        raise ValueError(f"forcing u must cover the context and every generated step: expected "
                         f"({context.shape[0]}, {context.shape[1] + n_steps}, U, ...), got {tuple(u.shape)}")
    return u
