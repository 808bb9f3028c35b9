"""`selective_scan` (Mamba-1): Triton (interpreter) and the CPU path against the fp64 reference."""

from __future__ import annotations

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.ops import _selective_scan, selective_scan, selective_scan_ref, selective_scan_step
from dynlearn.ops.triton import LAUNCHES
from tests.ops.test_linear_scan import RTOL, RTOL_GRAD, assert_matches

OPTIONAL = ("D", "z", "delta_bias")


def make_inputs(gen, batch, D, N, L, options=OPTIONAL, delta_scale=0.5, a_range=(1.0, 4.0)):
    """mamba-layout inputs in fp64; A = −(a_range) spread over the state index."""
    def rn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    lo, hi = a_range
    A = -(lo + (hi - lo) * torch.rand(D, N, generator=gen, dtype=torch.float64))
    out = {"u": rn(batch, D, L), "delta": delta_scale * rn(batch, D, L).abs(), "A": A,
           "B": rn(batch, N, L), "C": rn(batch, N, L)}  # fmt: skip
    extra = {"D": rn(D), "z": rn(batch, D, L), "delta_bias": 0.3 * rn(D)}
    return out | {k: extra[k] for k in options}


def values_and_grads(fn, inputs: dict, softplus: bool):
    inputs = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    y, last = fn(**inputs, delta_softplus=softplus, return_last_state=True)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    loss = (y * w.to(y.dtype)).sum() + last.square().sum()
    grads = torch.autograd.grad(loss, list(inputs.values()))
    return [y, last, *grads], ["y", "last", *(f"d{k}" for k in inputs)]


def check_against_ref(inputs, backend, dtype, softplus):
    got, names = values_and_grads(
        lambda **kw: selective_scan(**kw, backend=backend),
        {k: v.to(dtype) for k, v in inputs.items()}, softplus,
    )  # fmt: skip
    ref, _ = values_and_grads(selective_scan_ref, inputs, softplus)
    for i, (x, r, name) in enumerate(zip(got, ref, names)):
        assert_matches(x, r, (RTOL if i < 2 else RTOL_GRAD)[dtype], name)


# D = 6 spans two channel blocks of 4 (the second partial); L = 11 is not a multiple of the
# interpreter's chunk of 8, so the backward recomputes a ragged last chunk.
TRITON_CASES = {
    "all-options-softplus-fp64": (OPTIONAL, True, torch.float64),
    "all-options-softplus-fp32": (OPTIONAL, True, torch.float32),
    "bare-fp32": ((), False, torch.float32),
    "gate-bias-fp64": (("z", "delta_bias"), False, torch.float64),
}


@pytest.mark.parametrize("case", TRITON_CASES)
def test_triton_matches_reference(case, generator):
    options, softplus, dtype = TRITON_CASES[case]
    inputs = make_inputs(generator, 1, 6, 3, 11, options)
    before = LAUNCHES.copy()
    check_against_ref(inputs, "triton", dtype, softplus)
    assert LAUNCHES["selective_scan_fwd"] == before["selective_scan_fwd"] + 1
    assert LAUNCHES["selective_scan_bwd"] == before["selective_scan_bwd"] + 1


@pytest.mark.parametrize("kind", ["random", "large-delta"])
def test_cpu_path_matches_reference_long(kind, generator):
    # large-delta: Δ = 50 with A in −1..−16, so Ā = exp(ΔA) underflows to exactly 0; L = 2048
    # spans 32 checkpointed blocks.
    if kind == "large-delta":
        inputs = make_inputs(generator, 1, 3, 4, 2048, ("D", "z"), a_range=(1.0, 16.0))
        inputs["delta"] = torch.full_like(inputs["delta"], 50.0)
    else:
        inputs = make_inputs(generator, 1, 3, 4, 333)
    check_against_ref(inputs, "torch", torch.float64, softplus=kind == "random")


@pytest.mark.parametrize("backend", ["ref", "torch"])
def test_gradcheck(backend, generator, monkeypatch):
    monkeypatch.setattr(_selective_scan, "BLOCK", 4)  # several checkpointed blocks, one ragged
    inputs = make_inputs(generator, 1, 2, 2, 7)
    names = list(inputs)

    def fn(*args):
        return selective_scan(**dict(zip(names, args)), delta_softplus=True, backend=backend)

    args = tuple(v.requires_grad_() for v in inputs.values())
    assert torch.autograd.gradcheck(fn, args)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_step_continues_scan(backend, generator):
    inputs = make_inputs(generator, 1, 6, 3, 14)
    full = selective_scan_ref(**inputs, delta_softplus=True)
    head = {k: v[..., :10] if v.dim() == 3 else v for k, v in inputs.items()}
    _, state = selective_scan(**head, delta_softplus=True, return_last_state=True, backend=backend)
    for t in range(10, 14):
        at_t = {k: inputs[k][..., t] for k in ("u", "delta", "B", "C", "z")}
        y_t, state = selective_scan_step(
            state, at_t["u"], at_t["delta"], inputs["A"], at_t["B"], at_t["C"], inputs["D"],
            at_t["z"], inputs["delta_bias"], delta_softplus=True,
        )  # fmt: skip
        assert_matches(y_t, full[..., t], 1e-10, f"step {t}")


@pytest.mark.parametrize("backend", ["ref", "torch", "triton"])
def test_constant_inputs_closed_form(backend):
    # One channel, one state, constant Δ, u, B, C: h_t = ΔBu (1 − e^{ΔA(t+1)}) / (1 − e^{ΔA}).
    L, dt, a, b, c, u = 30, 0.1, -2.0, 1.5, 0.7, 2.0
    ones = torch.ones(1, 1, L, dtype=torch.float64)
    y = selective_scan(u * ones, dt * ones, torch.tensor([[a]], dtype=torch.float64),
                       b * ones, c * ones, backend=backend)  # fmt: skip
    decay = torch.exp(torch.tensor(dt * a, dtype=torch.float64))
    k = torch.arange(1, L + 1, dtype=torch.float64)
    expected = c * dt * b * u * (1 - decay**k) / (1 - decay)
    assert_matches(y[0, 0], expected, 1e-12, "closed form")


def test_complex_A_is_one_line_config_error(generator):
    inputs = make_inputs(generator, 1, 2, 2, 5, ())
    inputs["A"] = inputs["A"] * (1 + 1j)
    with pytest.raises(ConfigError, match="use linear_scan") as info:
        selective_scan(**inputs)
    assert "\n" not in str(info.value)
