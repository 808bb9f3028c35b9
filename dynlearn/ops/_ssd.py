"""Mamba-2's SSD scan: the public op, which dispatches, and its chunked PyTorch path.

Dao & Gu (2024), "Transformers are SSMs", arXiv 2405.21060, §6 (the SSD algorithm). The
sequence is cut into chunks of Q steps. Within a chunk the output is a masked, decayed
"attention" ``y = (C Bᵀ ∘ L) (dt·x)`` with ``L[t, s] = exp(Σ_{s<k≤t} dt_k A)``;
across chunks a (headdim, N) state per head is passed sequentially. `ssd_ref` in `_ssd_ref.py` is the readable
twin, the Triton kernels are in `triton/_ssd.py`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._errors import DataError
from ._backend import resolve_backend
from ._ssd_ref import _dt_eff, _output, ssd_ref, ssd_step

__all__ = ["ssd", "ssd_ref", "ssd_step"]


def _segsum(a: Tensor) -> Tensor:
    """(..., Q) -> (..., Q, Q): ``S[t, s] = Σ_{s<k≤t} a_k`` for s ≤ t, -inf above the diagonal.

    Summed directly rather than as ``cumsum[t] - cumsum[s]``, which loses the small differences
    of two large cumulative sums (large dt·|A|).
    """
    q = a.shape[-1]
    rep = a[..., :, None].expand(*a.shape, q)  # rep[k, s] = a_k
    strict = torch.ones(q, q, dtype=torch.bool, device=a.device).tril(-1)  # k > s
    seg = rep.masked_fill(~strict, 0.0).cumsum(dim=-2)  # Σ_{s<k≤t}
    return seg.masked_fill(~strict.logical_or(torch.eye(q, dtype=torch.bool, device=a.device)),
                           float("-inf"))


def _pad_to(v: Tensor, length: int) -> Tensor:
    pad = length - v.shape[1]
    return v if pad == 0 else F.pad(v, (0, 0) * (v.dim() - 2) + (0, pad))


def _ssd_chunked(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
                 initial_states: Tensor | None) -> tuple[Tensor, Tensor]:
    """The SSD algorithm in PyTorch (autograd gives the backward); dt already transformed.

    Working memory is O(L·Q) for the intra-chunk matrices plus one (headdim, N) state per chunk
    and head, instead of one per step. Padded steps have dt = 0: no decay, no input.
    """
    batch, length, heads, headdim = x.shape
    groups, n = B.shape[-2:]
    q = chunk_size
    nc = -(-length // q)
    xs, dts, Bs, Cs = (_pad_to(v, nc * q) for v in (x, dt, B, C))
    xs = xs.reshape(batch, nc, q, groups, heads // groups, headdim)  # (b, c, t, g, r, p)
    Bs = Bs.reshape(batch, nc, q, groups, n)
    Cs = Cs.reshape(batch, nc, q, groups, n)
    dts = dts.reshape(batch, nc, q, groups, heads // groups)
    a = (dts * A.reshape(groups, -1)).permute(0, 1, 3, 4, 2)  # (b, c, g, r, t), all <= 0
    seg = _segsum(a)  # (b, c, g, r, t, s)
    dtx = dts[..., None] * xs  # (b, c, s, g, r, p)

    # Intra-chunk ("diagonal blocks"): y_t = Σ_{s≤t} (C_t·B_s) L[t, s] dt_s x_s.
    scores = torch.einsum("bctgn,bcsgn->bcgts", Cs, Bs)[:, :, :, None]  # (b, c, g, 1, t, s)
    y = torch.einsum("bcgrts,bcsgrp->bctgrp", scores * seg.exp(), dtx)

    # Each chunk's contribution to the state at its end: Σ_s exp(Σ_{k>s} a_k) dt_s x_s B_sᵀ.
    to_end = seg[..., -1, :].exp().permute(0, 1, 4, 2, 3)[..., None]  # (b, c, s, g, r, 1)
    chunk_states = torch.einsum("bcsgrp,bcsgn->bcgrpn", to_end * dtx, Bs)

    # State passing, sequential over chunks: S_{c+1} = exp(Σ_chunk a) S_c + chunk_states_c.
    chunk_decay = a.sum(-1).exp()[..., None, None]  # (b, c, g, r, 1, 1)
    state = x.new_zeros(batch, groups, heads // groups, headdim, n)
    if initial_states is not None:
        state = initial_states.reshape(state.shape).to(x.dtype)
    starts = []
    # unbind, not [:, c]: each indexing's backward would write a full-size zero gradient
    for decay_c, states_c in zip(chunk_decay.unbind(1), chunk_states.unbind(1)):
        starts.append(state)
        state = decay_c * state + states_c
    starts = torch.stack(starts, dim=1)  # (b, c, g, r, p, n)

    # Inter-chunk ("off-diagonal"): y_t += exp(Σ_{k≤t} a_k) S_c C_t.
    from_start = a.cumsum(-1).exp().permute(0, 1, 4, 2, 3)[..., None]  # (b, c, t, g, r, 1)
    y = y + from_start * torch.einsum("bctgn,bcgrpn->bctgrp", Cs, starts)
    y = y.reshape(batch, nc * q, heads, headdim)[:, :length]
    return y, state.reshape(batch, heads, headdim, n)


def _check(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int) -> None:
    if x.dim() != 4 or dt.shape != x.shape[:3] or A.shape != x.shape[2:3]:
        raise DataError(f"ssd: x {tuple(x.shape)}, dt {tuple(dt.shape)}, A {tuple(A.shape)} "
                        "must be (batch, L, heads, headdim), (batch, L, heads), (heads,)")
    if B.shape != C.shape or B.shape[:2] != x.shape[:2] or x.shape[2] % B.shape[2] != 0:
        raise DataError(f"ssd: B {tuple(B.shape)} and C {tuple(C.shape)} must both be "
                        "(batch, L, groups, N) with heads divisible by groups")
    if chunk_size < 1:
        raise DataError(f"ssd: chunk_size={chunk_size}; use a positive chunk size such as 64")


def ssd(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    initial_states: Tensor | None = None,
    return_final_states: bool = False,
    backend: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Mamba-2's SSD scan over a sequence, chunked (see `ssd_ref` for the recurrence).

    Args:
        x: (batch, L, heads, headdim). dt: (batch, L, heads), before dt_bias/softplus.
        A: (heads,), one scalar per head (negative for a decaying state).
        B, C: (batch, L, groups, N), heads divisible by groups.
        chunk_size: Q, steps per chunk; L need not be a multiple of it.
        D: (heads,) or (heads, headdim), skip connection ``y += D x``.
        z: like x, gate ``y ← y · silu(z)`` applied last.
        dt_bias: (heads,), added to dt. dt_softplus: apply softplus to dt + dt_bias.
        initial_states: (batch, heads, headdim, N) or None (zeros).
        return_final_states: also return the state after step L.
        backend: None (Triton on CUDA when it can run, else torch), "ref", "torch", "triton".

    Returns:
        y (batch, L, heads, headdim), and the final state (batch, heads, headdim, N) when
        ``return_final_states``.
    """
    _check(x, dt, A, B, C, chunk_size)
    which = resolve_backend(backend, x, dt, A, B, C)
    if which == "ref":
        return ssd_ref(x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus, initial_states,
                       return_final_states)
    dt = _dt_eff(dt, dt_bias, dt_softplus)
    if which == "triton":
        from .triton._ssd import ssd_triton  # lazily: importing it imports Triton

        y, final = ssd_triton(x, dt, A, B, C, chunk_size, D, z, initial_states)
    else:
        y, final = _ssd_chunked(x, dt, A, B, C, chunk_size, initial_states)
        y = _output(y, x, D, z)
    return (y, final) if return_final_states else y
