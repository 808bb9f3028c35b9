"""Triton forward and backward kernels for `linear_scan` (imported only when backend="triton").

One program owns one batch row and a block of BLOCK_N channels, keeps their state in registers
and walks the L steps in order; loads along N are contiguous (coalesced) in the ``(..., L, N)``
layout. Complex inputs run on their real and imaginary planes (`torch.view_as_real`, im at
offset +1). Arithmetic is fp32 for fp16/bf16/fp32 inputs and fp64 for fp64.

The backward kernel is the reverse-time scan of the adjoint λ_t = ∂ℓ/∂h_t:
λ_t = g_t + conj(a_{t+1}) λ_{t+1}, ∂ℓ/∂b_t = λ_t, ∂ℓ/∂a_t = λ_t conj(h_{t-1}),
∂ℓ/∂h0 = conj(a_0) λ_0 (PyTorch's convention for complex gradients). The states h_{t-1} it
needs are the op's output, so nothing is recomputed here (unlike the selective scan, whose
states are not its output).
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from . import LAUNCHES


@triton.jit
def _cmul(xr, xi, yr, yi, CONJ_X: tl.constexpr, IS_COMPLEX: tl.constexpr):
    """(xr + i xi)·(yr + i yi), or conj(x)·y; real product when not IS_COMPLEX."""
    if IS_COMPLEX:
        if CONJ_X:
            return xr * yr + xi * yi, xr * yi - xi * yr
        return xr * yr - xi * yi, xr * yi + xi * yr
    return xr * yr, xi


@triton.jit
def _linear_scan_fwd_kernel(
    a_ptr, b_ptr, h0_ptr, h_ptr, L, N,
    sa_b, sa_t, sa_n, sb_b, sb_t, sb_n, s0_b, s0_n, sh_b, sh_t, sh_n,
    HAS_H0: tl.constexpr, IS_COMPLEX: tl.constexpr, ACC: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    row, block = tl.program_id(0), tl.program_id(1)
    n = block * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = n < N
    a_ptr += row * sa_b + n * sa_n
    b_ptr += row * sb_b + n * sb_n
    h_ptr += row * sh_b + n * sh_n
    hr = tl.zeros([BLOCK_N], dtype=ACC)
    hi = tl.zeros([BLOCK_N], dtype=ACC)
    if HAS_H0:
        hr = tl.load(h0_ptr + row * s0_b + n * s0_n, mask=mask, other=0.0).to(ACC)
        if IS_COMPLEX:
            hi = tl.load(h0_ptr + row * s0_b + n * s0_n + 1, mask=mask, other=0.0).to(ACC)
    for t in range(L):
        ar = tl.load(a_ptr + t * sa_t, mask=mask, other=0.0).to(ACC)
        br = tl.load(b_ptr + t * sb_t, mask=mask, other=0.0).to(ACC)
        ai, bi = ar, br
        if IS_COMPLEX:
            ai = tl.load(a_ptr + t * sa_t + 1, mask=mask, other=0.0).to(ACC)
            bi = tl.load(b_ptr + t * sb_t + 1, mask=mask, other=0.0).to(ACC)
        pr, pi = _cmul(ar, ai, hr, hi, False, IS_COMPLEX)
        hr, hi = pr + br, pi + bi
        tl.store(h_ptr + t * sh_t, hr.to(h_ptr.dtype.element_ty), mask=mask)
        if IS_COMPLEX:
            tl.store(h_ptr + t * sh_t + 1, hi.to(h_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _linear_scan_bwd_kernel(
    a_ptr, h0_ptr, h_ptr, g_ptr, da_ptr, db_ptr, dh0_ptr, L, N,
    sa_b, sa_t, sa_n, s0_b, s0_n, sh_b, sh_t, sh_n,
    HAS_H0: tl.constexpr, IS_COMPLEX: tl.constexpr, ACC: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    # g, da, db share h's strides (fresh contiguous tensors); dh0 shares h0's.
    row, block = tl.program_id(0), tl.program_id(1)
    n = block * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = n < N
    a_ptr += row * sa_b + n * sa_n
    off = row * sh_b + n * sh_n
    h0r = tl.zeros([BLOCK_N], dtype=ACC)
    h0i = tl.zeros([BLOCK_N], dtype=ACC)
    if HAS_H0:
        h0r = tl.load(h0_ptr + row * s0_b + n * s0_n, mask=mask, other=0.0).to(ACC)
        if IS_COMPLEX:
            h0i = tl.load(h0_ptr + row * s0_b + n * s0_n + 1, mask=mask, other=0.0).to(ACC)
    cr = tl.zeros([BLOCK_N], dtype=ACC)  # conj(a_{t+1}) λ_{t+1}, carried backwards
    ci = tl.zeros([BLOCK_N], dtype=ACC)
    for i in range(L):
        t = L - 1 - i
        lr = cr + tl.load(g_ptr + off + t * sh_t, mask=mask, other=0.0).to(ACC)
        li = ci
        if IS_COMPLEX:
            li += tl.load(g_ptr + off + t * sh_t + 1, mask=mask, other=0.0).to(ACC)
        prev = mask & ((n * 0 + t) > 0)  # a vector mask: h_{-1} is h0, not a load
        pr = tl.load(h_ptr + off + (t - 1) * sh_t, mask=prev, other=0.0).to(ACC)
        pr = tl.where(prev, pr, h0r)
        pi = pr
        if IS_COMPLEX:
            pi = tl.load(h_ptr + off + (t - 1) * sh_t + 1, mask=prev, other=0.0).to(ACC)
            pi = tl.where(prev, pi, h0i)
        dar, dai = _cmul(pr, pi, lr, li, True, IS_COMPLEX)  # λ conj(h_{t-1}) = conj(h_{t-1}) λ
        tl.store(db_ptr + off + t * sh_t, lr.to(db_ptr.dtype.element_ty), mask=mask)
        tl.store(da_ptr + off + t * sh_t, dar.to(da_ptr.dtype.element_ty), mask=mask)
        ar = tl.load(a_ptr + t * sa_t, mask=mask, other=0.0).to(ACC)
        ai = ar
        if IS_COMPLEX:
            tl.store(db_ptr + off + t * sh_t + 1, li.to(db_ptr.dtype.element_ty), mask=mask)
            tl.store(da_ptr + off + t * sh_t + 1, dai.to(da_ptr.dtype.element_ty), mask=mask)
            ai = tl.load(a_ptr + t * sa_t + 1, mask=mask, other=0.0).to(ACC)
        cr, ci = _cmul(ar, ai, lr, li, True, IS_COMPLEX)
    if HAS_H0:
        tl.store(dh0_ptr + row * s0_b + n * s0_n, cr.to(dh0_ptr.dtype.element_ty), mask=mask)
        if IS_COMPLEX:
            tl.store(dh0_ptr + row * s0_b + n * s0_n + 1, ci.to(dh0_ptr.dtype.element_ty), mask=mask)


def _planes(x: Tensor | None) -> Tensor | None:
    """Complex tensors as their real view ``(..., 2)`` (Triton has no complex dtype)."""
    return torch.view_as_real(x) if x is not None and x.is_complex() else x


def _config(x: Tensor) -> dict:
    acc = tl.float64 if x.dtype in (torch.float64, torch.complex128) else tl.float32
    # On a GPU, 64 channels x 1 warp keeps many programs in flight for small batch x N; the
    # interpreter's blocks are small so that tiny test shapes still span several blocks.
    block = 64 if os.environ.get("TRITON_INTERPRET") != "1" else 8
    return {"IS_COMPLEX": x.is_complex(), "ACC": acc, "BLOCK_N": block}


def _linear_scan_fwd(a: Tensor, b: Tensor, h0: Tensor | None) -> Tensor:
    """States h ``(R, L, N)`` for a, b ``(R, L, N)`` (a may have zero strides), h0 ``(R, N)``."""
    R, L, N = b.shape
    h = torch.empty(b.shape, dtype=b.dtype, device=b.device)
    ar, br, hr, h0r = _planes(a), _planes(b), _planes(h), _planes(h0)
    cfg = _config(b)
    s0 = h0r.stride()[:2] if h0 is not None else (0, 0)
    grid = (R, triton.cdiv(N, cfg["BLOCK_N"]))
    _linear_scan_fwd_kernel[grid](
        ar, br, h0r if h0 is not None else hr, hr, L, N,
        *ar.stride()[:3], *br.stride()[:3], *s0, *hr.stride()[:3],
        HAS_H0=h0 is not None, num_warps=1, **cfg,
    )  # fmt: skip
    LAUNCHES["linear_scan_fwd"] += 1
    return h


def _linear_scan_bwd(a, h0, h, g):
    """Gradients (da, db, dh0) at the full ``(R, L, N)`` shape, from the output gradient g."""
    R, L, N = h.shape
    g = g.contiguous()
    da, db = torch.empty_like(h), torch.empty_like(h)
    dh0 = torch.empty_like(h0) if h0 is not None else None
    ar, h0r, hr, gr = _planes(a), _planes(h0), _planes(h), _planes(g)
    dar, dbr, dh0r = _planes(da), _planes(db), _planes(dh0)
    cfg = _config(h)
    s0 = h0r.stride()[:2] if h0 is not None else (0, 0)
    grid = (R, triton.cdiv(N, cfg["BLOCK_N"]))
    _linear_scan_bwd_kernel[grid](
        ar, h0r if h0 is not None else hr, hr, gr, dar, dbr, dh0r if h0 is not None else hr,
        L, N, *ar.stride()[:3], *s0, *hr.stride()[:3],
        HAS_H0=h0 is not None, num_warps=1, **cfg,
    )  # fmt: skip
    LAUNCHES["linear_scan_bwd"] += 1
    return da, db, dh0


class LinearScanFn(torch.autograd.Function):
    """Autograd wrapper: Triton forward, Triton reverse-adjoint backward."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor | None) -> Tensor:
        h = _linear_scan_fwd(a, b, h0)
        ctx.save_for_backward(a, h0, h)
        return h

    @staticmethod
    def backward(ctx, g: Tensor):
        a, h0, h = ctx.saved_tensors
        da, db, dh0 = _linear_scan_bwd(a, h0, h, g)
        return da, db, dh0


def linear_scan_triton(a: Tensor, b: Tensor, h0: Tensor | None) -> Tensor:
    """States ``(..., L, N)`` for broadcast-ready a, b ``(..., L, N)`` and h0 ``(..., N)``."""
    *batch, L, N = b.shape
    h0 = h0.reshape(-1, N).contiguous() if h0 is not None else None  # dh0 gets its strides
    h = LinearScanFn.apply(a.reshape(-1, L, N), b.reshape(-1, L, N).contiguous(), h0)
    return h.reshape(*batch, L, N)
