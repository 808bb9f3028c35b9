"""HiPPO-N: the LegS matrix by hand, its normal part's spectrum against a general eigensolver, and
the eigenvectors that rebuild it (with all modes, and from one mode of each conjugate pair)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dynlearn.layers import hippo_legs, hippo_n, hippo_normal


def test_legs_matrix_by_hand():
    r3, r5, r15 = math.sqrt(3), math.sqrt(5), math.sqrt(15)
    expected = -torch.tensor([[1.0, 0, 0], [r3, 2, 0], [r5, r15, 3]], dtype=torch.float64)
    torch.testing.assert_close(hippo_legs(3), expected, rtol=0, atol=1e-15)


def test_normal_part_is_minus_half_plus_skew_symmetric():
    s = hippo_normal(16)
    torch.testing.assert_close(torch.diagonal(s), torch.full((16,), -0.5, dtype=torch.float64), rtol=0, atol=1e-14)
    off = s + 0.5 * torch.eye(16, dtype=torch.float64)
    torch.testing.assert_close(off, -off.T, rtol=0, atol=1e-13)


@pytest.mark.parametrize("n", [8, 64])
def test_spectrum_matches_a_general_eigendecomposition(n):
    lam, _ = hippo_n(n, conjugate_half=False)
    direct = np.linalg.eig(hippo_normal(n).numpy())[0]
    order = np.argsort(direct.imag)
    scale = np.abs(direct).max()
    np.testing.assert_allclose(lam.numpy(), direct[order], rtol=0, atol=1e-11 * scale)
    np.testing.assert_allclose(lam.real.numpy(), -0.5, rtol=0, atol=1e-13)  # Re Λ = mean diag S


@pytest.mark.parametrize("n", [8, 64])
def test_eigenvectors_rebuild_the_normal_matrix(n):
    s = hippo_normal(n)
    lam, v = hippo_n(n, conjugate_half=False)
    torch.testing.assert_close((v * lam) @ torch.linalg.inv(v), s.to(v.dtype), rtol=0, atol=1e-11 * n)
    half, vh = hippo_n(n)
    assert half.shape == (n // 2,) and vh.shape == (n, n // 2)
    torch.testing.assert_close(half, lam[: n // 2], rtol=0, atol=0)
    assert (half.imag < 0).all()  # one of each conjugate pair: the other half is their conjugates
    torch.testing.assert_close(torch.sort(-half.imag).values, torch.sort(lam[n // 2:].imag).values, rtol=0, atol=1e-10)
    # V's columns are orthonormal (Vᴴ is the V⁻¹ of the B init) and the kept half rebuilds S by 2·Re.
    torch.testing.assert_close(vh.conj().T @ vh, torch.eye(n // 2, dtype=vh.dtype), rtol=0, atol=1e-13)
    torch.testing.assert_close(2 * ((vh * half) @ vh.conj().T).real, s, rtol=0, atol=1e-11 * n)


def test_odd_size_is_refused():
    with pytest.raises(ValueError, match="must be even"):
        hippo_n(7)
