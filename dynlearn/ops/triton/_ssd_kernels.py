"""Forward Triton kernels of the SSD scan: chunk states, state passing, chunk scan.

Dao & Gu (2024), arXiv 2405.21060, §6 and §8. One program handles one (batch, chunk, head) and
a tile of rows or of the state; reductions over N and headdim run in blocks through ``tl.dot``
with fp32 (fp64 for fp64 inputs) accumulation. ``cum`` is the within-chunk cumulative sum of
dt·A, laid out (batch, L, heads) like dt. Launched from `_ssd.py`.

Names used by every kernel here and in `_ssd_kernels_bwd.py`:
  sizes   L sequence length (padded to a multiple of Q), H heads, G groups of B/C (HPG heads per
          group), NC = L / Q chunks of Q steps, P head dim (channels of x), N state size.
  indices b batch, c chunk, h head, g = h // HPG its B/C group; t a row (time step) of the chunk
          being written, s a row it reads from (s ≤ t: causal); ``rows`` = b·L + c·Q + t, the
          row of the flattened (batch, L) arrays.
  tiles   BT rows of time, BP channels of P, BN entries of N per block; offs_* are a tile's
          indices along that axis and m* their in-bounds masks (the last tile may overhang).
  dtypes  ACC accumulates (fp32, fp64 for fp64 inputs), DOT is what tl.dot multiplies in.
Memory layouts: x, y, z (batch, L, H, P); B, C (batch, L, G, N); dt, cum (batch, L, H);
chunk states (batch, NC, H, P, N); states entering each chunk (batch, NC + 1, H, P, N).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _mm(a, b, ACC: tl.constexpr, DOT: tl.constexpr):
    return tl.dot(a.to(DOT), b.to(DOT), out_dtype=ACC, input_precision="ieee")


@triton.jit
def _skip(d_ptr, h, offs_p, mp, P, D_PER_CHANNEL: tl.constexpr, ACC: tl.constexpr):
    """D of head h as a (1, BP) row: per channel, or the head's scalar broadcast."""
    if D_PER_CHANNEL:
        d = tl.load(d_ptr + h * P + offs_p, mask=mp, other=0.0).to(ACC)
    else:
        d = tl.load(d_ptr + h + offs_p * 0, mask=mp, other=0.0).to(ACC)
    return d[None, :]


@triton.jit
def _ssd_chunk_state_kernel(u_ptr, v_ptr, dt_ptr, cum_ptr, out_ptr, L, H, G, NC, Q, P, N, HPG,
                            FROM_START: tl.constexpr, BT: tl.constexpr, BP: tl.constexpr,
                            BN: tl.constexpr, ACC: tl.constexpr, DOT: tl.constexpr):
    """out[b,c,h] = Σ_t w_t u_t v_tᵀ (P, N): u = x, v = B, w = exp(Λ−cum_t) dt_t (chunk
    states); or u = dy, v = C, w = exp(cum_t) (FROM_START: gradient of the state entering c)."""
    # grid: (batch·NC·H, P tiles, N tiles); one program writes one (BP, BN) tile of out[b, c, h]
    pid = tl.program_id(0)
    b, c, h = pid // (NC * H), (pid // H) % NC, pid % H
    g = h // HPG
    offs_p = tl.program_id(1) * BP + tl.arange(0, BP)
    offs_n = tl.program_id(2) * BN + tl.arange(0, BN)
    cum_last = tl.load(cum_ptr + (b * L + c * Q + Q - 1) * H + h).to(ACC)  # Λ: cum at the chunk's end
    acc = tl.zeros((BP, BN), dtype=ACC)
    for t0 in range(0, Q, BT):  # the chunk's rows, BT at a time
        offs_t = t0 + tl.arange(0, BT)
        mt = offs_t < Q
        rows = b * L + c * Q + offs_t
        u = tl.load(u_ptr + (rows[:, None] * H + h) * P + offs_p[None, :],
                    mask=mt[:, None] & (offs_p < P)[None, :], other=0.0).to(ACC)
        v = tl.load(v_ptr + (rows[:, None] * G + g) * N + offs_n[None, :],
                    mask=mt[:, None] & (offs_n < N)[None, :], other=0.0).to(ACC)
        cum_t = tl.load(cum_ptr + rows * H + h, mask=mt, other=0.0).to(ACC)
        if FROM_START:
            w = tl.exp(cum_t)
        else:
            dt_t = tl.load(dt_ptr + rows * H + h, mask=mt, other=0.0).to(ACC)
            w = tl.exp(tl.minimum(cum_last - cum_t, 0.0)) * dt_t
        w = tl.where(mt, w, 0.0)  # rows past Q add nothing
        acc += _mm(tl.trans(u * w[:, None]), v, ACC, DOT)  # (BP, BT) @ (BT, BN)
    out = out_ptr + ((b * NC + c) * H + h) * P * N
    tl.store(out + offs_p[:, None] * N + offs_n[None, :], acc,
             mask=(offs_p < P)[:, None] & (offs_n < N)[None, :])


@triton.jit
def _ssd_state_passing_kernel(st_ptr, cum_ptr, init_ptr, states_ptr, L, H, NC, Q, PN,
                              HAS_INIT: tl.constexpr, BLOCK: tl.constexpr, ACC: tl.constexpr):
    """states[b, c] = state entering chunk c (c = NC: the final state), sequential over c."""
    # grid: (batch·H, blocks of the flattened P·N state); the loop over chunks is the only serial part
    pid = tl.program_id(0)
    b, h = pid // H, pid % H
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    m = offs < PN
    if HAS_INIT:
        s = tl.load(init_ptr + pid * PN + offs, mask=m, other=0.0).to(ACC)
    else:
        s = tl.zeros((BLOCK,), dtype=ACC)
    for c in range(0, NC):
        tl.store(states_ptr + ((b * (NC + 1) + c) * H + h) * PN + offs, s, mask=m)
        lam = tl.load(cum_ptr + (b * L + c * Q + Q - 1) * H + h).to(ACC)  # chunk c's total decay
        st = tl.load(st_ptr + ((b * NC + c) * H + h) * PN + offs, mask=m, other=0.0)  # its own input
        s = tl.exp(lam) * s + st
    tl.store(states_ptr + ((b * (NC + 1) + NC) * H + h) * PN + offs, s, mask=m)


@triton.jit
def _ssd_chunk_scan_kernel(x_ptr, dt_ptr, cum_ptr, b_ptr, c_ptr, states_ptr, d_ptr, z_ptr, y_ptr,
                           out_ptr, L, H, G, NC, Q, P, N, HPG, HAS_D: tl.constexpr,
                           D_PER_CHANNEL: tl.constexpr, HAS_Z: tl.constexpr, BT: tl.constexpr,
                           BP: tl.constexpr, BN: tl.constexpr, ACC: tl.constexpr,
                           DOT: tl.constexpr):
    """Rows t of a tile: y_t = exp(cum_t) S_c C_t + Σ_{s≤t} (C_t·B_s) exp(cum_t − cum_s) dt_s x_s;
    out_t = (y_t + D x_t) · silu(z_t) when D or z is given (y is kept for the backward)."""
    # grid: (batch·NC·H, row tiles of the chunk, P tiles); one program writes a (BT, BP) tile of y
    pid = tl.program_id(0)
    b, c, h = pid // (NC * H), (pid // H) % NC, pid % H
    g = h // HPG
    pt = tl.program_id(1)
    offs_t = pt * BT + tl.arange(0, BT)
    mt = offs_t < Q
    rows_t = b * L + c * Q + offs_t
    offs_p = tl.program_id(2) * BP + tl.arange(0, BP)
    mp = offs_p < P
    cum_t = tl.load(cum_ptr + rows_t * H + h, mask=mt, other=0.0).to(ACC)
    state = states_ptr + ((b * (NC + 1) + c) * H + h) * P * N
    acc = tl.zeros((BT, BP), dtype=ACC)
    # 1. what enters from earlier chunks: C_t · S_c, decayed to row t
    for n0 in range(0, N, BN):
        offs_n = n0 + tl.arange(0, BN)
        mn = offs_n < N
        ct = tl.load(c_ptr + (rows_t[:, None] * G + g) * N + offs_n[None, :],
                     mask=mt[:, None] & mn[None, :], other=0.0)
        s = tl.load(state + offs_p[None, :] * N + offs_n[:, None], mask=mn[:, None] & mp[None, :],
                    other=0.0)
        acc += _mm(ct, s, ACC, DOT)
    acc = acc * tl.exp(cum_t)[:, None]
    # 2. within the chunk: source tiles s up to this row tile (causal), the masked "attention" C Bᵀ
    for s0 in range(0, (pt + 1) * BT, BT):
        offs_s = s0 + tl.arange(0, BT)
        ms = offs_s < Q
        rows_s = b * L + c * Q + offs_s
        cb = tl.zeros((BT, BT), dtype=ACC)
        for n0 in range(0, N, BN):
            offs_n = n0 + tl.arange(0, BN)
            mn = offs_n < N
            ct = tl.load(c_ptr + (rows_t[:, None] * G + g) * N + offs_n[None, :],
                         mask=mt[:, None] & mn[None, :], other=0.0)
            bs = tl.load(b_ptr + (rows_s[None, :] * G + g) * N + offs_n[:, None],
                         mask=mn[:, None] & ms[None, :], other=0.0)
            cb += _mm(ct, bs, ACC, DOT)
        cum_s = tl.load(cum_ptr + rows_s * H + h, mask=ms, other=0.0).to(ACC)
        dt_s = tl.load(dt_ptr + rows_s * H + h, mask=ms, other=0.0).to(ACC)
        # min(·, 0): entries above the diagonal are masked anyway; this keeps their exp finite
        decay = tl.exp(tl.minimum(cum_t[:, None] - cum_s[None, :], 0.0)) * dt_s[None, :]
        keep = (offs_t[:, None] >= offs_s[None, :]) & ms[None, :]  # s ≤ t
        w = tl.where(keep, cb * decay, 0.0)
        xs = tl.load(x_ptr + (rows_s[:, None] * H + h) * P + offs_p[None, :],
                     mask=ms[:, None] & mp[None, :], other=0.0)
        acc += _mm(w, xs, ACC, DOT)
    tile = (rows_t[:, None] * H + h) * P + offs_p[None, :]
    m2 = mt[:, None] & mp[None, :]
    tl.store(y_ptr + tile, acc, mask=m2)
    if HAS_D or HAS_Z:
        out = acc
        if HAS_D:
            out += _skip(d_ptr, h, offs_p, mp, P, D_PER_CHANNEL, ACC) \
                * tl.load(x_ptr + tile, mask=m2, other=0.0).to(ACC)
        if HAS_Z:
            zt = tl.load(z_ptr + tile, mask=m2, other=0.0).to(ACC)
            out = out * zt / (1.0 + tl.exp(-zt))
        tl.store(out_ptr + tile, out, mask=m2)
