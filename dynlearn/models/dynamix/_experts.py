"""DynaMix's experts: J AL-RNN maps of one latent state, mixed by the gate's weights."""

from __future__ import annotations

import torch
from torch import Tensor


def experts_flat(A: Tensor, W: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The experts' parameters A (J, M), W (J, M, M), h (J, M) as `mix_experts` takes them:
    A, the stacked Wᵀ (M, J·M) and h (J·M,)."""
    j, m = A.shape
    return A, W.reshape(j * m, m).t(), h.reshape(j * m)


def mix_experts(z: Tensor, weights: Tensor, A: Tensor, wt: Tensor, h: Tensor, floor: Tensor) -> Tensor:
    """Σ_j w_j (A_j ⊙ z + W_j Φ*(z) + h_j) for states z (B, M) and weights (B, J) -> (B, M).

    Every expert is computed in the AL-RNN's own operations (`ALRNN._latent_map`), so one expert
    gives exactly what an AL-RNN does; A, wt, h as `experts_flat` returns them, floor (M,) Φ*'s.
    """
    j, m = A.shape
    phi = torch.where(z > floor, z, floor)
    experts = torch.addcmul(torch.addmm(h, phi, wt).view(-1, j, m), A, z[:, None])  # (B, J, M)
    return (weights[..., None] * experts).sum(1)
