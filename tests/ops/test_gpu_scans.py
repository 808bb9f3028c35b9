"""Compiled Triton scans on CUDA at realistic sizes, fp16/bf16/fp32 vs the fp64 reference.

Marked `gpu` (deselected by default) and skipped without a CUDA device. Half-precision inputs
are rounded before the reference sees them, so the comparison measures the kernels' fp32
accumulation, not the input rounding; tolerances scale with the dtype's epsilon.
"""

from __future__ import annotations

import pytest
import torch

from dynlearn.ops import linear_scan, linear_scan_ref, selective_scan, selective_scan_ref
from dynlearn.ops.triton import LAUNCHES

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

DTYPES = [torch.float16, torch.bfloat16, torch.float32]
RTOL = {torch.float16: 3e-3, torch.bfloat16: 2e-2, torch.float32: 1e-5}


def _close(x, ref, rtol, name):
    err = (x.double() - ref).abs()
    bound = rtol * ref.abs().max() + rtol * ref.abs()
    assert bool((err <= bound).all()), f"{name}: max err {err.max():.3e}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_scan_cuda(dtype):
    gen = torch.Generator(device="cuda").manual_seed(0)
    a = torch.rand(8, 4096, 512, device="cuda", generator=gen).to(dtype).requires_grad_()
    b = torch.randn(8, 4096, 512, device="cuda", generator=gen).to(dtype).requires_grad_()
    before = LAUNCHES.copy()
    h = linear_scan(a, b)  # CUDA tensors pick Triton by default
    w = torch.randn_like(h, dtype=torch.float32)
    da, db = torch.autograd.grad((h * w).sum(), (a, b))
    assert LAUNCHES["linear_scan_fwd"] > before["linear_scan_fwd"]
    a64, b64 = (t.detach().double().requires_grad_() for t in (a, b))
    h_ref = linear_scan_ref(a64, b64)
    da_ref, db_ref = torch.autograd.grad((h_ref * w.double()).sum(), (a64, b64))
    for x, r, name in ((h, h_ref, "h"), (da, da_ref, "da"), (db, db_ref, "db")):
        _close(x, r, 10 * RTOL[dtype], name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_selective_scan_cuda(dtype):
    gen = torch.Generator(device="cuda").manual_seed(0)
    Bsz, D, N, L = 2, 1024, 16, 2048

    def rn(*shape):
        return torch.randn(*shape, device="cuda", generator=gen).to(dtype)

    u, delta, z = rn(Bsz, D, L), rn(Bsz, D, L), rn(Bsz, D, L)
    A = -torch.rand(D, N, device="cuda", generator=gen) * 16 - 1
    B, C, Dv, bias = rn(Bsz, N, L), rn(Bsz, N, L), rn(D).float(), rn(D).float()
    inputs = [u, delta, A, B, C, Dv, z, bias]
    got_in = [t.detach().requires_grad_() for t in inputs]
    y = selective_scan(*got_in, delta_softplus=True)
    w = torch.randn_like(y, dtype=torch.float32)
    grads = torch.autograd.grad((y * w).sum(), got_in)
    ref_in = [t.detach().double().requires_grad_() for t in inputs]
    y_ref = selective_scan_ref(*ref_in, delta_softplus=True)
    grads_ref = torch.autograd.grad((y_ref * w.double()).sum(), ref_in)
    _close(y, y_ref, 10 * RTOL[dtype], "y")
    for g, r, name in zip(grads, grads_ref, ["u", "delta", "A", "B", "C", "D", "z", "bias"]):
        _close(g, r, 100 * RTOL[dtype], f"d{name}")
