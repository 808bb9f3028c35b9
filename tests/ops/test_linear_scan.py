"""`linear_scan`: Triton (interpreter) and the CPU path against the fp64 sequential reference."""

from __future__ import annotations

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.ops import linear_scan, linear_scan_ref, linear_scan_step
from dynlearn.ops._linear_scan import chunked_scan
from dynlearn.ops.triton import LAUNCHES

RTOL = {torch.float32: 1e-5, torch.float64: 1e-10}  # forward; fp32 gradients use 1e-4
RTOL_GRAD = {torch.float32: 1e-4, torch.float64: 1e-10}


def assert_matches(x: torch.Tensor, ref: torch.Tensor, rtol: float, name: str = "") -> None:
    """|x − ref| ≤ atol + rtol·|ref| elementwise, with atol = rtol·max|ref| (the issue's rule)."""
    x, ref = x.detach().to(ref.dtype), ref.detach()
    err = (x - ref).abs()
    bound = rtol * ref.abs().max() + rtol * ref.abs()
    assert bool((err <= bound).all()), f"{name}: max err {err.max():.3e}, max |ref| {ref.abs().max():.3e}"


def values_and_grads(fn, inputs: dict, weight_seed: int = 7):
    """Outputs (states, final state) and gradients of a fixed random functional of them."""
    inputs = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    h, last = fn(**inputs, return_final_state=True)
    gen = torch.Generator().manual_seed(weight_seed)
    w = torch.randn(h.shape, generator=gen, dtype=torch.float64).to(h.dtype)
    loss = (h * w).real.sum() + (last * last.conj()).real.sum()
    grads = torch.autograd.grad(loss, list(inputs.values()))
    return [h, last, *grads], ["h", "last", *(f"d{k}" for k in inputs)]


def check_against_ref(inputs: dict, backend: str, dtype: torch.dtype) -> None:
    """`backend` at `dtype` vs the sequential reference in fp64 (complex128), values and grads."""
    wide = torch.complex128 if dtype.is_complex else torch.float64
    got, names = values_and_grads(
        lambda **kw: linear_scan(**kw, backend=backend), {k: v.to(dtype) for k, v in inputs.items()}
    )
    ref, _ = values_and_grads(linear_scan_ref, {k: v.to(wide) for k, v in inputs.items()})
    real = torch.float32 if dtype in (torch.float32, torch.complex64) else torch.float64
    for i, (x, r, name) in enumerate(zip(got, ref, names)):
        assert_matches(x, r, (RTOL if i < 2 else RTOL_GRAD)[real], name)


def random_inputs(gen, batch, L, N, a_shape=None, complex_=False, h0=True, a_radius=1.0):
    """Decays inside the unit disc (or on it), unit-normal inputs; a of shape `a_shape`."""
    a_shape = a_shape or (*batch, L, N)
    mag = a_radius * torch.rand(a_shape, generator=gen, dtype=torch.float64)
    out = {"a": mag, "b": torch.randn(*batch, L, N, generator=gen, dtype=torch.float64)}
    if h0:
        out["h0"] = torch.randn(*batch, N, generator=gen, dtype=torch.float64)
    if complex_:
        phase = 2 * torch.pi * torch.rand(a_shape, generator=gen, dtype=torch.float64)
        out["a"] = torch.polar(mag, phase)
        out["b"] = torch.complex(out["b"], torch.randn(out["b"].shape, generator=gen, dtype=torch.float64))
        if h0:
            out["h0"] = out["h0"] * (1 + 1j)
    return out


# Tiny shapes for the interpreter: N = 12 spans two channel blocks of 8, the second partial.
TRITON_CASES = {
    "real-h0": dict(batch=(2,), L=13, N=12),
    "complex-h0": dict(batch=(1,), L=13, N=12, complex_=True),
    "constant-a": dict(batch=(2,), L=9, N=12, a_shape=(12,), h0=False),
    "complex-constant-a": dict(batch=(1,), L=9, N=12, a_shape=(1, 12), complex_=True),
}


@pytest.mark.parametrize("real", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", TRITON_CASES)
def test_triton_matches_reference(case, real, generator):
    inputs = random_inputs(generator, **TRITON_CASES[case])
    dtype = {torch.float32: torch.complex64, torch.float64: torch.complex128}[real] if (
        inputs["a"].is_complex()) else real  # fmt: skip
    before = LAUNCHES.copy()
    check_against_ref(inputs, "triton", dtype)
    assert LAUNCHES["linear_scan_fwd"] == before["linear_scan_fwd"] + 1
    assert LAUNCHES["linear_scan_bwd"] == before["linear_scan_bwd"] + 1


def adversarial(gen, kind: str) -> dict:
    """L = 2048 inputs that break naive parallel scans (division by, or logs of, products)."""
    inputs = random_inputs(gen, (2,), 2048, 8, complex_=kind.startswith("complex"))
    a = inputs["a"]
    if kind == "zeros":  # a = 0 exactly at scattered steps, including the first
        a[..., ::37, :] = 0.0
        a[..., 0, :] = 0.0
    elif kind == "ones":  # a = 1: a running sum
        inputs["a"] = torch.ones_like(a)
    elif kind == "complex-near-unit":  # |a| = 1 − 1e-7: products never decay over 2048 steps
        inputs["a"] = a / a.abs() * (1 - 1e-7)
    return inputs


@pytest.mark.parametrize("kind", ["random", "zeros", "ones", "complex-near-unit"])
def test_cpu_path_matches_reference_long(kind, generator):
    inputs = adversarial(generator, kind)
    check_against_ref(inputs, "torch", inputs["a"].dtype)


def test_cpu_path_constant_decay_long(generator):
    inputs = random_inputs(generator, (3,), 2049, 5, a_shape=(5,), complex_=True)
    check_against_ref(inputs, "torch", torch.complex128)


@pytest.mark.parametrize("backend", ["ref", "torch"])
def test_gradcheck(backend, generator):
    inputs = random_inputs(generator, (1,), 7, 2, complex_=True)
    args = tuple(v.requires_grad_() for v in inputs.values())
    assert torch.autograd.gradcheck(lambda a, b, h0: linear_scan(a, b, h0, backend=backend), args)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_step_continues_scan(backend, generator):
    inputs = random_inputs(generator, (2,), 30, 12, complex_=True)
    full = linear_scan_ref(**inputs)
    head = {"a": inputs["a"][..., :20, :], "b": inputs["b"][..., :20, :], "h0": inputs["h0"]}
    h, last = linear_scan(**head, return_final_state=True, backend=backend)
    for t in range(20, 30):
        last = linear_scan_step(inputs["a"][..., t, :], inputs["b"][..., t, :], last)
        assert_matches(last, full[..., t, :], 1e-10, f"step {t}")
    assert_matches(h, full[..., :20, :], 1e-10, "head")


@pytest.mark.parametrize("backend", ["ref", "torch", "triton"])
def test_constant_coefficients_closed_form(backend):
    # h_t = a^{t+1} h0 + b (1 − a^{t+1}) / (1 − a), t = 0..L-1.
    a = torch.tensor([0.9, -0.5, 0.0, 0.99 * torch.exp(torch.tensor(1j)).item()], dtype=torch.complex128)
    b = torch.tensor([1.0, 2.0, -1.0, 1j], dtype=torch.complex128)
    h0 = torch.tensor([3.0, 1.0, 5.0, 1.0 - 1j], dtype=torch.complex128)
    L = 50
    p = a ** torch.arange(1, L + 1, dtype=torch.float64)[:, None]  # (L, N)
    expected = p * h0 + b * (1 - p) / (1 - a)
    got = linear_scan(a, b.expand(L, 4), h0, backend=backend)
    assert_matches(got, expected, 1e-12, "closed form")


def test_unknown_backend_is_one_line_config_error():
    with pytest.raises(ConfigError, match="unknown scan backend 'cuda'") as info:
        linear_scan(torch.ones(3, 2), torch.ones(3, 2), backend="cuda")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("chunk", [1, 7, 64, 300])
def test_every_chunking_matches_reference(chunk, generator):
    # One chunk (the wide-scan default), many, ragged: the same states, a = 0 included.
    inputs = adversarial(generator, "zeros")
    inputs = {k: v[..., :300, :] if k != "h0" else v for k, v in inputs.items()}
    got = chunked_scan(inputs["a"], inputs["b"], inputs["h0"], chunk=chunk)
    assert_matches(got, linear_scan_ref(**inputs), 1e-10, f"chunk {chunk}")
