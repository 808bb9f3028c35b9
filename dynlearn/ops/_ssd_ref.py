"""Mamba-2's state-space duality (SSD) scan, written as the plain sequential recurrence.

Dao & Gu (2024), "Transformers are SSMs: Generalized Models and Efficient Algorithms Through
Structured State Space Duality", ICML, arXiv 2405.21060. This module is the readable twin of
`dynlearn.ops._ssd.ssd` (same signature) and of its one-step form `ssd_step`; it imports no
Triton. Per head h, with a scalar A_h < 0 and the state H_t of shape (headdim, N)::

    H_t = exp(dt_t A_h) H_{t-1} + dt_t x_t B_tᵀ,        y_t = H_t C_t + D_h x_t

and, when z is given, y_t ← y_t · silu(z_t). B and C are shared by the heads of one group.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _dt_eff(dt: Tensor, dt_bias: Tensor | None, dt_softplus: bool) -> Tensor:
    if dt_bias is not None:
        dt = dt + dt_bias
    return F.softplus(dt) if dt_softplus else dt


def _heads(v: Tensor, heads: int) -> Tensor:
    """(..., groups, N) -> (..., heads, N): each group's B or C serves heads // groups heads."""
    return v.repeat_interleave(heads // v.shape[-2], dim=-2)


def _output(y: Tensor, x: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    if D is not None:
        y = y + (D[:, None] if D.dim() == 1 else D) * x
    return y * F.silu(z) if z is not None else y


def ssd_step(
    state: Tensor,
    x_t: Tensor,
    dt_t: Tensor,
    A: Tensor,
    B_t: Tensor,
    C_t: Tensor,
    D: Tensor | None = None,
    z_t: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
) -> tuple[Tensor, Tensor]:
    """One step of the SSD recurrence, for recurrent generation.

    Args:
        state: (batch, heads, headdim, N), the state after the previous step.
        x_t: (batch, heads, headdim). dt_t: (batch, heads). A: (heads,).
        B_t, C_t: (batch, groups, N), heads divisible by groups.
        D: (heads,) or (heads, headdim), skip connection. z_t: like x_t, gate y·silu(z).
        dt_bias: (heads,), added to dt before the optional softplus.
        dt_softplus: apply softplus to dt (+ dt_bias).

    Returns:
        y_t (batch, heads, headdim) and the new state (batch, heads, headdim, N).
    """
    dt_t = _dt_eff(dt_t, dt_bias, dt_softplus)
    heads = x_t.shape[1]
    decay = torch.exp(dt_t * A)[..., None, None]  # (b, H, 1, 1)
    inject = (dt_t[..., None] * x_t)[..., None] * _heads(B_t, heads)[:, :, None, :]
    state = decay * state + inject
    y_t = torch.einsum("bhpn,bhn->bhp", state, _heads(C_t, heads))
    return _output(y_t, x_t, D, z_t), state


def ssd_ref(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int | None = None,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    initial_states: Tensor | None = None,
    return_final_states: bool = False,
    backend: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """The SSD scan as a loop over time (O(L) steps, O(L·heads·headdim·N) saved for autograd).

    Args:
        x: (batch, L, heads, headdim). dt: (batch, L, heads). A: (heads,).
        B, C: (batch, L, groups, N). chunk_size, backend: accepted and ignored (same signature
            as `ssd`).
        D, z, dt_bias, dt_softplus: as in `ssd_step`.
        initial_states: (batch, heads, headdim, N) or None (zeros).
        return_final_states: also return the state after the last step.

    Returns:
        y (batch, L, heads, headdim), and the final state when ``return_final_states``.
    """
    del chunk_size, backend
    batch, length, heads, headdim = x.shape
    state = initial_states
    if state is None:
        state = x.new_zeros(batch, heads, headdim, B.shape[-1])
    ys = []
    for t in range(length):
        y_t, state = ssd_step(state, x[:, t], dt[:, t], A, B[:, t], C[:, t], dt_bias=dt_bias,
                              dt_softplus=dt_softplus)
        ys.append(y_t)
    y = _output(torch.stack(ys, dim=1), x, D, z)
    return (y, state) if return_final_states else y
