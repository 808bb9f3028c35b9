"""A conditional implicit neural representation on a periodic domain: D_θ(α, c) at any coordinates c.

A multiplicative filter network (Fathony et al. 2021) as DINo and Φ-ROM use it: sine filters of
the coordinates multiplied into linear layers whose shifts are linear in the latent α,

    z_1 = sin(W_1 e(c) + b_1),  z_{l+1} = (A_l z_l + S_l α + a_l) ⊙ sin(W_{l+1} e(c) + b_{l+1}),
    D(α, c) = A_out z_L + a_out,

with e(c) = [cos 2πhc, sin 2πhc]_{h=1..H} per axis: every output is periodic on the unit cell, so
the decoder reads the field at any resolution (super-resolution) and at scattered points.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def grid_coordinates(shape: tuple[int, ...], *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Points of a periodic grid as unit-cell coordinates j/n per axis, (prod(shape), len(shape)),
    in the row-major order of a field of that shape (for a 2-D field (y, x): y first)."""
    axes = [torch.arange(n, dtype=torch.float64) / n for n in shape]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=-1).to(dtype)


class PeriodicINR(nn.Module):
    """D_θ(α, c): latents α (B, k) and coordinates c (P, d) or (B, P, d) in [0, 1)^d -> (B, P, C).

    Args:
        n_axes: d, the spatial dimensions.
        channels: C, field variables.
        latent_dim: k.
        width: units of every layer.
        depth: L, multiplicative layers (>= 1).
        harmonics: H, Fourier features per axis of the coordinate embedding.
        seed: seed of the initialization.
    """

    def __init__(self, n_axes: int, channels: int, latent_dim: int, *, width: int = 64, depth: int = 3,
                 harmonics: int = 8, seed: int = 0) -> None:
        super().__init__()
        self.n_axes, self.harmonics = n_axes, harmonics
        features = 2 * n_axes * harmonics
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.filters = nn.ModuleList(nn.Linear(features, width) for _ in range(depth))
            self.linears = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
            self.shifts = nn.ModuleList(nn.Linear(latent_dim, width, bias=False) for _ in range(depth - 1))
            self.out = nn.Linear(width, channels)
            with torch.no_grad():
                for f in self.filters:  # phases over a whole period; frequencies as nn.Linear draws them
                    f.bias.uniform_(-math.pi, math.pi)
                for a in self.linears:  # MFN's scale: products of sines keep unit variance through the layers
                    bound = math.sqrt(6 / width)
                    a.weight.uniform_(-bound, bound)
        self.register_buffer("_freq", 2 * math.pi * torch.arange(1, harmonics + 1, dtype=torch.float32),
                             persistent=False)

    def embed(self, coords: Tensor) -> Tensor:
        """e(c), (..., d) -> (..., 2·d·H)."""
        phase = coords[..., :, None] * self._freq.to(coords.dtype)  # (..., d, H)
        return torch.cat([phase.cos(), phase.sin()], dim=-1).flatten(-2)

    def forward(self, alpha: Tensor, coords: Tensor) -> Tensor:
        e = self.embed(coords)  # (P, F) or (B, P, F)
        if e.ndim == 2:
            e = e[None]
        z = torch.sin(self.filters[0](e))
        for filt, linear, shift in zip(self.filters[1:], self.linears, self.shifts):
            z = (linear(z) + shift(alpha)[:, None, :]) * torch.sin(filt(e))
        return self.out(z)
