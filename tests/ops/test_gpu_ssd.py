"""SSD scan on CUDA: compiled Triton kernels at realistic sizes against the fp64 chunked path.

The fp64 chunked PyTorch path is itself checked against the sequential reference in
test_ssd.py; here it is the reference because the sequential loop is too slow at these sizes.
"""

from __future__ import annotations

import pytest
import torch

from dynlearn.layers._mamba2 import Mamba2
from dynlearn.ops._ssd import ssd
from dynlearn.ops.triton import LAUNCHES

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CASES = {  # name: (dtype, rtol forward, rtol gradients, batch, L, heads, headdim, groups, N, Q)
    "fp32-mamba2": (torch.float32, 1e-5, 1e-4, 2, 1000, 8, 64, 1, 128, 256),
    "fp32-phyxmamba-N1024": (torch.float32, 1e-5, 1e-4, 2, 96, 8, 64, 1, 1024, 256),
    "fp16-mamba2": (torch.float16, 1e-2, 3e-2, 2, 1000, 8, 64, 1, 128, 256),
    "bf16-groups": (torch.bfloat16, 3e-2, 6e-2, 2, 1000, 8, 64, 2, 64, 128),
}


def assert_close(actual, ref, rtol, name=""):
    err = (actual.double() - ref).abs()
    bound = rtol * ref.abs().max() + rtol * ref.abs()
    assert torch.all(err <= bound), f"{name}: err {err.max():.3e}, |ref| {ref.abs().max():.3e}"


@pytest.mark.parametrize("case", CASES)
def test_compiled_triton_matches_fp64(case):
    dtype, rtol_fwd, rtol_bwd, b, length, h, p, g, n, q = CASES[case]
    gen = torch.Generator(device="cuda").manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, device="cuda", dtype=torch.float64)

    inputs = dict(x=randn(b, length, h, p), dt=randn(b, length, h) - 3, A=-randn(h).abs() * 4 - 1,
                  B=randn(b, length, g, n), C=randn(b, length, g, n), D=randn(h),
                  z=randn(b, length, h, p), dt_bias=randn(h) * 0.3,
                  initial_states=randn(b, h, p, n))
    wy, wf = randn(b, length, h, p), randn(b, h, p, n)

    def run(dtype, backend):
        leaves = {k: v.to(dtype).requires_grad_() for k, v in inputs.items()}
        y, final = ssd(*(leaves[k] for k in ("x", "dt", "A", "B", "C")), q, D=leaves["D"],
                       z=leaves["z"], dt_bias=leaves["dt_bias"], dt_softplus=True,
                       initial_states=leaves["initial_states"], return_final_states=True,
                       backend=backend)
        loss = (y.double() * wy).sum() + (final.double() * wf).sum()
        return y, final, torch.autograd.grad(loss, list(leaves.values()))

    before = LAUNCHES["_ssd_chunk_scan_kernel"]
    y, final, grads = run(dtype, "triton")
    assert LAUNCHES["_ssd_chunk_scan_kernel"] == before + 1
    y_ref, final_ref, grads_ref = run(torch.float64, "torch")
    assert_close(y, y_ref, rtol_fwd)
    assert_close(final, final_ref, rtol_fwd)
    for name, g_, g_ref in zip(inputs, grads, grads_ref):
        assert_close(g_, g_ref, rtol_bwd, name)


def test_mamba2_block_triton_equals_torch_on_cuda():
    gen = torch.Generator().manual_seed(0)
    m = Mamba2(256, d_state=128, headdim=64, generator=gen).cuda()
    u = torch.randn(2, 300, 256, generator=gen).cuda()
    y = m(u)
    m.backend = "torch"
    y_torch = m(u)
    assert_close(y, y_torch.double(), 1e-4)
