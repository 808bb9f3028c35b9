"""HiPPO-LegS and its normal part, diagonalized: the HiPPO-N initialization of S5 and ConvS5.

Gu, Dao, Ermon, Rudra, Ré (2020), "HiPPO: Recurrent Memory with Optimal Polynomial Projections",
NeurIPS, arXiv 2008.07069 (the LegS matrix); Gu, Goel, Ré (2022), "Efficiently Modeling Long
Sequences with Structured State Spaces", ICLR, arXiv 2111.00396 (normal plus low rank: A = S − p pᵀ);
Smith, Warrington, Linderman (2023), S5, arXiv 2208.04933, §4.2 and Smith et al. (2023), ConvS5,
arXiv 2310.19694 (HiPPO-N: initialize the diagonal Λ with the spectrum of S alone).

With p_n = √(n + ½), S = A + p pᵀ = −½ I + K where K is real skew-symmetric, so S is normal:
S = V diag(Λ) Vᴴ with V unitary, Re Λ = −½ (= mean diag S) and i·Im Λ the spectrum of K, whose
real eigenvalues μ come from the Hermitian matrix −iK. They come in ± pairs with conjugate
eigenvectors, so half of them (the P = N/2 with μ < 0, as eigh sorts them) with the real part
2·Re(·) of a read-out stand for all N.
"""

from __future__ import annotations

import torch
from torch import Tensor


def hippo_legs(n: int) -> Tensor:
    """The HiPPO-LegS state matrix A (stable sign), float64 ``(n, n)``:
    A_nk = −√(2n+1)√(2k+1) for n > k, −(n+1) for n = k, 0 for n < k (Gu et al. 2020, eq. (2))."""
    r = torch.sqrt(1 + 2 * torch.arange(n, dtype=torch.float64))
    return -(torch.tril(r[:, None] * r[None, :]) - torch.diag(torch.arange(n, dtype=torch.float64)))


def hippo_normal(n: int) -> Tensor:
    """S = A + p pᵀ with p_n = √(n + ½), the normal part of HiPPO-LegS, float64 ``(n, n)``."""
    p = torch.sqrt(torch.arange(n, dtype=torch.float64) + 0.5)
    return hippo_legs(n) + p[:, None] * p[None, :]


def hippo_n(n: int, conjugate_half: bool = True) -> tuple[Tensor, Tensor]:
    """HiPPO-N: the eigenvalues and eigenvectors of the normal part S of HiPPO-LegS.

    Args:
        n: the real state size N (even when `conjugate_half`).
        conjugate_half: keep the P = N/2 modes with negative imaginary part (one of each conjugate
            pair, as S5's and ConvSSM's ``hippo_initializer``), else all N.

    Returns:
        Λ ``(P,)`` complex128 with Re Λ = mean diag S = −½, and V ``(N, P)`` complex128 with
        orthonormal columns (so Vᴴ is its left inverse): S v_j = λ_j v_j, and with the half,
        S = 2·Re(V diag(Λ) Vᴴ).

    Raises:
        ValueError: an odd `n` with `conjugate_half` (a zero mode would have no partner).
    """
    if conjugate_half and n % 2:
        raise ValueError(f"HiPPO-N keeps one mode of each conjugate pair: the state size must be even, got {n}")
    s = hippo_normal(n)
    # −iK with K = (S − Sᵀ)/2 is exactly Hermitian; S's diagonal (−½) is the real part, set apart.
    mu, v = torch.linalg.eigh(-1j * (s - s.T).to(torch.complex128) / 2)
    lam = torch.complex(torch.diagonal(s).mean().expand(n), mu)
    if conjugate_half:
        lam, v = lam[: n // 2], v[:, : n // 2]
    return lam, v
