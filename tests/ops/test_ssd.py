"""SSD scan (Mamba-2): the chunked PyTorch path and the Triton kernels against the fp64 recurrence.

Triton runs in its interpreter here (TRITON_INTERPRET=1, set by conftest), so its shapes stay tiny;
the PyTorch path is checked at L = 2048 and on adversarial decays.
"""

from __future__ import annotations

import ast
import inspect
import math

import pytest
import torch
import torch.nn.functional as F

import dynlearn.layers._mamba2 as mamba2_module
import dynlearn.ops._ssd as ssd_module
import dynlearn.ops._ssd_ref as ssd_ref_module
from dynlearn._errors import DataError
from dynlearn.ops._ssd import _ssd_chunked, ssd
from dynlearn.ops._ssd_ref import ssd_ref, ssd_step

INPUTS = ("x", "dt", "A", "B", "C", "D", "z", "dt_bias", "initial_states")


def make_inputs(generator, batch, length, heads, headdim, groups, n, options=True,
                d_per_channel=False):
    """fp64 inputs; dt is a raw pre-softplus value when ``options`` (then dt_bias, D, z are set)."""
    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    inputs = dict(
        x=randn(batch, length, heads, headdim),
        dt=torch.rand(batch, length, heads, generator=generator, dtype=torch.float64) * 0.5,
        A=-torch.rand(heads, generator=generator, dtype=torch.float64) * 3 - 0.1,
        B=randn(batch, length, groups, n),
        C=randn(batch, length, groups, n),
        initial_states=randn(batch, heads, headdim, n),
    )
    if options:
        inputs.update(D=randn(heads, headdim) if d_per_channel else randn(heads),
                      z=randn(batch, length, heads, headdim), dt_bias=randn(heads) * 0.5,
                      dt=randn(batch, length, heads))
    return inputs


def assert_close(actual, ref, rtol):
    """|actual - ref| <= atol + rtol |ref| with atol = rtol · max |ref| (the issue's criterion)."""
    ref = ref.to(torch.float64)
    err = (actual.to(torch.float64) - ref).abs()
    bound = rtol * ref.abs().max() + rtol * ref.abs()
    assert torch.all(err <= bound), f"max err {err.max():.3e}, max |ref| {ref.abs().max():.3e}"


def run(op, inputs, dtype, chunk_size, softplus, **kwargs):
    """Outputs and gradients of a random linear functional of (y, final state), in fp64."""
    leaves = {k: v.to(dtype).requires_grad_() for k, v in inputs.items()}
    y, final = op(leaves["x"], leaves["dt"], leaves["A"], leaves["B"], leaves["C"], chunk_size,
                  D=leaves.get("D"), z=leaves.get("z"), dt_bias=leaves.get("dt_bias"),
                  dt_softplus=softplus, initial_states=leaves.get("initial_states"),
                  return_final_states=True, **kwargs)
    g = torch.Generator().manual_seed(7)
    wy = torch.randn(y.shape, generator=g, dtype=torch.float64).to(dtype)
    wf = torch.randn(final.shape, generator=g, dtype=torch.float64).to(final.dtype)
    grads = torch.autograd.grad((y * wy).sum() + (final * wf).sum(), list(leaves.values()))
    return y, final, dict(zip(leaves, grads))


def check_against_ref(op, inputs, dtype, chunk_size, softplus, ref=None, **kwargs):
    y, final, grads = run(op, inputs, dtype, chunk_size, softplus, **kwargs)
    y_ref, final_ref, grads_ref = ref or run(ssd_ref, inputs, torch.float64, chunk_size, softplus)
    rtol_fwd, rtol_bwd = (1e-10, 1e-10) if dtype == torch.float64 else (1e-5, 1e-4)
    assert y.dtype == dtype
    assert_close(y, y_ref, rtol_fwd)
    assert_close(final, final_ref, rtol_fwd)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        assert_close(grads[name], grads_ref[name], rtol_bwd)


TRITON_CASES = {  # name: (dtype, batch, L, heads, headdim, groups, N, Q, options, D per channel,
    #                       inputs left out)
    "fp64-plain-ragged": (torch.float64, 1, 21, 2, 3, 1, 5, 16, False, False, ()),
    "fp32-options-groups": (torch.float32, 1, 24, 4, 4, 2, 4, 16, True, False, ()),
    "fp64-options-Dchannel": (torch.float64, 2, 20, 2, 4, 2, 3, 16, True, True, ()),
    "fp32-one-chunk-D-no-z": (torch.float32, 1, 9, 2, 2, 1, 2, 16, True, True, ("z",)),
    "fp64-z-no-D-no-init": (torch.float64, 1, 12, 2, 2, 1, 2, 16, True, False,
                            ("D", "initial_states")),
}


@pytest.mark.parametrize("case", TRITON_CASES)
def test_triton_kernels_match_reference(case, generator):
    from dynlearn.ops.triton import LAUNCHES

    dtype, b, length, h, p, g, n, q, options, d_channel, dropped = TRITON_CASES[case]
    inputs = make_inputs(generator, b, length, h, p, g, n, options, d_channel)
    for name in dropped:
        del inputs[name]
    before = LAUNCHES.copy()
    check_against_ref(ssd, inputs, dtype, q, softplus=options, backend="triton")
    launched = LAUNCHES - before
    for kernel in ("_ssd_chunk_scan_kernel", "_ssd_state_passing_kernel",  # forward
                   "_ssd_state_passing_bwd_kernel", "_ssd_bwd_dx_kernel", "_ssd_bwd_dc_kernel",
                   "_ssd_bwd_db_kernel"):  # backward
        assert launched[kernel] == 1, kernel
    assert launched["_ssd_chunk_state_kernel"] == 2  # chunk states (fwd) and their gradient (bwd)
    assert launched["_ssd_gate_bwd_kernel"] == int(options)  # D and z fused: their backward


@pytest.fixture(scope="module")
def long_sequence():
    """Inputs at L = 2050 (a ragged last chunk) and the reference's outputs, computed once."""
    inputs = make_inputs(torch.Generator().manual_seed(5), 1, 2050, 2, 4, 1, 8)
    return inputs, run(ssd_ref, inputs, torch.float64, 64, True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_path_long_sequence(dtype, long_sequence):
    inputs, ref = long_sequence
    check_against_ref(ssd, inputs, dtype, 64, softplus=True, backend="torch", ref=ref)


@pytest.mark.parametrize("regime", ["a->1", "huge-dt", "A=0"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_path_adversarial_decays(regime, dtype, generator):
    inputs = make_inputs(generator, 2, 150, 2, 3, 2, 4, options=False)
    if regime == "a->1":  # dt·A ~ -1e-9: exp(dt A) is 1 to round-off, the state only grows
        inputs["dt"] = inputs["dt"] * 1e-9
    elif regime == "huge-dt":  # dt·A ~ -1e4: exp underflows to 0, the state forgets at once
        inputs["dt"] = inputs["dt"] * 0 + 1e4
        inputs["A"] = inputs["A"] * 0 - 1.0
    else:
        inputs["A"] = torch.zeros_like(inputs["A"])
    check_against_ref(ssd, inputs, dtype, 32, softplus=False, backend="torch")


@pytest.mark.parametrize("op", [ssd_ref, _ssd_chunked], ids=["ref", "chunked"])
def test_gradcheck_float64(op, generator):
    inp = make_inputs(generator, 1, 7, 2, 2, 1, 3, d_per_channel=True)
    leaves = [v.requires_grad_() for v in inp.values()]
    if op is ssd_ref:
        def f(x, dt, A, B, C, h0, D, z, dt_bias):
            return ssd_ref(x, dt, A, B, C, 3, D, z, dt_bias, True, h0, True)
    else:
        def f(x, dt, A, B, C, h0, D, z, dt_bias):  # the CPU path itself (dt > 0 through softplus)
            return _ssd_chunked(x, F.softplus(dt + dt_bias), A, B, C, 3, h0)
    assert torch.autograd.gradcheck(f, leaves, fast_mode=True)


@pytest.mark.parametrize("backend", ["ref", "torch", "triton"])
def test_geometric_series_closed_form(backend):
    """One head, headdim 1, N 1, x = B = C = 1, dt = δ, r = e^{δA}:
    y_t = δ (1 - r^t) / (1 - r) + D."""
    length, delta, a, d = 45, 0.3, -0.7, 0.25
    ones = torch.ones(1, length, 1, 1, dtype=torch.float64)
    y, final = ssd(ones, torch.full((1, length, 1), delta, dtype=torch.float64),
                   torch.tensor([a], dtype=torch.float64), ones, ones, 16,
                   D=torch.tensor([d], dtype=torch.float64), return_final_states=True,
                   backend=backend)
    r = math.exp(delta * a)
    t = torch.arange(1, length + 1, dtype=torch.float64)
    expected = delta * (1 - r**t) / (1 - r)
    torch.testing.assert_close(y.flatten(), expected + d, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(final.flatten(), expected[-1:], rtol=1e-12, atol=1e-12)


def diagonal_selective_scan(x, dt, A, B, C):
    """Mamba-1-style scan over D = heads·headdim channels with a diagonal (D, N) state matrix."""
    b, length, h, p = x.shape
    g, n = B.shape[-2:]
    u = x.reshape(b, length, h * p)
    delta = dt.repeat_interleave(p, dim=-1)  # (b, L, D)
    a_diag = A.repeat_interleave(p)[:, None].expand(h * p, n)  # (D, N)
    channel_group = torch.arange(h * p) // p // (h // g)
    b_ch, c_ch = B[:, :, channel_group], C[:, :, channel_group]  # (b, L, D, N)
    state = torch.zeros(b, h * p, n, dtype=x.dtype)
    ys = []
    for t in range(length):
        state = torch.exp(delta[:, t, :, None] * a_diag) * state \
            + delta[:, t, :, None] * b_ch[:, t] * u[:, t, :, None]
        ys.append((state * c_ch[:, t]).sum(-1))
    return torch.stack(ys, 1).reshape(b, length, h, p)


@pytest.mark.parametrize("backend", ["ref", "torch"])
def test_equals_independent_selective_scan(backend, generator):
    inp = make_inputs(generator, 2, 70, 4, 3, 2, 5, options=False)
    y = ssd(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 16, backend=backend)
    expected = diagonal_selective_scan(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"])
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)


def test_step_continues_the_scan(generator):
    inp = make_inputs(generator, 2, 50, 4, 3, 2, 5, d_per_channel=True)
    opts = dict(D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True)
    split = 33

    def part(sl):
        return [inp[k][:, sl] for k in ("x", "dt", "B", "C", "z")]

    y_full, final_full = ssd(*part(slice(None))[:2], inp["A"], *part(slice(None))[2:4], 16,
                             z=inp["z"], initial_states=inp["initial_states"],
                             return_final_states=True, backend="torch", **opts)
    x1, dt1, b1, c1, z1 = part(slice(0, split))
    _, state = ssd(x1, dt1, inp["A"], b1, c1, 16, z=z1, initial_states=inp["initial_states"],
                   return_final_states=True, backend="torch", **opts)
    # the rest by the scan started from the state, and by steps
    x2, dt2, b2, c2, z2 = part(slice(split, None))
    y2, final2 = ssd(x2, dt2, inp["A"], b2, c2, 16, z=z2, initial_states=state,
                     return_final_states=True, backend="torch", **opts)
    torch.testing.assert_close(y2, y_full[:, split:], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(final2, final_full, rtol=1e-12, atol=1e-12)
    for t in range(50 - split):
        y_t, state = ssd_step(state, x2[:, t], dt2[:, t], inp["A"], b2[:, t], c2[:, t],
                              z_t=z2[:, t], **opts)
        torch.testing.assert_close(y_t, y_full[:, split + t], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state, final_full, rtol=1e-12, atol=1e-12)


def test_shape_errors_name_the_fix(generator):
    inp = make_inputs(generator, 1, 8, 3, 2, 1, 4, options=False)
    with pytest.raises(DataError, match="heads divisible by groups"):
        ssd(inp["x"], inp["dt"], inp["A"], inp["B"].expand(1, 8, 2, 4), inp["C"].expand(1, 8, 2, 4),
            4)
    with pytest.raises(DataError, match="chunk_size"):
        ssd(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], 0)



@pytest.mark.parametrize("module", [ssd_module, ssd_ref_module, mamba2_module])
def test_cpu_modules_import_no_triton(module):
    """No module-level import of Triton: the kernels load lazily, inside the dispatch."""
    tree = ast.parse(inspect.getsource(module))
    names = [alias.name for node in tree.body if isinstance(node, ast.Import)
             for alias in node.names]
    names += [f"{node.module}" for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert names and not any("triton" in name for name in names), names
