"""Sequential reference for the diagonal linear recurrence (pure PyTorch, no Triton).

Layout (every scan op here): time at dim -2, state channels at dim -1, any leading batch shape:
``(..., L, N)``. This file is the readable twin of `linear_scan`: one Python step per time step.
"""

from __future__ import annotations

import torch
from torch import Tensor


def broadcast_scan_inputs(
    a: Tensor, b: Tensor, h0: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """`a`, `b`, `h0` broadcast to one ``(..., L, N)`` shape and one dtype (views where possible).

    Args:
        a: ``(..., L, N)`` or anything broadcastable to it, e.g. ``(N,)`` or ``(..., 1, N)``.
        b: ``(..., L, N)`` (also broadcastable).
        h0: None or ``(..., N)`` broadcastable to the state shape.
    """
    dtype = torch.promote_types(a.dtype, b.dtype)
    if h0 is not None:
        dtype = torch.promote_types(dtype, h0.dtype)
    shape = torch.broadcast_shapes(a.shape, b.shape)
    if len(shape) < 2:
        shape = (1,) * (2 - len(shape)) + tuple(shape)
    a, b = a.to(dtype).expand(shape), b.to(dtype).expand(shape)
    if h0 is not None:
        h0 = h0.to(dtype).expand(shape[:-2] + shape[-1:])
    return a, b, h0


def linear_scan_ref(
    a: Tensor,
    b: Tensor,
    h0: Tensor | None = None,
    return_final_state: bool = False,
    backend: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """h_t = a_t ⊙ h_{t-1} + b_t, one step at a time (h_{-1} = h0, or 0).

    Args:
        a: decays ``(..., L, N)``, real or complex; broadcastable (a constant ``(N,)`` works).
        b: inputs ``(..., L, N)``.
        h0: initial state ``(..., N)``, default zeros.
        return_final_state: also return h_{L-1}.
        backend: ignored (the signature matches `linear_scan`).

    Returns:
        h ``(..., L, N)``, and h_{L-1} ``(..., N)`` if `return_final_state`.
    """
    del backend
    a, b, h0 = broadcast_scan_inputs(a, b, h0)
    h = torch.zeros_like(b[..., 0, :]) if h0 is None else h0
    states = []
    for a_t, b_t in zip(a.unbind(-2), b.unbind(-2)):
        h = a_t * h + b_t
        states.append(h)
    out = torch.stack(states, dim=-2)
    return (out, h) if return_final_state else out


def linear_scan_step(a_t: Tensor, b_t: Tensor, h: Tensor) -> Tensor:
    """One recurrent step h ← a_t ⊙ h + b_t, for generation after a scan.

    Args:
        a_t: ``(..., N)`` (broadcastable), b_t: ``(..., N)``, h: state ``(..., N)``.

    Returns:
        The new state ``(..., N)``.
    """
    return a_t * h + b_t
