"""`linear_scan`: the diagonal linear recurrence h_t = a_t ⊙ h_{t-1} + b_t, dispatched to a backend.

Layout ``(..., L, N)`` (time at dim -2), real or complex. Backends: ``"ref"`` (the sequential
twin in `_linear_scan_ref`), ``"torch"`` (the chunked CPU path below) and ``"triton"`` (kernels in
`dynlearn/ops/triton/_linear_scan.py`, imported only when chosen).

The CPU path is chunk-parallel: the sequence is cut into chunks of T steps; a T-step loop runs
the recurrence inside every chunk at once (from a zero state) and the running products of a; an
L/T-step loop carries the state across chunks; one broadcast adds each chunk's carried-in state
times the running products. That is O(L·N) work in as few as 2√L Python steps, uses only products
and sums of the inputs (no division by cumulative products, so a = 0 and |a| → 1 are ordinary
cases), and autograd differentiates it. The chunk count adapts to the width of one step: a scan
whose steps already hold thousands of elements runs as one chunk, because there the extra pass
costs more than the Python overhead it saves (bench/RESULTS.md). The quadratic segment-sum form
that suits GPUs (exp of differences of cumulative log-decays) would cost T times more work here:
a diagonal decay leaves no matrix product to hand to BLAS.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._backend import resolve_backend
from ._linear_scan_ref import broadcast_scan_inputs, linear_scan_ref

__all__ = ["chunked_scan", "linear_scan"]

# Elements per Python step above which a step's cost is arithmetic, not interpreter overhead
# (measured on the 2-core dev machine): wide scans run as one chunk, narrow ones split into up to
# √L chunks.
STEP_WORK = 2048


def chunked_scan(a: Tensor, b: Tensor, h0: Tensor | None, chunk: int | None = None) -> Tensor:
    """All states of h_t = a_t h_{t-1} + b_t by the chunk-parallel algorithm (module docstring).

    Args:
        a, b: ``(..., L, N)`` of one shape (`a` may be an expanded view); h0: ``(..., N)`` or None.
        chunk: steps per chunk; by default as long as possible (fewest extra operations) while
            each Python step still handles ~`STEP_WORK` elements, with at most √L chunks.

    Returns:
        h ``(..., L, N)``.
    """
    *batch, L, N = b.shape
    if chunk is None:  # enough chunks that each Python step handles ~STEP_WORK elements
        n_chunks = min(-(-STEP_WORK // max(1, b[..., 0, :].numel())), max(1, math.isqrt(L)))
        chunk = -(-L // n_chunks)
    T = min(chunk, L)
    n_chunks = -(-L // T)
    pad = n_chunks * T - L
    if pad:  # padded steps come after the last real one, so their values never matter
        a = torch.cat([a, a.new_zeros(*batch, pad, N)], dim=-2)
        b = torch.cat([b, b.new_zeros(*batch, pad, N)], dim=-2)
    a = a.reshape(*batch, n_chunks, T, N)
    b = b.reshape(*batch, n_chunks, T, N)
    # unbind, not a[..., t, :]: its backward is one stack, where T selects would each scatter
    # into a zero tensor of the full size.
    a_t, b_t = a.unbind(-2), b.unbind(-2)  # T tensors (..., n_chunks, N)
    local, prod = [b_t[0]], [a_t[0]]
    if h0 is not None and n_chunks == 1:  # else h0 enters as the first chunk's carried state
        local[0] = a_t[0] * h0[..., None, :] + b_t[0]
    for t in range(1, T):
        local.append(torch.addcmul(b_t[t], a_t[t], local[-1]))  # one op per step, not two
        if n_chunks > 1:
            prod.append(a_t[t] * prod[-1])
    local_h = torch.stack(local, -2)  # (..., n_chunks, T, N)
    if n_chunks == 1:
        return local_h.reshape(*batch, T, N)[..., :L, :]
    prod_a = torch.stack(prod, -2)
    ends_h, ends_a = local_h[..., -1, :].unbind(-2), prod_a[..., -1, :].unbind(-2)
    carried = [torch.zeros_like(ends_h[0]) if h0 is None else h0]
    for c in range(n_chunks - 1):
        carried.append(torch.addcmul(ends_h[c], ends_a[c], carried[-1]))
    h = local_h + prod_a * torch.stack(carried, -2)[..., None, :]
    return h.reshape(*batch, n_chunks * T, N)[..., :L, :]


def linear_scan(
    a: Tensor,
    b: Tensor,
    h0: Tensor | None = None,
    return_final_state: bool = False,
    backend: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Diagonal linear recurrence h_t = a_t ⊙ h_{t-1} + b_t over time (dim -2).

    Args:
        a: decays ``(..., L, N)``, real or complex, broadcastable to `b` (a time-invariant ``(N,)``
            or ``(..., 1, N)`` is fine).
        b: inputs ``(..., L, N)``.
        h0: initial state ``(..., N)`` (broadcastable), default zeros.
        return_final_state: also return h_{L-1} ``(..., N)`` (to continue with `linear_scan_step`).
        backend: None (Triton for CUDA tensors, else the CPU path), ``"ref"``, ``"torch"`` or
            ``"triton"``.

    Returns:
        h ``(..., L, N)`` in the promoted dtype of the inputs, and h_{L-1} if requested.

    Raises:
        ConfigError: an unknown backend, or ``"triton"`` where Triton cannot run.
    """
    backend = resolve_backend(backend, a, b, h0)
    if backend == "ref":
        return linear_scan_ref(a, b, h0, return_final_state)
    a, b, h0 = broadcast_scan_inputs(a, b, h0)
    if backend == "triton":
        from .triton._linear_scan import linear_scan_triton

        h = linear_scan_triton(a, b, h0)
    else:
        h = chunked_scan(a, b, h0)
    return (h, h[..., -1, :]) if return_final_state else h
