"""Convolutions and norms generic over 1-D and 2-D fields (channels first), seeded by a generator.

Initializations follow flax's defaults, which the reference (NVlabs/ConvSSM, JAX) relies on:
``lecun_normal`` (variance 1/fan_in) for convolutions, ``he_normal`` (2/fan_in) for the SSM's B, C
and the ConvLSTM kernel, both truncated at ±2σ; zero biases; norms with unit scale, zero shift
and eps = 1e-6.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Padding = Literal["zeros", "circular"]
# std of a unit normal truncated to [−2, 2]: dividing by it keeps the requested variance.
TRUNCATED_STD = 0.87962566103423978
EPS = 1e-6


def variance_scaling(shape: tuple[int, ...], scale: float, fan_in: int, generator: torch.Generator,
                     dtype: torch.dtype | None = None) -> Tensor:
    """A tensor drawn from a normal truncated at ±2σ with variance `scale`/`fan_in` (flax's
    ``variance_scaling(scale, "fan_in", "truncated_normal")``)."""
    out = torch.empty(shape, dtype=dtype or torch.get_default_dtype())
    std = math.sqrt(scale / fan_in) / TRUNCATED_STD
    return nn.init.trunc_normal_(out, 0.0, std, -2 * std, 2 * std, generator=generator)


def conv(x: Tensor, weight: Tensor, bias: Tensor | None, padding: Padding) -> Tensor:
    """Cross-correlation with 'same' output size (odd kernels), 1-D or 2-D by the weight's rank.

    Args:
        x: ``(N, C_in, *spatial)``; weight: ``(C_out, C_in, *k)``; bias: ``(C_out,)`` or None.
        padding: ``"zeros"`` (the reference's SAME) or ``"circular"`` (periodic fields).
    """
    ndim = weight.ndim - 2
    pad = [k // 2 for k in reversed(weight.shape[2:]) for _ in range(2)]
    run = F.conv1d if ndim == 1 else F.conv2d
    if padding == "circular" and any(pad):
        return run(F.pad(x, pad, mode="circular"), weight, bias)
    return run(x, weight, bias, padding=[k // 2 for k in weight.shape[2:]])


class Conv(nn.Module):
    """A 'same' convolution with a seeded truncated-normal init.

    Args:
        c_in, c_out: channels; kernel: width k (odd), the same along every spatial axis.
        ndim: 1 or 2 spatial dimensions.
        padding: ``"zeros"`` or ``"circular"``.
        generator: seeds the weights.
        scale: the variance scale (1: lecun_normal, 2: he_normal).
        bias: add a bias (zero at initialization).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, ndim: int, padding: Padding,
                 generator: torch.Generator, scale: float = 1.0, bias: bool = True) -> None:
        super().__init__()
        shape = (c_out, c_in, *([kernel] * ndim))
        self.weight = nn.Parameter(variance_scaling(shape, scale, c_in * kernel ** ndim, generator))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        """``(N, c_in, *spatial)`` -> ``(N, c_out, *spatial)``."""
        return conv(x, self.weight, self.bias, self.padding)


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of every pixel (flax ``LayerNorm`` on channels-last data),
    ``(N, C, *spatial)`` -> same."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=EPS)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


class GroupNorm(nn.GroupNorm):
    """`nn.GroupNorm` on a contiguous input: under ``vmap(jvp(step))`` (Lyapunov exponents) a conv
    output can arrive with channels-last strides, which torch's group_norm batching rule refuses."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.contiguous())


def group_norm(channels: int, groups: int = 32) -> GroupNorm:
    """GroupNorm with gcd(`groups`, `channels`) groups: flax's default of 32 groups needs 32 | C,
    and small CPU models have fewer channels."""
    return GroupNorm(math.gcd(groups, channels), channels, eps=EPS)
