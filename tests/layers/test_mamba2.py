"""The Mamba-2 block: recurrent step == parallel forward, causality, initialization ranges."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dynlearn._errors import ConfigError
from dynlearn.layers._mamba2 import Mamba2


def block(generator, ngroups=1, backend=None):
    return Mamba2(16, d_state=8, headdim=8, ngroups=ngroups, chunk_size=8, backend=backend,
                  generator=generator).double()


@pytest.mark.parametrize("ngroups", [1, 2])
def test_step_reproduces_forward_token_by_token(ngroups, generator):
    m = block(generator, ngroups)
    u = torch.randn(2, 21, 16, generator=generator, dtype=torch.float64)  # 21: ragged chunks
    y = m(u)
    state = m.allocate_state(2)
    for t in range(u.shape[1]):
        y_t, state = m.step(u[:, t], state)
        torch.testing.assert_close(y_t, y[:, t], rtol=1e-12, atol=1e-12)


def test_forward_is_causal(generator):
    m = block(generator)
    u = torch.randn(1, 30, 16, generator=generator, dtype=torch.float64)
    v = u.clone()
    v[:, 17:] += torch.randn(1, 13, 16, generator=generator, dtype=torch.float64)
    y_u, y_v = m(u), m(v)
    torch.testing.assert_close(y_u[:, :17], y_v[:, :17], rtol=1e-13, atol=1e-13)
    assert (y_u[:, 17] - y_v[:, 17]).abs().max() > 1e-3  # the change does reach step 17


@pytest.mark.parametrize("backend", ["ref", "triton"])
def test_backends_agree_in_the_block(backend, generator):
    u = torch.randn(1, 12, 16, generator=generator, dtype=torch.float64)
    m = Mamba2(16, d_state=8, headdim=16, ngroups=2, chunk_size=8, backend="torch",
               generator=generator).double()  # 2 heads, 2 chunks: few interpreter programs
    y = m(u)
    y.sum().backward()
    grads = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    m.backend = backend
    y_other = m(u)
    y_other.sum().backward()
    torch.testing.assert_close(y_other, y, rtol=1e-10, atol=1e-10)
    for p, g in zip(m.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-10, atol=1e-10)


def test_initialization_follows_mamba2_defaults(generator):
    m = Mamba2(64, d_state=16, headdim=4, generator=generator)  # 32 heads
    a = torch.exp(m.A_log)
    assert a.min() >= 1 and a.max() <= 16 and a.max() - a.min() > 5
    dt = F.softplus(m.dt_bias)
    assert dt.min() >= 1e-3 * (1 - 1e-6) and dt.max() <= 0.1 * (1 + 1e-6)
    assert torch.log(dt).std() > 0.5  # log-uniform over two decades (std 4.6/sqrt 12 = 1.3)
    torch.testing.assert_close(m.D.detach(), torch.ones(32))
    d_inner, conv_dim = 128, 128 + 2 * 16
    assert m.in_proj.weight.shape == (d_inner + conv_dim + 32, 64) and m.in_proj.bias is None
    assert m.conv1d.weight.shape == (conv_dim, 1, 4) and m.conv1d.bias is not None


def test_bad_headdim_is_a_config_error():
    with pytest.raises(ConfigError, match="headdim"):
        Mamba2(10, headdim=64)
