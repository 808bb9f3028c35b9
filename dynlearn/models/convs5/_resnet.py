"""The frame encoder and decoder around the sequence model: TECO's ResNet (Yan et al. 2023,
"Temporally Consistent Transformers for Video Generation", ICML, arXiv 2210.02396), as ConvSSM uses
it for Moving-MNIST (NVlabs/ConvSSM ``src/models/base.py``, models.md §2.1).

Encoder: conv3 to depths[0], a block; then per further depth: 2× average pooling and `blocks`
blocks. Decoder: conv3 to depths[0] (sic: the reference's first decoder conv has the *first*
depth; we keep it), then per level of the reversed depths `blocks` blocks and 2× nearest
upsampling, `blocks` blocks at the finest level, a channel LayerNorm and a 1×1 projection.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._conv import ChannelNorm, Conv, Padding, group_norm


class ResNetBlock(nn.Module):
    """x + 0.1·conv(elu(GN(conv(elu(GN(x)))))) with a 1×1 bias-free skip when the width changes."""

    def __init__(self, c_in: int, c_out: int, ndim: int, padding: Padding, generator: torch.Generator) -> None:
        super().__init__()
        self.skip = None if c_in == c_out else Conv(c_in, c_out, 1, ndim, padding, generator, bias=False)
        self.norm1, self.norm2 = group_norm(c_in), group_norm(c_out)
        self.conv1 = Conv(c_in, c_out, 3, ndim, padding, generator)
        self.conv2 = Conv(c_out, c_out, 3, ndim, padding, generator)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, c_in, *s)`` -> ``(N, c_out, *s)``."""
        h = self.conv1(F.elu(self.norm1(x)))
        h = self.conv2(F.elu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + 0.1 * h


class Encoder(nn.Module):
    """Frames ``(N, c_in, *s)`` -> features ``(N, depths[-1], *s / 2^(len(depths) − 1))``.

    Args:
        c_in: input channels (field channels + forcing channels).
        depths: widths per resolution level, finest first.
        blocks: ResNet blocks per coarser level.
        ndim, padding, generator: as `Conv`.
    """

    def __init__(self, c_in: int, depths: tuple[int, ...], blocks: int, ndim: int, padding: Padding,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.ndim = ndim
        self.stem = Conv(c_in, depths[0], 3, ndim, padding, generator)
        self.first = ResNetBlock(depths[0], depths[0], ndim, padding, generator)
        self.levels = nn.ModuleList(
            nn.Sequential(*[ResNetBlock(depths[i - 1] if j == 0 else depths[i], depths[i], ndim, padding, generator)
                            for j in range(blocks)])
            for i in range(1, len(depths)))

    def forward(self, x: Tensor) -> Tensor:
        x = self.first(self.stem(x))
        pool = F.avg_pool1d if self.ndim == 1 else F.avg_pool2d
        for level in self.levels:
            x = level(pool(x, 2))
        return x


class Decoder(nn.Module):
    """Features ``(N, c_in, *s)`` -> frames ``(N, c_out, *s · 2^(len(depths) − 1))``.

    Args:
        c_in: d_model; c_out: field channels; the rest as `Encoder`.
    """

    def __init__(self, c_in: int, c_out: int, depths: tuple[int, ...], blocks: int, ndim: int, padding: Padding,
                 generator: torch.Generator) -> None:
        super().__init__()
        widths = list(reversed(depths))
        self.stem = Conv(c_in, depths[0], 3, ndim, padding, generator)
        self.levels = nn.ModuleList()
        c = depths[0]
        for width in widths:
            self.levels.append(nn.Sequential(*[ResNetBlock(c if j == 0 else width, width, ndim, padding, generator)
                                               for j in range(blocks)]))
            c = width
        self.norm = ChannelNorm(c)
        self.head = Conv(c, c_out, 1, ndim, padding, generator)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for i, level in enumerate(self.levels):
            x = level(x)
            if i < len(self.levels) - 1:  # nearest-neighbour 2× along every spatial axis
                for axis in range(2, x.ndim):
                    x = x.repeat_interleave(2, dim=axis)
        return self.head(self.norm(x))
