"""`selective_scan` (Mamba-1) dispatched to a backend, and its chunked CPU path.

Layout as mamba_ssm: u, delta, z ``(B, D, L)``; A ``(D, N)``; B, C ``(B, N, L)``; y ``(B, D, L)``;
last state ``(B, D, N)``. Backends: ``"ref"`` (`_selective_scan_ref`), ``"torch"`` and
``"triton"`` (`dynlearn/ops/triton/_selective_scan.py`, imported only when chosen).

``"torch"`` runs the fused C++ kernel (`_selective_scan_cpu`) on float32/float64 CPU tensors;
only where it cannot build (no C++ toolchain: `_selective_scan_cpu.status()` says why), or for
other dtypes and devices, it runs the chunked path below.

The chunked path walks the sequence in blocks of `BLOCK` steps, carrying the (B, D, N) state from
block to block. Inside a block it forms Ā = exp(Δ A) and Δ B u for the block only, runs
`chunked_scan` (chunk-parallel when B·D·N is small, no division by cumulative products) and
contracts with C. Each
block runs under activation checkpointing, so autograd keeps only the block-boundary states and
recomputes a block's states during its backward: working memory O(B·D·BLOCK·N), not
O(B·D·L·N).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .._cpp_extension import takes
from .._errors import ConfigError
from ._backend import resolve_backend
from ._linear_scan import chunked_scan
from ._selective_scan_ref import discretize_delta, selective_scan_ref

__all__ = ["selective_scan"]

BLOCK = 128  # steps per checkpointed block (fastest of 32, 64, 128 on the dev machine)


def _block(dt: Tensor, u: Tensor, A: Tensor, B: Tensor, C: Tensor, h: Tensor):
    """Outputs ``(B, D, T)`` (before D and z) and end state of one block; dt, u ``(B, D, T)``."""
    dA = torch.exp(dt[..., None] * A[:, None, :])  # (B, D, T, N)
    dBu = (dt * u)[..., None] * B.transpose(-1, -2)[:, None]  # (B, D, T, N)
    states = chunked_scan(dA, dBu, h)
    y = torch.einsum("bdtn,bnt->bdt", states, C)
    return y, states[..., -1, :]


def _selective_scan_chunked(u, delta, A, B, C, delta_bias, delta_softplus):
    """y without D and z ``(B, D, L)``, and the last state ``(B, D, N)``."""
    dt = discretize_delta(delta, delta_bias, delta_softplus)
    dtype = torch.promote_types(torch.promote_types(u.dtype, dt.dtype), A.dtype)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[-1], dtype=dtype)
    keep = torch.is_grad_enabled() and any(x.requires_grad for x in (u, dt, A, B, C))
    ys = []
    for s in range(0, u.shape[-1], BLOCK):
        args = (dt[..., s : s + BLOCK], u[..., s : s + BLOCK], A,
                B[..., s : s + BLOCK], C[..., s : s + BLOCK], h)  # fmt: skip
        y, h = checkpoint(_block, *args, use_reentrant=False) if keep else _block(*args)
        ys.append(y)
    return torch.cat(ys, dim=-1), h


def selective_scan(
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
    """Mamba-1 selective scan: h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t, y_t = C_t·h_t + D u_t.

    Gu & Dao (2023), arXiv 2312.00752. The output is gated by silu(z) when `z` is given.

    Args:
        u: inputs ``(B, D, L)``.
        delta: raw steps ``(B, D, L)``; Δ = softplus(delta + delta_bias) if `delta_softplus`.
        A: ``(D, N)``, real (negative entries decay).
        B, C: input-dependent projections ``(B, N, L)``.
        D: skip ``(D,)``; z: gate ``(B, D, L)``; delta_bias: ``(D,)``.
        return_last_state: also return the state after step L-1 ``(B, D, N)`` (to continue
            with `selective_scan_step`).
        backend: None (Triton for CUDA tensors, else the CPU path), ``"ref"``, ``"torch"`` or
            ``"triton"``.

    Returns:
        y ``(B, D, L)``, and the last state if requested.

    Raises:
        ConfigError: an unknown backend, ``"triton"`` where Triton cannot run, complex A, or
            grouped B, C.
    """
    backend = resolve_backend(backend, u, delta, A, B, C)
    if A.is_complex() or B.dim() != 3 or C.dim() != 3:
        raise ConfigError(
            "selective_scan supports real A (D, N) and B, C of shape (B, N, L); "
            "for complex diagonal SSMs use linear_scan"
        )
    if backend == "ref":
        return selective_scan_ref(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
        )
    if backend == "triton":
        from .triton._selective_scan import selective_scan_triton

        return selective_scan_triton(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
        )
    from . import _selective_scan_cpu  # here, so `python -m` can run that module cleanly

    if takes(u, delta, A, B, C, D, z, delta_bias) and (
        _selective_scan_cpu.status() is None
    ):  # the fused kernel; the chunked path below only where it cannot build (status says why)
        return _selective_scan_cpu.selective_scan_cpu(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
        )
    y, last = _selective_scan_chunked(u, delta, A, B, C, delta_bias, delta_softplus)
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * F.silu(z)
    return (y, last) if return_last_state else y
