"""Backward Triton kernels of the SSD scan (`_ssd.py` sketches the derivation).

With ``G_{c+1}`` the gradient of the state entering chunk c + 1 and ``Λ_c`` the within-chunk
cumsum at the chunk's end: the gate backward, a reverse state pass, then dx/ddt/dcum, dC and dB
for the rows of one (batch, chunk, head) per program. Sizes, indices and tile names as in
`_ssd_kernels.py` (L, H, G, NC, Q, P, N; b, c, h, g; t written rows, s read rows; BT/BP/BN tiles).
"""

from __future__ import annotations

import triton
import triton.language as tl

from ._ssd_kernels import _mm, _skip


@triton.jit
def _ssd_gate_bwd_kernel(dout_ptr, x_ptr, z_ptr, y_ptr, d_ptr, dy_ptr, dz_ptr, dd_ptr, L, H, P,
                         HAS_D: tl.constexpr, D_PER_CHANNEL: tl.constexpr, HAS_Z: tl.constexpr,
                         BR: tl.constexpr, BP: tl.constexpr, ACC: tl.constexpr):
    """Through out = (y + D x) · silu(z): dy = dout · silu(z), dz, and per-tile partials of dD."""
    # grid: (row tiles of the flattened (batch, L), H); a program holds all P channels of BR rows
    pid = tl.program_id(0)
    h = tl.program_id(1)
    offs_r = pid * BR + tl.arange(0, BR)  # rows of the flattened (batch, L)
    mr = offs_r < L
    offs_p = tl.arange(0, BP)
    mp = offs_p < P
    tile = (offs_r[:, None] * H + h) * P + offs_p[None, :]
    m2 = mr[:, None] & mp[None, :]
    dout = tl.load(dout_ptr + tile, mask=m2, other=0.0).to(ACC)
    xs = tl.load(x_ptr + tile, mask=m2, other=0.0).to(ACC)
    dy = dout
    if HAS_Z:
        zt = tl.load(z_ptr + tile, mask=m2, other=0.0).to(ACC)
        pre = tl.load(y_ptr + tile, mask=m2, other=0.0).to(ACC)
        if HAS_D:
            pre += _skip(d_ptr, h, offs_p, mp, P, D_PER_CHANNEL, ACC) * xs
        sig = 1.0 / (1.0 + tl.exp(-zt))
        tl.store(dz_ptr + tile, dout * pre * sig * (1.0 + zt * (1.0 - sig)), mask=m2)
        dy = dout * zt * sig
    tl.store(dy_ptr + tile, dy, mask=m2)
    if HAS_D:
        part = tl.sum(dy * xs, axis=0)  # (BP,)
        if D_PER_CHANNEL:
            tl.store(dd_ptr + (pid * H + h) * P + offs_p, part, mask=mp)
        else:
            tl.store(dd_ptr + pid * H + h, tl.sum(part))


@triton.jit
def _ssd_state_passing_bwd_kernel(dsl_ptr, cum_ptr, states_ptr, dfinal_ptr, dst_ptr, dinit_ptr,
                                  dlam_ptr, L, H, NC, Q, PN, HAS_DFINAL: tl.constexpr,
                                  BLOCK: tl.constexpr, ACC: tl.constexpr):
    """Reverse pass: dst[b,c] = G_{c+1}; G_c = dS_c + exp(Λ_c) G_{c+1}; partials of
    <G_{c+1}, S_{c+1}> per block."""
    # grid: (batch·H, blocks of the flattened P·N state), serial over the chunks from the last
    pid = tl.program_id(0)
    nblk = tl.num_programs(1)
    b, h = pid // H, pid % H
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    m = offs < PN
    if HAS_DFINAL:
        gs = tl.load(dfinal_ptr + pid * PN + offs, mask=m, other=0.0).to(ACC)
    else:
        gs = tl.zeros((BLOCK,), dtype=ACC)
    for i in range(0, NC):
        c = NC - 1 - i
        tl.store(dst_ptr + ((b * NC + c) * H + h) * PN + offs, gs, mask=m)
        s_next = tl.load(states_ptr + ((b * (NC + 1) + c + 1) * H + h) * PN + offs, mask=m,
                         other=0.0)
        tl.store(dlam_ptr + (pid * NC + c) * nblk + tl.program_id(1), tl.sum(gs * s_next))
        lam = tl.load(cum_ptr + (b * L + c * Q + Q - 1) * H + h).to(ACC)
        dsl = tl.load(dsl_ptr + ((b * NC + c) * H + h) * PN + offs, mask=m, other=0.0)
        gs = dsl + tl.exp(lam) * gs
    tl.store(dinit_ptr + pid * PN + offs, gs, mask=m)


@triton.jit
def _ssd_bwd_dx_kernel(x_ptr, dt_ptr, cum_ptr, b_ptr, c_ptr, dy_ptr, y_ptr, dst_ptr, d_ptr, dx_ptr,
                       ddt_ptr, dcum_ptr, L, H, G, NC, Q, P, N, HPG, HAS_D: tl.constexpr,
                       D_PER_CHANNEL: tl.constexpr, BT: tl.constexpr,
                       BP: tl.constexpr, BN: tl.constexpr, ACC: tl.constexpr,
                       DOT: tl.constexpr):
    """Rows s: acc_s = exp(Λ−cum_s) G_{c+1} B_s + Σ_{t≥s} (C_t·B_s) exp(cum_t−cum_s) dy_t;
    dx_s = dt_s acc_s (+ D dy_s), ddt_s = x_s·acc_s, dcum_s = dy_s·y_s − x_s·dt_s acc_s
    (partials per P tile)."""
    # grid: (batch·NC·H, source-row tiles s, P tiles); targets t ≥ s of the same chunk are read
    pid = tl.program_id(0)
    b, c, h = pid // (NC * H), (pid // H) % NC, pid % H
    g = h // HPG
    ps = tl.program_id(1)
    offs_s = ps * BT + tl.arange(0, BT)
    ms = offs_s < Q
    rows_s = b * L + c * Q + offs_s
    offs_p = tl.program_id(2) * BP + tl.arange(0, BP)
    mp = offs_p < P
    cum_s = tl.load(cum_ptr + rows_s * H + h, mask=ms, other=0.0).to(ACC)
    cum_last = tl.load(cum_ptr + (b * L + c * Q + Q - 1) * H + h).to(ACC)
    dst = dst_ptr + ((b * NC + c) * H + h) * P * N
    acc = tl.zeros((BT, BP), dtype=ACC)
    for n0 in range(0, N, BN):
        offs_n = n0 + tl.arange(0, BN)
        mn = offs_n < N
        bs = tl.load(b_ptr + (rows_s[:, None] * G + g) * N + offs_n[None, :],
                     mask=ms[:, None] & mn[None, :], other=0.0)
        gt = tl.load(dst + offs_p[None, :] * N + offs_n[:, None], mask=mn[:, None] & mp[None, :],
                     other=0.0)
        acc += _mm(bs, gt, ACC, DOT)
    acc = acc * tl.exp(tl.minimum(cum_last - cum_s, 0.0))[:, None]
    for t0 in range(ps * BT, Q, BT):
        offs_t = t0 + tl.arange(0, BT)
        mt = offs_t < Q
        rows_t = b * L + c * Q + offs_t
        bc = tl.zeros((BT, BT), dtype=ACC)
        for n0 in range(0, N, BN):
            offs_n = n0 + tl.arange(0, BN)
            mn = offs_n < N
            bs = tl.load(b_ptr + (rows_s[:, None] * G + g) * N + offs_n[None, :],
                         mask=ms[:, None] & mn[None, :], other=0.0)
            ct = tl.load(c_ptr + (rows_t[None, :] * G + g) * N + offs_n[:, None],
                         mask=mn[:, None] & mt[None, :], other=0.0)
            bc += _mm(bs, ct, ACC, DOT)
        cum_t = tl.load(cum_ptr + rows_t * H + h, mask=mt, other=0.0).to(ACC)
        keep = (offs_t[None, :] >= offs_s[:, None]) & mt[None, :]
        w = tl.where(keep, bc * tl.exp(tl.minimum(cum_t[None, :] - cum_s[:, None], 0.0)), 0.0)
        dyt = tl.load(dy_ptr + (rows_t[:, None] * H + h) * P + offs_p[None, :],
                      mask=mt[:, None] & mp[None, :], other=0.0)
        acc += _mm(w, dyt, ACC, DOT)
    dt_s = tl.load(dt_ptr + rows_s * H + h, mask=ms, other=0.0).to(ACC)
    dx = acc * dt_s[:, None]
    tile = (rows_s[:, None] * H + h) * P + offs_p[None, :]
    m2 = ms[:, None] & mp[None, :]
    xs = tl.load(x_ptr + tile, mask=m2, other=0.0).to(ACC)
    ys = tl.load(y_ptr + tile, mask=m2, other=0.0).to(ACC)
    dys = tl.load(dy_ptr + tile, mask=m2, other=0.0).to(ACC)
    part = (rows_s * H + h) * tl.num_programs(2) + tl.program_id(2)
    tl.store(ddt_ptr + part, tl.sum(xs * acc, axis=1), mask=ms)
    tl.store(dcum_ptr + part, tl.sum(dys * ys - xs * dx, axis=1), mask=ms)
    if HAS_D:
        dx += _skip(d_ptr, h, offs_p, mp, P, D_PER_CHANNEL, ACC) * dys
    tl.store(dx_ptr + tile, dx, mask=m2)


@triton.jit
def _ssd_bwd_dc_kernel(x_ptr, dt_ptr, cum_ptr, b_ptr, dy_ptr, states_ptr, dc_ptr, L, H, G, NC, Q,
                       P, N, HPG, BT: tl.constexpr, BP: tl.constexpr, BN: tl.constexpr,
                       ACC: tl.constexpr, DOT: tl.constexpr):
    """Per head, rows t:
    dC_t = exp(cum_t) S_cᵀ dy_t + Σ_{s≤t} (dy_t·x_s) exp(cum_t−cum_s) dt_s B_s."""
    # grid: (batch·NC·H, row tiles t, N tiles); heads of a group write separate dC, summed outside
    pid = tl.program_id(0)
    b, c, h = pid // (NC * H), (pid // H) % NC, pid % H
    g = h // HPG
    pt = tl.program_id(1)
    offs_t = pt * BT + tl.arange(0, BT)
    mt = offs_t < Q
    rows_t = b * L + c * Q + offs_t
    offs_n = tl.program_id(2) * BN + tl.arange(0, BN)
    mn = offs_n < N
    cum_t = tl.load(cum_ptr + rows_t * H + h, mask=mt, other=0.0).to(ACC)
    state = states_ptr + ((b * (NC + 1) + c) * H + h) * P * N
    acc = tl.zeros((BT, BN), dtype=ACC)
    for p0 in range(0, P, BP):
        offs_p = p0 + tl.arange(0, BP)
        mp = offs_p < P
        dyt = tl.load(dy_ptr + (rows_t[:, None] * H + h) * P + offs_p[None, :],
                      mask=mt[:, None] & mp[None, :], other=0.0)
        s = tl.load(state + offs_p[:, None] * N + offs_n[None, :], mask=mp[:, None] & mn[None, :],
                    other=0.0)
        acc += _mm(dyt, s, ACC, DOT)
    acc = acc * tl.exp(cum_t)[:, None]
    for s0 in range(0, (pt + 1) * BT, BT):
        offs_s = s0 + tl.arange(0, BT)
        ms = offs_s < Q
        rows_s = b * L + c * Q + offs_s
        gm = tl.zeros((BT, BT), dtype=ACC)
        for p0 in range(0, P, BP):
            offs_p = p0 + tl.arange(0, BP)
            mp = offs_p < P
            dyt = tl.load(dy_ptr + (rows_t[:, None] * H + h) * P + offs_p[None, :],
                          mask=mt[:, None] & mp[None, :], other=0.0)
            xs = tl.load(x_ptr + (rows_s[None, :] * H + h) * P + offs_p[:, None],
                         mask=mp[:, None] & ms[None, :], other=0.0)
            gm += _mm(dyt, xs, ACC, DOT)
        cum_s = tl.load(cum_ptr + rows_s * H + h, mask=ms, other=0.0).to(ACC)
        dt_s = tl.load(dt_ptr + rows_s * H + h, mask=ms, other=0.0).to(ACC)
        decay = tl.exp(tl.minimum(cum_t[:, None] - cum_s[None, :], 0.0)) * dt_s[None, :]
        keep = (offs_t[:, None] >= offs_s[None, :]) & ms[None, :]
        w = tl.where(keep, gm * decay, 0.0)
        bs = tl.load(b_ptr + (rows_s[:, None] * G + g) * N + offs_n[None, :],
                     mask=ms[:, None] & mn[None, :], other=0.0)
        acc += _mm(w, bs, ACC, DOT)
    tl.store(dc_ptr + (rows_t[:, None] * H + h) * N + offs_n[None, :], acc,
             mask=mt[:, None] & mn[None, :])


@triton.jit
def _ssd_bwd_db_kernel(x_ptr, dt_ptr, cum_ptr, c_ptr, dy_ptr, dst_ptr, db_ptr, L, H, G, NC, Q, P,
                       N, HPG, BT: tl.constexpr, BP: tl.constexpr, BN: tl.constexpr,
                       ACC: tl.constexpr, DOT: tl.constexpr):
    """Per head, rows s:
    dB_s = dt_s [exp(Λ−cum_s) G_{c+1}ᵀ x_s + Σ_{t≥s} (x_s·dy_t) exp(cum_t−cum_s) C_t]."""
    # grid: (batch·NC·H, row tiles s, N tiles); heads of a group write separate dB, summed outside
    pid = tl.program_id(0)
    b, c, h = pid // (NC * H), (pid // H) % NC, pid % H
    g = h // HPG
    ps = tl.program_id(1)
    offs_s = ps * BT + tl.arange(0, BT)
    ms = offs_s < Q
    rows_s = b * L + c * Q + offs_s
    offs_n = tl.program_id(2) * BN + tl.arange(0, BN)
    mn = offs_n < N
    cum_s = tl.load(cum_ptr + rows_s * H + h, mask=ms, other=0.0).to(ACC)
    cum_last = tl.load(cum_ptr + (b * L + c * Q + Q - 1) * H + h).to(ACC)
    dst = dst_ptr + ((b * NC + c) * H + h) * P * N
    acc = tl.zeros((BT, BN), dtype=ACC)
    for p0 in range(0, P, BP):
        offs_p = p0 + tl.arange(0, BP)
        mp = offs_p < P
        xs = tl.load(x_ptr + (rows_s[:, None] * H + h) * P + offs_p[None, :],
                     mask=ms[:, None] & mp[None, :], other=0.0)
        gt = tl.load(dst + offs_p[:, None] * N + offs_n[None, :], mask=mp[:, None] & mn[None, :],
                     other=0.0)
        acc += _mm(xs, gt, ACC, DOT)
    acc = acc * tl.exp(tl.minimum(cum_last - cum_s, 0.0))[:, None]
    for t0 in range(ps * BT, Q, BT):
        offs_t = t0 + tl.arange(0, BT)
        mt = offs_t < Q
        rows_t = b * L + c * Q + offs_t
        gm = tl.zeros((BT, BT), dtype=ACC)
        for p0 in range(0, P, BP):
            offs_p = p0 + tl.arange(0, BP)
            mp = offs_p < P
            xs = tl.load(x_ptr + (rows_s[:, None] * H + h) * P + offs_p[None, :],
                         mask=ms[:, None] & mp[None, :], other=0.0)
            dyt = tl.load(dy_ptr + (rows_t[None, :] * H + h) * P + offs_p[:, None],
                          mask=mp[:, None] & mt[None, :], other=0.0)
            gm += _mm(xs, dyt, ACC, DOT)
        cum_t = tl.load(cum_ptr + rows_t * H + h, mask=mt, other=0.0).to(ACC)
        keep = (offs_t[None, :] >= offs_s[:, None]) & mt[None, :]
        w = tl.where(keep, gm * tl.exp(tl.minimum(cum_t[None, :] - cum_s[:, None], 0.0)), 0.0)
        ct = tl.load(c_ptr + (rows_t[:, None] * G + g) * N + offs_n[None, :],
                     mask=mt[:, None] & mn[None, :], other=0.0)
        acc += _mm(w, ct, ACC, DOT)
    dt_s = tl.load(dt_ptr + rows_s * H + h, mask=ms, other=0.0).to(ACC)
    tl.store(db_ptr + (rows_s[:, None] * H + h) * N + offs_n[None, :], acc * dt_s[:, None],
             mask=ms[:, None] & mn[None, :])
