"""One layer of the sequence stack: a recurrent core (ConvS5 SSM or ConvLSTM cell), a per-frame
output block, dropout, a residual and a channel LayerNorm (NVlabs/ConvSSM ``layers.py``
``SequenceLayer`` and ``conv_ops.py``, models.md §2.1).

Implemented options of the reference: post-norm (default) or pre-norm, the per-layer skip (always
on), dropout shared over time, and the C/D blocks ``standard`` (GroupNorm → activation on
y + D ∗ u) and ``resnet`` (two GroupNorm → activation → conv stages on y, residual, activation;
the Moving-MNIST choice). Not implemented: ``half_glu``, ``diag_resnet``, squeeze-excite and the
long 3→8 / 6→11 skips of 12-layer stacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._conv import ChannelNorm, Conv, Padding, group_norm

# flax's nn.gelu is the tanh approximation by default; the reference's "swish" is SiLU.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": lambda x: F.gelu(x, approximate="tanh"), "relu": F.relu, "swish": F.silu, "elu": F.elu}


class Core(Protocol):
    """A recurrent core: `forward` over a sequence ``(B, T, U, *s)`` and `step` over one frame
    ``(B, U, *s)``, with a real state ``(B, state_channels, *s)``."""

    state_channels: int

    def __call__(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]: ...

    def step(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]: ...

    def zero_state(self, batch: int, spatial: tuple[int, ...]) -> Tensor: ...


class NormActivation(nn.Module):
    """The ``standard`` C/D block after y + D ∗ u: GroupNorm, then the activation."""

    def __init__(self, channels: int, groups: int, activation: str) -> None:
        super().__init__()
        self.norm, self.activation = group_norm(channels, groups), ACTIVATIONS[activation]

    def forward(self, y: Tensor) -> Tensor:
        return self.activation(self.norm(y))


class ResnetCD(nn.Module):
    """The ``resnet`` C/D block: act(y + conv(act(GN(conv(act(GN(y))))))), kernels k_D."""

    def __init__(self, channels: int, kernel: int, groups: int, activation: str, ndim: int, padding: Padding,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.norm1, self.norm2 = group_norm(channels, groups), group_norm(channels, groups)
        self.conv1 = Conv(channels, channels, kernel, ndim, padding, generator)
        self.conv2 = Conv(channels, channels, kernel, ndim, padding, generator)
        self.activation = ACTIVATIONS[activation]

    def forward(self, y: Tensor) -> Tensor:
        h = self.conv1(self.activation(self.norm1(y)))
        h = self.conv2(self.activation(self.norm2(h)))
        return self.activation(y + h)


class SequenceLayer(nn.Module):
    """u + block(core(u)) with a channel LayerNorm after (post-norm) or before the core (pre-norm).

    Args:
        core: the recurrent core (`Core`).
        block: the per-frame block on its output, or None (ConvLSTM: h goes straight to the residual).
        d_model: channels U.
        use_norm, prenorm: the LayerNorm and where it goes.
        dropout: probability, one mask per sequence shared by every frame (training, parallel mode only).
    """

    def __init__(self, core: nn.Module, block: nn.Module | None, d_model: int, use_norm: bool, prenorm: bool,
                 dropout: float) -> None:
        super().__init__()
        self.core, self.block = core, block
        self.norm = ChannelNorm(d_model) if use_norm else None
        self.prenorm, self.dropout = prenorm, dropout

    def forward(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Parallel mode: u ``(B, T, U, *s)`` -> (out ``(B, T, U, *s)``, last state)."""
        z = self._pre(u.flatten(0, 1)).reshape(u.shape)
        y, state = self.core(z, state)
        y = self.block(y.flatten(0, 1)).reshape(u.shape) if self.block is not None else y
        if self.training and self.dropout > 0:
            keep = torch.ones_like(u[:, :1])  # (B, 1, U, *s): the same mask at every frame
            y = y * F.dropout(keep, self.dropout)
        return self._post((u + y).flatten(0, 1)).reshape(u.shape), state

    def step(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Recurrent mode: u ``(B, U, *s)`` -> (out ``(B, U, *s)``, state). No dropout."""
        y, state = self.core.step(self._pre(u), state)
        y = self.block(y) if self.block is not None else y
        return self._post(u + y), state

    def _pre(self, u: Tensor) -> Tensor:
        return self.norm(u) if self.norm is not None and self.prenorm else u

    def _post(self, u: Tensor) -> Tensor:
        return self.norm(u) if self.norm is not None and not self.prenorm else u
