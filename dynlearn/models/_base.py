"""The one interface every model family implements."""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn


class AbstractModel(nn.Module, abc.ABC):
    """A learned dynamical system.

    Low-dimensional states use the layout (B, T, D); fields use (B, T, C, H, W). A model keeps
    any latent state of its own (e.g. an RNN's z) behind `initial_state` / `step` / `observe`,
    so the same rollout, Lyapunov and forecasting code serves every family.
    """

    @abc.abstractmethod
    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Training loss on one batch.

        Args:
            batch: at least ``"x"``, observed windows of shape (B, T, D), already normalized.

        Returns:
            A dict with the scalar ``"loss"`` to minimize and any other scalars worth logging.
        """

    @abc.abstractmethod
    def initial_state(self, context: Tensor) -> Tensor:
        """The model state after reading a context window.

        Args:
            context: observations (B, Tc, D), Tc >= 1.

        Returns:
            The latent state at the last context time, (B, M).
        """

    @abc.abstractmethod
    def step(self, state: Tensor) -> Tensor:
        """One step of the learned map, state (B, M) -> (B, M).

        Used for free runs and for Jacobian-based Lyapunov exponents.
        """

    @abc.abstractmethod
    def observe(self, state: Tensor) -> Tensor:
        """The observation of a state, (B, M) -> (B, D)."""

    def jacobian(self, state: Tensor) -> Tensor:
        """The Jacobian of `step` at `state`, (B, M) -> (B, M, M), for the model's Lyapunov
        exponents. Families with a closed form override it (see `has_jacobian`); the others have
        no λ_max, and evaluation reports it as not available."""
        raise TypeError(f"{type(self).__name__} has no step Jacobian (check has_jacobian first)")

    @property
    def has_jacobian(self) -> bool:
        """Whether this family provides `jacobian`."""
        return type(self).jacobian is not AbstractModel.jacobian

    @torch.no_grad()
    def rollout(self, context: Tensor, n_steps: int) -> Tensor:
        """Free-run generation from a context window.

        Args:
            context: observations (B, Tc, D).
            n_steps: number of future steps to generate.

        Returns:
            Generated observations (B, n_steps, D) for the times after the context.
        """
        state = self.initial_state(context)
        outputs = []
        for _ in range(n_steps):
            state = self.step(state)
            outputs.append(self.observe(state))
        return torch.stack(outputs, dim=1)
