"""Sequential reference for the Mamba-1 selective scan (pure PyTorch, no Triton).

Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
arXiv 2312.00752, Algorithm 2. mamba_ssm layout: u, delta, z ``(B, D, L)``; A ``(D, N)``;
B, C ``(B, N, L)``; state ``(B, D, N)``. Zero-order hold for A (Ā = exp(Δ A)) and the usual
Euler approximation B̄ u ≈ Δ B u for the input, as in Mamba.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def discretize_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """Δ as the recurrence uses it: ``softplus(delta + bias)`` or ``delta + bias``; ``(B, D, ...)``."""
    if delta_bias is not None:
        delta = delta + delta_bias[..., None] if delta.dim() == 3 else delta + delta_bias
    return F.softplus(delta) if delta_softplus else delta


def selective_scan_step(
    state: Tensor,
    u_t: Tensor,
    delta_t: Tensor,
    A: Tensor,
    B_t: Tensor,
    C_t: Tensor,
    D: Tensor | None = None,
    z_t: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> tuple[Tensor, Tensor]:
    """One recurrent step (like mamba's ``selective_state_update``, but returning a new state).

    Args:
        state: ``(B, D, N)``; u_t, delta_t, z_t: ``(B, D)``; A: ``(D, N)``; B_t, C_t: ``(B, N)``;
        D, delta_bias: ``(D,)``; delta_softplus: apply softplus to ``delta_t + delta_bias``.

    Returns:
        y_t ``(B, D)`` and the new state ``(B, D, N)``.
    """
    dt = discretize_delta(delta_t, delta_bias, delta_softplus)  # (B, D)
    dt_ = dt[..., None]
    state = torch.exp(dt_ * A) * state + (dt_ * u_t[..., None]) * B_t[:, None, :]
    y = (state * C_t[:, None, :]).sum(-1)
    if D is not None:
        y = y + D * u_t
    if z_t is not None:
        y = y * F.silu(z_t)
    return y, state


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    backend: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan, one `selective_scan_step` per time step from a zero state.

    Args:
        u: inputs ``(B, D, L)``; delta: steps ``(B, D, L)``; A: ``(D, N)`` (real, negative for
            decay); B, C: ``(B, N, L)``; D, delta_bias: ``(D,)``; z: gate ``(B, D, L)``;
        delta_softplus: Δ = softplus(delta + delta_bias).
        return_last_state: also return the state after the last step.
        backend: ignored (the signature matches `selective_scan`).

    Returns:
        y ``(B, D, L)`` and, if `return_last_state`, the last state ``(B, D, N)``.
    """
    del backend
    state = u.new_zeros(u.shape[0], u.shape[1], A.shape[-1])
    ys = []
    zs = z.unbind(-1) if z is not None else [None] * u.shape[-1]
    for u_t, dt_t, B_t, C_t, z_t in zip(u.unbind(-1), delta.unbind(-1), B.unbind(-1), C.unbind(-1), zs):
        y, state = selective_scan_step(
            state, u_t, dt_t, A, B_t, C_t, D, z_t, delta_bias, delta_softplus
        )
        ys.append(y)
    y = torch.stack(ys, dim=-1)
    return (y, state) if return_last_state else y
