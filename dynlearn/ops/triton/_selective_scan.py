"""Triton forward and backward kernels for `selective_scan` (imported only when backend="triton").

Grid (batch, D / BLOCK_D): a program keeps the (BLOCK_D, N) state of its channels in registers
and walks time in chunks of CHUNK steps. The forward writes y and the state at the start of every
chunk (B, D, n_chunks, N) — never all L states. The backward walks the chunks in reverse: it
recomputes the chunk's states from its saved start state into a per-program scratch buffer
(B, D, CHUNK, N), then runs the adjoint λ_t = ∂ℓ/∂h_t backwards through the chunk,
λ_{t-1} = Ā_t λ_t + C_{t-1} dy_{t-1}, accumulating every input's gradient. Sums over channels
(dB, dC) are written per channel block and summed afterwards, sums over batch (dA, dD, dbias)
per program: deterministic, no atomics. fp32 arithmetic for fp16/bf16/fp32, fp64 for fp64.
Loads of u, delta, z at one time step stride over D (mamba's layout keeps L contiguous);
consecutive steps reuse the same cache lines.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from . import LAUNCHES


@triton.jit
def _softplus(x):
    return tl.where(x <= 20.0, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))), x)


@triton.jit
def _step_inputs(u_ptr, dl_ptr, z_ptr, B_ptr, C_ptr, bias, off_d, off_n, t, L, sB_t,
                 mask_d, mask_n, HAS_Z: tl.constexpr, SOFTPLUS: tl.constexpr, ACC: tl.constexpr):
    """u_t, Δ_t, raw delta + bias, z_t ``(BLOCK_D,)`` and B_t, C_t ``(N_PAD,)`` at step t."""
    valid = (off_n * 0 + t) < L
    vd = mask_d & ((off_d * 0 + t) < L)
    u = tl.load(u_ptr + off_d + t, mask=vd, other=0.0).to(ACC)
    raw = tl.load(dl_ptr + off_d + t, mask=vd, other=0.0).to(ACC) + bias
    dt = raw
    if SOFTPLUS:
        dt = _softplus(raw)
    dt = tl.where(vd, dt, 0.0)  # past the end Δ = 0: Ā = 1, no input, the state passes through
    z = u
    if HAS_Z:
        z = tl.load(z_ptr + off_d + t, mask=vd, other=0.0).to(ACC)
    Bt = tl.load(B_ptr + off_n + t * sB_t, mask=mask_n & valid, other=0.0).to(ACC)
    Ct = tl.load(C_ptr + off_n + t * sB_t, mask=mask_n & valid, other=0.0).to(ACC)
    return u, dt, raw, z, Bt, Ct, vd


@triton.jit
def _channel_params(A_ptr, D_ptr, bias_ptr, d, n, N, mask_d, mask,
                    HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, ACC: tl.constexpr,
                    BLOCK_D: tl.constexpr):  # fmt: skip
    """A ``(BLOCK_D, N_PAD)``, D and delta_bias ``(BLOCK_D,)`` (zeros when absent)."""
    A = tl.load(A_ptr + d[:, None] * N + n[None, :], mask=mask, other=0.0).to(ACC)
    Dv = tl.zeros([BLOCK_D], ACC)
    if HAS_D:
        Dv = tl.load(D_ptr + d, mask=mask_d, other=0.0).to(ACC)
    bias = tl.zeros([BLOCK_D], ACC)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + d, mask=mask_d, other=0.0).to(ACC)
    return A, Dv, bias


@triton.jit
def _selective_scan_fwd_kernel(
    u_ptr, dl_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, y_ptr, chk_ptr, last_ptr,
    Dm, N, L, n_chunks, sB_b, sB_n, sB_t,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    ACC: tl.constexpr, BLOCK_D: tl.constexpr, N_PAD: tl.constexpr, CHUNK: tl.constexpr,
):  # fmt: skip
    # u, delta, z, y: contiguous (B, D, L); A (D, N); B, C (B, N, L) with strides sB_*;
    # chk (B, D, n_chunks, N); last (B, D, N).
    b, blk = tl.program_id(0), tl.program_id(1)
    d = blk * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, N_PAD)
    mask_d, mask_n = d < Dm, n < N
    mask = mask_d[:, None] & mask_n[None, :]
    A, Dv, bias = _channel_params(A_ptr, D_ptr, bias_ptr, d, n, N, mask_d, mask,
                                  HAS_D, HAS_BIAS, ACC, BLOCK_D)  # fmt: skip
    off_d = (b * Dm + d) * L
    off_n = b * sB_b + n * sB_n
    state_off = (b * Dm + d[:, None]) * N + n[None, :]
    h = tl.zeros([BLOCK_D, N_PAD], dtype=ACC)
    for c in range(n_chunks):
        tl.store(chk_ptr + ((b * Dm + d[:, None]) * n_chunks + c) * N + n[None, :], h, mask=mask)
        for tt in range(CHUNK):
            t = c * CHUNK + tt
            u, dt, raw, z, Bt, Ct, vd = _step_inputs(
                u_ptr, dl_ptr, z_ptr, B_ptr, C_ptr, bias, off_d, off_n, t, L, sB_t,
                mask_d, mask_n, HAS_Z, SOFTPLUS, ACC)  # fmt: skip
            h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
            y = tl.sum(h * Ct[None, :], axis=1) + Dv * u
            if HAS_Z:
                y = y * z / (1.0 + tl.exp(-z))
            tl.store(y_ptr + off_d + t, y.to(y_ptr.dtype.element_ty), mask=vd)
    tl.store(last_ptr + state_off, h.to(last_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _selective_scan_bwd_kernel(
    u_ptr, dl_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, chk_ptr, dy_ptr, dlast_ptr,
    scr_ptr, du_ptr, ddl_ptr, dz_ptr, dA_ptr, dB_ptr, dC_ptr, dD_ptr, dbias_ptr,
    Dm, N, L, n_chunks, n_blocks, sB_b, sB_n, sB_t,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    ACC: tl.constexpr, BLOCK_D: tl.constexpr, N_PAD: tl.constexpr, CHUNK: tl.constexpr,
):  # fmt: skip
    # du, ddelta, dz like u; dA (B, D, N) per batch row; dB, dC (B, n_blocks, N, L) per channel
    # block; dD, dbias (B, D); scratch (B, D, CHUNK, N); all contiguous.
    b, blk = tl.program_id(0), tl.program_id(1)
    d = blk * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, N_PAD)
    mask_d, mask_n = d < Dm, n < N
    mask = mask_d[:, None] & mask_n[None, :]
    A, Dv, bias = _channel_params(A_ptr, D_ptr, bias_ptr, d, n, N, mask_d, mask,
                                  HAS_D, HAS_BIAS, ACC, BLOCK_D)  # fmt: skip
    off_d = (b * Dm + d) * L
    off_n = b * sB_b + n * sB_n
    state_off = (b * Dm + d[:, None]) * N + n[None, :]
    scr_off = (b * Dm + d[:, None]) * (CHUNK * N) + n[None, :]
    part_off = (b * n_blocks + blk) * N * L + n * L  # into dB, dC partials
    lam = tl.load(dlast_ptr + state_off, mask=mask, other=0.0).to(ACC)
    dA_acc = tl.zeros([BLOCK_D, N_PAD], dtype=ACC)
    dD_acc = tl.zeros([BLOCK_D], dtype=ACC)
    dbias_acc = tl.zeros([BLOCK_D], dtype=ACC)
    for i in range(n_chunks):
        c = n_chunks - 1 - i
        h = tl.load(chk_ptr + ((b * Dm + d[:, None]) * n_chunks + c) * N + n[None, :],
                    mask=mask, other=0.0).to(ACC)  # fmt: skip
        for tt in range(CHUNK):  # recompute: scratch[tt] = h_{t-1}
            t = c * CHUNK + tt
            tl.store(scr_ptr + scr_off + tt * N, h, mask=mask)
            u, dt, raw, z, Bt, Ct, vd = _step_inputs(
                u_ptr, dl_ptr, z_ptr, B_ptr, C_ptr, bias, off_d, off_n, t, L, sB_t,
                mask_d, mask_n, HAS_Z, SOFTPLUS, ACC)  # fmt: skip
            h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
        tl.debug_barrier()
        for j in range(CHUNK):
            tt = CHUNK - 1 - j
            t = c * CHUNK + tt
            u, dt, raw, z, Bt, Ct, vd = _step_inputs(
                u_ptr, dl_ptr, z_ptr, B_ptr, C_ptr, bias, off_d, off_n, t, L, sB_t,
                mask_d, mask_n, HAS_Z, SOFTPLUS, ACC)  # fmt: skip
            h_prev = tl.load(scr_ptr + scr_off + tt * N, mask=mask, other=0.0).to(ACC)
            dA = tl.exp(dt[:, None] * A)
            h = dA * h_prev + (dt * u)[:, None] * Bt[None, :]
            dy = tl.load(dy_ptr + off_d + t, mask=vd, other=0.0).to(ACC)
            if HAS_Z:
                sig = 1.0 / (1.0 + tl.exp(-z))
                y = tl.sum(h * Ct[None, :], axis=1) + Dv * u
                tl.store(dz_ptr + off_d + t, (dy * y * sig * (1.0 + z * (1.0 - sig))).to(
                    dz_ptr.dtype.element_ty), mask=vd)  # fmt: skip
                dy = dy * z * sig
            dD_acc += dy * u
            tl.store(dC_ptr + part_off + t, tl.sum(dy[:, None] * h, axis=0), mask=mask_n & (n * 0 + t < L))
            lam += dy[:, None] * Ct[None, :]  # λ_t: ∂ℓ/∂h_t
            lam_dt = lam * dt[:, None]
            tl.store(dB_ptr + part_off + t, tl.sum(lam_dt * u[:, None], axis=0), mask=mask_n & (n * 0 + t < L))
            du = dy * Dv + tl.sum(lam_dt * Bt[None, :], axis=1)
            g_dA = lam * dA * h_prev
            ddt = tl.sum(lam * Bt[None, :], axis=1) * u + tl.sum(g_dA * A, axis=1)
            dA_acc += g_dA * dt[:, None]
            if SOFTPLUS:
                ddt = ddt / (1.0 + tl.exp(-raw))
            ddt = tl.where(vd, ddt, 0.0)
            dbias_acc += ddt
            tl.store(du_ptr + off_d + t, du.to(du_ptr.dtype.element_ty), mask=vd)
            tl.store(ddl_ptr + off_d + t, ddt.to(ddl_ptr.dtype.element_ty), mask=vd)
            lam = lam * dA
        tl.debug_barrier()
    tl.store(dA_ptr + state_off, dA_acc, mask=mask)
    tl.store(dD_ptr + b * Dm + d, dD_acc, mask=mask_d)
    tl.store(dbias_ptr + b * Dm + d, dbias_acc, mask=mask_d)


def _config(x: Tensor, D: int, N: int) -> dict:
    acc = tl.float64 if x.dtype == torch.float64 else tl.float32
    interpret = os.environ.get("TRITON_INTERPRET") == "1"
    # On a GPU 32 channels x N state in registers per program; the interpreter (one program at a
    # time) and the tests prefer few, small chunks.
    return {
        "ACC": acc,
        "BLOCK_D": min(4 if interpret else 32, triton.next_power_of_2(D)),
        "N_PAD": triton.next_power_of_2(N),
        "CHUNK": 8 if interpret else 64,
    }


def _flags(D, z, delta_bias, delta_softplus) -> dict:
    return {"HAS_D": D is not None, "HAS_Z": z is not None, "HAS_BIAS": delta_bias is not None,
            "SOFTPLUS": bool(delta_softplus)}  # fmt: skip


class SelectiveScanFn(torch.autograd.Function):
    """Autograd wrapper: Triton forward (chunk-start states saved), Triton recompute-backward."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        Bsz, Dm, L = u.shape
        N = A.shape[-1]
        cfg, flags = _config(u, Dm, N), _flags(D, z, delta_bias, delta_softplus)
        n_chunks = triton.cdiv(L, cfg["CHUNK"])
        acc = torch.float64 if u.dtype == torch.float64 else torch.float32
        y = torch.empty_like(u)
        chk = torch.empty(Bsz, Dm, n_chunks, N, dtype=acc, device=u.device)
        last = torch.empty(Bsz, Dm, N, dtype=u.dtype, device=u.device)
        grid = (Bsz, triton.cdiv(Dm, cfg["BLOCK_D"]))
        _selective_scan_fwd_kernel[grid](
            u, delta, A, B, C, D if D is not None else u, z if z is not None else u,
            delta_bias if delta_bias is not None else u, y, chk, last,
            Dm, N, L, n_chunks, *B.stride(), **flags, **cfg,
        )  # fmt: skip
        LAUNCHES["selective_scan_fwd"] += 1
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, chk)
        ctx.delta_softplus = delta_softplus
        return y, last

    @staticmethod
    def backward(ctx, dy, dlast):
        u, delta, A, B, C, D, z, delta_bias, chk = ctx.saved_tensors
        Bsz, Dm, L = u.shape
        N = A.shape[-1]
        cfg, flags = _config(u, Dm, N), _flags(D, z, delta_bias, ctx.delta_softplus)
        n_chunks, n_blocks = chk.shape[2], triton.cdiv(Dm, cfg["BLOCK_D"])
        acc = chk.dtype
        dy, dlast = dy.contiguous(), dlast.contiguous()
        scratch = torch.empty(Bsz, Dm, cfg["CHUNK"], N, dtype=acc, device=u.device)
        du, ddelta = torch.empty_like(u), torch.empty_like(u)
        dz = torch.empty_like(u) if z is not None else None
        dA = torch.empty(Bsz, Dm, N, dtype=acc, device=u.device)
        dB = torch.zeros(Bsz, n_blocks, N, L, dtype=acc, device=u.device)
        dC = torch.zeros(Bsz, n_blocks, N, L, dtype=acc, device=u.device)
        dD = torch.empty(Bsz, Dm, dtype=acc, device=u.device)
        dbias = torch.empty(Bsz, Dm, dtype=acc, device=u.device)
        _selective_scan_bwd_kernel[(Bsz, n_blocks)](
            u, delta, A, B, C, D if D is not None else u, z if z is not None else u,
            delta_bias if delta_bias is not None else u, chk, dy, dlast, scratch,
            du, ddelta, dz if z is not None else du, dA, dB, dC, dD, dbias,
            Dm, N, L, n_chunks, n_blocks, *B.stride(), **flags, **cfg,
        )  # fmt: skip
        LAUNCHES["selective_scan_bwd"] += 1
        return (
            du, ddelta, dA.sum(0).to(A.dtype), dB.sum(1).to(B.dtype), dC.sum(1).to(C.dtype),
            dD.sum(0).to(D.dtype) if D is not None else None, dz,
            dbias.sum(0).to(delta_bias.dtype) if delta_bias is not None else None, None,
        )  # fmt: skip


def selective_scan_triton(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
    """`selective_scan` on the Triton kernels; arguments as there (real A, B and C (B, N, L))."""
    # C's strides are taken equal to B's: both are made contiguous (B, N, L).
    u, delta, A, B, C = (x.contiguous() for x in (u, delta, A, B, C))
    D, z, delta_bias = (x.contiguous() if x is not None else None for x in (D, z, delta_bias))
    y, last = SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return (y, last) if return_last_state else y
