"""The pointwise parts of an FNO and its Fourier block, channels first on any number of spatial axes."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dynlearn.models.fno._spectral_conv import SpectralConv


class PointwiseLinear(nn.Module):
    """A 1×1 convolution on (N, in, *spatial): the same linear map at every point.

    Initialized as torch's ``nn.Linear`` (weights and bias uniform ±1/√in), from `generator`.
    """

    def __init__(self, n_in: int, n_out: int, generator: torch.Generator | None, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / math.sqrt(n_in)
        dtype = torch.get_default_dtype()

        def uniform(*shape: int) -> nn.Parameter:
            return nn.Parameter(((2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1) * bound).to(dtype))

        self.weight = uniform(n_out, n_in)
        self.bias = uniform(n_out) if bias else None

    def forward(self, v: Tensor) -> Tensor:
        """(N, in, *spatial) -> (N, out, *spatial)."""
        out = torch.einsum("oi,ni...->no...", self.weight, v)
        if self.bias is not None:
            out = out + self.bias.view(-1, *([1] * (v.ndim - 2)))
        return out


class ChannelMLP(nn.Sequential):
    """Two pointwise linear maps with GELU between, in -> hidden -> out (neuraloperator's ``ChannelMLP``
    with n_layers = 2): the lifting, the projection, and the MLP inside each Fourier block."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, generator: torch.Generator | None) -> None:
        super().__init__(PointwiseLinear(n_in, n_hidden, generator), nn.GELU(), PointwiseLinear(n_hidden, n_out, generator))


class FourierBlock(nn.Module):
    """One Fourier layer with neuraloperator's channel MLP (``FNOBlocks``, post-activation variant):

        v' = σ(K v + W v)                  (σ omitted in the last block)
        v'' = ChannelMLP(v') + s ⊙ v       (soft-gating skip from the block's input)
        out = σ(v'')                       (σ omitted in the last block)

    K the `SpectralConv`, W a 1×1 linear skip (with the bias: Li et al. put it on W, their ``nn.Conv``),
    s a per-channel gate initialized to 1; ChannelMLP width → width/2 → width (expansion 0.5).

    Args:
        width: channels in and out.
        modes: retained wavenumbers per spatial axis (`SpectralConv`).
        last: no activation at the output (the last block before the projection).
        generator: draws the initial weights.
    """

    def __init__(self, width: int, modes: tuple[int, ...], last: bool, generator: torch.Generator | None) -> None:
        super().__init__()
        self.spectral = SpectralConv(width, width, modes, generator)
        self.skip = PointwiseLinear(width, width, generator)
        self.mlp = ChannelMLP(width, max(1, round(0.5 * width)), width, generator)
        self.gate = nn.Parameter(torch.ones(width, dtype=torch.get_default_dtype()))
        self.activation = nn.Identity() if last else nn.GELU()

    def forward(self, v: Tensor) -> Tensor:
        """(N, width, *spatial) -> (N, width, *spatial)."""
        gated = self.gate.view(-1, *([1] * (v.ndim - 2))) * v
        h = self.activation(self.spectral(v) + self.skip(v))
        return self.activation(self.mlp(h) + gated)


def positional_channels(spatial: tuple[int, ...], kind: str, like: Tensor) -> Tensor:
    """Coordinate channels on [0, 1) per axis (point i of n at i/n), (P, *spatial).

    ``periodic``: sin 2πx and cos 2πx per axis (P = 2·d), smooth on the torus the FFT assumes and
    band-limited (|k| = 1), so they keep the model discretization invariant; ``grid``: x itself
    (P = d; neuraloperator's ``GridEmbeddingND``), a ramp that jumps where the domain wraps; ``none``: P = 0.
    """
    channels = []
    for axis, n in enumerate(spatial):
        x = torch.arange(n, dtype=like.dtype, device=like.device) / n
        shape = [1] * len(spatial)
        shape[axis] = n
        coords = [torch.sin(2 * math.pi * x), torch.cos(2 * math.pi * x)] if kind == "periodic" else [x]
        channels += [c.view(shape).expand(spatial) for c in coords] if kind != "none" else []
    return torch.stack(channels) if channels else like.new_zeros(0, *spatial)


def n_positional(kind: str, d: int) -> int:
    """Channels `positional_channels` adds on d spatial axes."""
    return {"periodic": 2 * d, "grid": d, "none": 0}[kind]
