"""The ConvLSTM cell (Shi, Chen, Wang, Yeung, Wong, Woo 2015, "Convolutional LSTM Network: A Machine
Learning Approach for Precipitation Nowcasting", NeurIPS, arXiv 1506.04214, eq. (3)):

    [i, f, o, g] = W ∗ [u_k, h_{k−1}] + b,
    c_k = σ(f) ⊙ c_{k−1} + σ(i) ⊙ tanh(g),      h_k = σ(o) ⊙ tanh(c_k),

one k×k convolution over input and hidden channels for the four gates. As ConvSSM's baseline
(NVlabs/ConvSSM ``src/models/convLSTM/scans.py``): no peephole terms (Shi et al.'s W_c ⊙ c need one
weight per pixel, tying the model to one grid), He-normal kernel; unlike it, the gate biases of
Shi et al. (zero at initialization). The hidden width equals the input width (the layer adds h to
its input).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dynlearn.models.convs5 import Conv


class ConvLSTMCell(nn.Module):
    """ConvLSTM on channels-first fields; the state ``(B, 2U, *s)`` is c, then h.

    Args:
        d_model: U, input, hidden and cell channels.
        kernel: k (odd); ndim: 1 or 2 spatial dimensions; padding: ``"zeros"`` or ``"circular"``.
        generator: seeds the kernel.
    """

    def __init__(self, d_model: int, kernel: int, ndim: int, padding: str, generator: torch.Generator) -> None:
        super().__init__()
        self.gates = Conv(2 * d_model, 4 * d_model, kernel, ndim, padding, generator, scale=2.0)
        self.state_channels = 2 * d_model

    def zero_state(self, batch: int, spatial: tuple[int, ...]) -> Tensor:
        """c = h = 0, ``(batch, 2U, *spatial)``."""
        return self.gates.weight.new_zeros(batch, self.state_channels, *spatial)

    def step(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """u ``(B, U, *s)``, state ``(B, 2U, *s)`` -> (h ``(B, U, *s)``, state)."""
        c, h = state.chunk(2, 1)
        i, f, o, g = self.gates(torch.cat([u, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, torch.cat([c, h], 1)

    def forward(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The recurrence over a sequence (a ConvLSTM has no parallel form): u ``(B, T, U, *s)`` ->
        (h ``(B, T, U, *s)``, last state)."""
        if state is None:
            state = self.zero_state(u.shape[0], tuple(u.shape[3:]))
        hs = []
        for u_t in u.unbind(1):
            h, state = self.step(u_t, state)
            hs.append(h)
        return torch.stack(hs, 1), state
