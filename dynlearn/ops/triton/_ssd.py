"""The SSD scan (Mamba-2) on Triton: launches and the autograd Function `SsdFn`.

Dao & Gu (2024), arXiv 2405.21060, §6 and §8. Forward (`_ssd_kernels.py`): chunk states,
state passing across chunks, chunk scan (with D and the z gate fused). ``cum`` is the
within-chunk cumulative sum of dt·A, (batch, L, heads) like dt; PyTorch computes it and carries
its gradient back to dt and A. Backward (`_ssd_kernels_bwd.py`), with ``G_{c+1}`` the gradient of
the state entering chunk c+1 and ``Λ_c`` the cum at chunk c's end: the gate's backward, the
gradient of each chunk's entering state (the chunk-state kernel on dy and C), a reverse state
pass, then dx/ddt/dcum, dC and dB. ``dcum_t = dy_t·y_t − x_t·dx_t`` plus ``<G_{c+1}, S_{c+1}>``
at each chunk end (the state's derivative in Λ_c is the state itself). Block sizes are fixed
per shape (no autotuning, which would also not run in the interpreter).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from . import LAUNCHES
from ._ssd_kernels import (
    _ssd_chunk_scan_kernel,
    _ssd_chunk_state_kernel,
    _ssd_state_passing_kernel,
)
from ._ssd_kernels_bwd import (
    _ssd_bwd_db_kernel,
    _ssd_bwd_dc_kernel,
    _ssd_bwd_dx_kernel,
    _ssd_gate_bwd_kernel,
    _ssd_state_passing_bwd_kernel,
)


def _config(x: Tensor, q: int, p: int, n: int) -> dict:
    acc = tl.float64 if x.dtype == torch.float64 else tl.float32
    # Tensor-core operands for 16-bit inputs (fp32 accumulation); exact fp32/fp64 dots otherwise.
    dot = {torch.float16: tl.float16, torch.bfloat16: tl.bfloat16}.get(x.dtype, acc)
    pow2 = triton.next_power_of_2
    return dict(BT=min(64, max(16, pow2(q))), BP=min(64, max(16, pow2(p))),
                BN=min(64, max(16, pow2(n))), ACC=acc, DOT=dot)


def _launch(name: str, kernel, grid, *args, **kwargs) -> None:
    LAUNCHES[name] += 1
    kernel[grid](*args, **kwargs)


def _gates(D, z) -> dict:
    return dict(HAS_D=D is not None, D_PER_CHANNEL=D is not None and D.dim() == 2,
                HAS_Z=z is not None)


def _ssd_fwd(x, dt, cum, B, C, D, z, init, q):
    """Padded, contiguous inputs -> out, the ungated y (b, L, H, P), states (b, NC + 1, H, P, N)."""
    b, length, h, p = x.shape
    g, n = B.shape[-2:]
    nc = length // q
    cfg = _config(x, q, p, n)
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    dims = (length, h, g, nc, q, p, n, h // g)
    st = x.new_empty(b, nc, h, p, n, dtype=acc)
    grid = (b * nc * h, triton.cdiv(p, cfg["BP"]), triton.cdiv(n, cfg["BN"]))
    _launch("_ssd_chunk_state_kernel", _ssd_chunk_state_kernel, grid, x, B, dt, cum, st, *dims,
            FROM_START=False, **cfg)
    states = x.new_empty(b, nc + 1, h, p, n, dtype=acc)
    block = min(1024, triton.next_power_of_2(p * n))
    _launch("_ssd_state_passing_kernel", _ssd_state_passing_kernel,
            (b * h, triton.cdiv(p * n, block)), st, cum, init if init is not None else st, states,
            length, h, nc, q, p * n, HAS_INIT=init is not None, BLOCK=block, ACC=cfg["ACC"])
    y = torch.empty_like(x)
    gates = _gates(D, z)
    out = torch.empty_like(x) if D is not None or z is not None else y
    grid = (b * nc * h, triton.cdiv(q, cfg["BT"]), triton.cdiv(p, cfg["BP"]))
    _launch("_ssd_chunk_scan_kernel", _ssd_chunk_scan_kernel, grid, x, dt, cum, B, C, states,
            D if D is not None else x, z if z is not None else x, y, out, *dims, **gates, **cfg)
    return out, y, states


def _ssd_bwd(x, dt, cum, B, C, D, z, states, y, dout, dfinal, q):
    b, length, h, p = x.shape
    g, n = B.shape[-2:]
    nc = length // q
    cfg = _config(x, q, p, n)
    acc = states.dtype
    dims = (length, h, g, nc, q, p, n, h // g)
    gates = _gates(D, z)
    dy, dz, dD = dout, None, None
    if D is not None or z is not None:  # back through (y + D x) · silu(z) first
        br = 64
        nrb = triton.cdiv(b * length, br)
        dy = torch.empty_like(x)
        dz = torch.empty_like(z) if z is not None else None
        dd = x.new_empty(nrb, h, p if gates["D_PER_CHANNEL"] else 1, dtype=acc)
        _launch("_ssd_gate_bwd_kernel", _ssd_gate_bwd_kernel, (nrb, h), dout, x,
                z if z is not None else x, y, D if D is not None else x, dy, dz if z is not None
                else dy, dd, b * length, h, p, **gates, BR=br, BP=triton.next_power_of_2(p),
                ACC=cfg["ACC"])
        if D is not None:
            dD = dd.sum(0).reshape(D.shape).to(D.dtype)
    dsl = x.new_empty(b, nc, h, p, n, dtype=acc)
    grid = (b * nc * h, triton.cdiv(p, cfg["BP"]), triton.cdiv(n, cfg["BN"]))
    _launch("_ssd_chunk_state_kernel", _ssd_chunk_state_kernel, grid, dy, C, dt, cum, dsl, *dims,
            FROM_START=True, **cfg)
    block = min(1024, triton.next_power_of_2(p * n))
    nblk = triton.cdiv(p * n, block)
    dst = torch.empty_like(dsl)
    dinit = x.new_empty(b, h, p, n, dtype=acc)
    dlam = x.new_empty(b, h, nc, nblk, dtype=acc)
    _launch("_ssd_state_passing_bwd_kernel", _ssd_state_passing_bwd_kernel, (b * h, nblk), dsl,
            cum, states, dfinal if dfinal is not None else dsl, dst, dinit, dlam, length, h, nc, q,
            p * n, HAS_DFINAL=dfinal is not None, BLOCK=block, ACC=cfg["ACC"])
    dx = torch.empty_like(x)
    npb = triton.cdiv(p, cfg["BP"])
    ddt = x.new_empty(b, length, h, npb, dtype=acc)
    dcum = torch.empty_like(ddt)
    grid = (b * nc * h, triton.cdiv(q, cfg["BT"]), npb)
    _launch("_ssd_bwd_dx_kernel", _ssd_bwd_dx_kernel, grid, x, dt, cum, B, C, dy, y, dst,
            D if D is not None else x, dx, ddt, dcum, *dims, HAS_D=gates["HAS_D"],
            D_PER_CHANNEL=gates["D_PER_CHANNEL"], **cfg)
    dc = x.new_empty(b, length, h, n, dtype=acc)
    db = torch.empty_like(dc)
    grid = (b * nc * h, triton.cdiv(q, cfg["BT"]), triton.cdiv(n, cfg["BN"]))
    _launch("_ssd_bwd_dc_kernel", _ssd_bwd_dc_kernel, grid, x, dt, cum, B, dy, states, dc, *dims,
            **cfg)
    _launch("_ssd_bwd_db_kernel", _ssd_bwd_db_kernel, grid, x, dt, cum, C, dy, dst, db, *dims,
            **cfg)
    dcum = dcum.sum(-1)
    dcum.view(b, nc, q, h)[:, :, -1] += dlam.sum(-1).transpose(1, 2)  # <G_{c+1}, S_{c+1}>
    per_group = (b, length, g, h // g, n)
    return (dx, ddt.sum(-1).to(dt.dtype), dcum, db.view(per_group).sum(3).to(B.dtype),
            dc.view(per_group).sum(3).to(C.dtype), dD, dz, dinit)


class SsdFn(torch.autograd.Function):
    """(x, dt, cum, B, C, D, z, initial_states) -> (out, final state), padded to a multiple of Q."""

    @staticmethod
    def forward(ctx, x, dt, cum, B, C, D, z, init, q):
        out, y, states = _ssd_fwd(x, dt, cum, B, C, D, z, init, q)
        ctx.save_for_backward(x, dt, cum, B, C, D, z, states, y)
        ctx.q = q
        ctx.init_dtype = None if init is None else init.dtype
        return out, states[:, -1]

    @staticmethod
    def backward(ctx, dout, dfinal):
        x, dt, cum, B, C, D, z, states, y = ctx.saved_tensors
        dout = dout.contiguous() if dout is not None else torch.zeros_like(y)
        dfinal = dfinal.contiguous() if dfinal is not None else None
        dx, ddt, dcum, dB, dC, dD, dz, dinit = _ssd_bwd(x, dt, cum, B, C, D, z, states, y, dout,
                                                       dfinal, ctx.q)
        dinit = None if ctx.init_dtype is None else dinit.to(ctx.init_dtype)
        return dx, ddt, dcum.to(cum.dtype), dB, dC, dD, dz, dinit, None


def ssd_triton(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
               D: Tensor | None, z: Tensor | None,
               initial_states: Tensor | None) -> tuple[Tensor, Tensor]:
    """The SSD scan on Triton, D and the z gate fused (dt already through dt_bias/softplus).

    See `dynlearn.ops.ssd` for the arguments. Returns y (batch, L, heads, headdim) in x's dtype
    and the final state in fp32 (fp64 for fp64 inputs).
    """
    b, length, h, _ = x.shape
    q = chunk_size
    nc = -(-length // q)
    pad = nc * q - length

    def prep(v):  # zero padding is dt = 0 (no decay, no input) on the padded steps
        v = v if pad == 0 else F.pad(v, (0, 0) * (v.dim() - 2) + (0, pad))
        return v.contiguous()

    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    dtp = prep(dt)
    cum = (dtp.to(acc) * A.to(acc)).view(b, nc, q, h).cumsum(2).view(b, nc * q, h)
    init = None if initial_states is None else initial_states.contiguous()
    y, final = SsdFn.apply(prep(x), dtp, cum.contiguous(), prep(B), prep(C),
                           None if D is None else D.contiguous(), None if z is None else prep(z),
                           init, q)
    return y[:, :length], final
