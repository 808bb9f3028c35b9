"""Adaptive Dopri5 through torchdiffeq: global error within 10·rtol of closed forms."""

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.solvers import solve_adaptive

pytestmark = pytest.mark.usefixtures("float64")


class _Cosine:
    """y' = y cos t, solved by y0 exp(sin t): time-dependent, grows and decays."""

    def rhs(self, t, y):
        return y * torch.cos(t)


class _Rotation:
    """A damped rotation y' = A y, solved by expm(A t) y0."""

    a = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)

    def rhs(self, t, y):
        return y @ self.a.T


@pytest.mark.parametrize("rtol", [1e-10, 1e-8, 1e-6, 1e-4])
def test_dopri5_error_is_within_ten_rtol(rtol):
    # atol = 1e-3·rtol so that relative control governs: every solution stays O(0.1..10).
    t = torch.linspace(0.0, 10.0, 21)
    y0 = torch.tensor([[1.0], [-3.0]])
    y = solve_adaptive(_Cosine(), y0, t, rtol=rtol, atol=1e-3 * rtol)
    exact = y0[:, None, :] * torch.exp(torch.sin(t))[None, :, None]  # (B, T, 1)
    assert y.shape == (2, 21, 1)
    assert ((y - exact).abs() / exact.abs()).max() <= 10 * rtol

    system = _Rotation()
    z0 = torch.tensor([1.0, 0.5])
    z = solve_adaptive(system, z0, t, rtol=rtol, atol=1e-3 * rtol)
    exact = torch.stack([torch.linalg.matrix_exp(system.a * s) @ z0 for s in t])  # (T, 2)
    scale = exact.norm(dim=-1, keepdim=True)
    assert ((z - exact).abs() / scale).max() <= 10 * rtol


def test_unknown_adaptive_method_lists_choices():
    with pytest.raises(ConfigError, match="choose one of: dopri8, dopri5"):
        solve_adaptive(_Cosine(), torch.ones(1), [0.0, 1.0], method="rk45")
