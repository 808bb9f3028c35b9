"""The fused CPU `selective_scan` (C++ extension) against the fp64 sequential reference.

Tolerances are the issue's: |x − ref| ≤ atol + rtol·|ref| with atol = rtol·max|ref| per
tensor, rtol 1e-5 (fp32 forward), 1e-4 (fp32 gradients), 1e-10 (fp64). D = 35 channels span two dB/dC
partial groups of 32 (the second partial); N = 5 is padded to 8 inside the kernel; L = 333 is
not a multiple of the 64-step chunk, so the backward recomputes a ragged last chunk.
"""

from __future__ import annotations

import pytest
import torch

from dynlearn.ops import _selective_scan, _selective_scan_cpu, selective_scan
from tests.ops.test_selective_scan import OPTIONAL, check_against_ref, make_inputs, values_and_grads


@pytest.fixture
def fused(monkeypatch) -> dict:
    """Skips without the extension; counts the calls `selective_scan` makes into it."""
    reason = _selective_scan_cpu.status()
    if reason is not None:
        pytest.skip(reason)
    calls = {"n": 0}
    inner = _selective_scan_cpu.selective_scan_cpu

    def counted(*args):
        calls["n"] += 1
        return inner(*args)

    monkeypatch.setattr(_selective_scan_cpu, "selective_scan_cpu", counted)
    return calls


CASES = {  # options, softplus, dtype, L
    "all-options-softplus-fp32-L2048": (OPTIONAL, True, torch.float32, 2048),
    "all-options-softplus-fp64-L2048": (OPTIONAL, True, torch.float64, 2048),
    "bare-fp32-ragged": ((), False, torch.float32, 333),
    "bare-fp64-ragged": ((), False, torch.float64, 333),
    "gate-bias-fp64-ragged": (("z", "delta_bias"), False, torch.float64, 333),
    "skip-softplus-fp32-ragged": (("D",), True, torch.float32, 333),
}


@pytest.mark.parametrize("case", CASES)
def test_fused_matches_reference(case, generator, fused):
    options, softplus, dtype, L = CASES[case]
    inputs = make_inputs(generator, 2, 35, 5, L, options)
    check_against_ref(inputs, "torch", dtype, softplus)
    assert fused["n"] == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["large-delta", "delta-to-zero", "softplus-underflow"])
def test_fused_adversarial_steps(kind, dtype, generator, fused):
    # large-delta: Δ = 50 (raw > 20: softplus is the identity) with A in −1..−16, so
    # Ā = exp(ΔA) is exactly 0 and every state is the last input. delta-to-zero: Δ ~ 1e-7,
    # Ā ≈ 1. softplus-underflow: raw ≈ −25, Δ = log1p(e^raw) ≈ 1e-11 (float's log1p must keep
    # those digits).
    inputs = make_inputs(generator, 1, 6, 4, 200, a_range=(1.0, 16.0))
    softplus = kind != "delta-to-zero"
    if kind == "large-delta":
        inputs["delta"] = torch.full_like(inputs["delta"], 50.0)
        inputs["delta_bias"] = torch.zeros_like(inputs["delta_bias"])
    elif kind == "delta-to-zero":
        inputs["delta"] = 1e-7 * inputs["delta"]
        inputs["delta_bias"] = torch.zeros_like(inputs["delta_bias"])
    else:
        inputs["delta"] = inputs["delta"] - 25.0
    check_against_ref(inputs, "torch", dtype, softplus)
    assert fused["n"] == 1


def test_fused_gradcheck(generator, fused, monkeypatch):
    monkeypatch.setattr(_selective_scan_cpu, "CHUNK", 8)  # three chunks, the last ragged
    inputs = make_inputs(generator, 1, 3, 3, 21)
    names = list(inputs)

    def fn(*args):
        return selective_scan(**dict(zip(names, args)), delta_softplus=True,
                              return_last_state=True, backend="torch")  # fmt: skip

    args = tuple(v.requires_grad_() for v in inputs.values())
    assert torch.autograd.gradcheck(fn, args)
    assert fused["n"] > 0


def test_fused_is_deterministic_across_threads(generator, fused):
    # dB, dC sum over channels in fixed groups, not per thread: bitwise equal for 1 and 2 threads.
    inputs = {k: v.float() for k, v in make_inputs(generator, 2, 70, 16, 300).items()}
    fn = lambda **kw: selective_scan(**kw, backend="torch")  # noqa: E731
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, _ = values_and_grads(fn, inputs, softplus=True)
        torch.set_num_threads(2)
        two, _ = values_and_grads(fn, inputs, softplus=True)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(one, two))


@pytest.fixture
def no_toolchain(monkeypatch):
    """The extension's build raises as it would without a C++ compiler."""

    def broken_build():
        raise RuntimeError("simulated: no C++ compiler on PATH (apt-get install g++)")

    monkeypatch.setattr(_selective_scan_cpu, "_load", broken_build)
    _selective_scan_cpu.status.cache_clear()
    yield
    _selective_scan_cpu.status.cache_clear()  # the real status again for later tests


def test_without_toolchain_the_chunked_path_runs(generator, no_toolchain):
    reason = _selective_scan_cpu.status()
    assert reason is not None and "did not build" in reason and "no C++ compiler" in reason
    assert "\n" not in reason
    # All options, a ragged last block of the chunked path (BLOCK = 128).
    check_against_ref(make_inputs(generator, 1, 3, 4, 333), "torch", torch.float64, True)


def test_chunked_path_gradcheck(generator, no_toolchain, monkeypatch):
    monkeypatch.setattr(_selective_scan, "BLOCK", 4)  # several checkpointed blocks, one ragged
    inputs = make_inputs(generator, 1, 2, 2, 7)
    names = list(inputs)

    def fn(*args):
        return selective_scan(**dict(zip(names, args)), delta_softplus=True, backend="torch")

    assert torch.autograd.gradcheck(fn, tuple(v.requires_grad_() for v in inputs.values()))

