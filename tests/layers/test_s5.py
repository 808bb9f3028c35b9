"""S5 layer: recurrent step = parallel scan, and the ZOH response of one mode to a constant input."""

from __future__ import annotations

import math

import pytest
import torch

from dynlearn.layers import S5
from tests.ops.test_linear_scan import assert_matches


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_step_reproduces_parallel_output(backend, generator):
    layer = S5(3, 4, generator=generator).double()
    u = torch.randn(2, 9, 3, generator=generator, dtype=torch.float64)
    head_y, state = layer(u[:, :5], backend=backend)
    y, last = layer(u)  # the whole sequence on the CPU path
    for t in range(5, 9):
        y_t, state = layer.step(u[:, t], state)
        assert_matches(y_t, y[:, t], 1e-10, f"step {t}")
    assert_matches(head_y, y[:, :5], 1e-10, "head")
    assert_matches(state, last, 1e-10, "last state")


def test_triton_parameter_gradients_match_cpu_path(generator):
    layer = S5(2, 3, generator=generator).double()
    u = torch.randn(1, 7, 2, generator=generator, dtype=torch.float64)
    grads = {}
    for backend in ("triton", "torch"):
        loss = layer(u, backend=backend)[0].square().sum()
        grads[backend] = torch.autograd.grad(loss, list(layer.parameters()))
    for (name, _), g_tri, g_cpu in zip(layer.named_parameters(), grads["triton"], grads["torch"]):
        assert_matches(g_tri, g_cpu, 1e-10, name)


def test_one_mode_constant_input_is_the_zoh_response():
    # x' = λx + B̃u with constant u from x(0) = 0 gives x(t) = (e^{λt} − 1)/λ · B̃u; ZOH with step
    # Δ is exact at t = kΔ, so y_k = 2 Re(C̃ x((k+1)Δ)) + D u.
    layer = S5(1, 1).double()
    lam, dt, b, c, d, u0 = complex(-0.3, 2.0), 0.05, complex(0.4, -0.2), complex(1.1, 0.5), 0.25, 1.7
    with torch.no_grad():
        layer.lambda_re.fill_(lam.real)
        layer.lambda_im.fill_(lam.imag)
        layer.log_dt.fill_(math.log(dt))
        layer.B.copy_(torch.tensor([[[b.real, b.imag]]], dtype=torch.float64))
        layer.C.copy_(torch.tensor([[[c.real, c.imag]]], dtype=torch.float64))
        layer.D.fill_(d)
    L = 200
    y, _ = layer(torch.full((1, L, 1), u0, dtype=torch.float64))
    t = dt * torch.arange(1, L + 1, dtype=torch.float64)
    x = (torch.exp(lam * t) - 1) / lam * b * u0
    expected = 2 * (c * x).real + d * u0
    assert_matches(y[0, :, 0], expected, 1e-10, "ZOH response")
