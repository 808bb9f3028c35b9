"""The decoder's Jacobian, the physics projected into latent space by least squares, latent inversion.

Φ-ROM's dynamics target (reference/models.md §6.2): with û = D(α, c_S) at a subset S of points and
F = du/dt there from the PDE, the latent velocity that best explains F is α̇* = argmin ‖J α̇ − F‖,
J = ∂û/∂α (|S|·C × k), solved through a QR factorization (no inverse, no normal equations).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def decoder_jacobian(decode: Callable[[Tensor, Tensor], Tensor], alpha: Tensor, coords: Tensor) -> Tensor:
    """J[b] = ∂ vec D(α_b, c) / ∂α_b by forward mode, one latent at a time (vmapped): (B, k) -> (B, P·C, k).

    Args:
        decode: D(α (B, k), c (P, d)) -> (B, P, C).
        alpha: latents (B, k).
        coords: points (P, d), shared by the batch.
    """
    def one(a: Tensor) -> Tensor:
        return decode(a[None], coords)[0].reshape(-1)

    return torch.func.vmap(torch.func.jacfwd(one))(alpha)


def project_velocity(jacobian: Tensor, du_dt: Tensor) -> Tensor:
    """α̇* = argmin ‖J α̇ − F‖ per sample through J = QR: R α̇ = Qᵀ F, (B, m, k), (B, m) -> (B, k).

    Needs m >= k and J of full column rank (a decoder that maps distinct latents to distinct fields)."""
    q, r = torch.linalg.qr(jacobian)  # reduced: Q (B, m, k), R (B, k, k)
    rhs = (q.transpose(1, 2) @ du_dt[..., None])
    return torch.linalg.solve_triangular(r, rhs, upper=True)[..., 0]


def invert_latent(decode: Callable[[Tensor, Tensor], Tensor], values: Tensor, coords: Tensor, start: Tensor, *,
                  steps: int = 20, damping: float = 1e-3) -> Tensor:
    """The latents whose decoding fits observed values best: argmin_α ‖D(α, c) − u‖², per sample.

    Levenberg–Marquardt from `start`: each iteration solves the damped Gauss–Newton step
    (JᵀJ + μI) δ = Jᵀ r as the least-squares problem [J; √μ I] δ ≈ [r; 0] (by QR), keeps it where it lowers the misfit (μ / 3) and
    raises μ ×10 where it does not. A linear decoder is fitted in one step up to μ's bias, which
    the next steps remove. The points may be any subset of the domain (sparse, irregular).

    Args:
        decode: D(α (B, k), c (P, d)) -> (B, P, C).
        values: observations u (B, P, C) at `coords` (P, d).
        start: initial latents (B, k).
        steps: iterations.
        damping: initial μ.

    Returns:
        Latents (B, k), outside any autograd graph.
    """
    with torch.no_grad():  # forward-mode Jacobians need no autograd graph
        alpha = start.clone()
        k = alpha.shape[1]
        mu = torch.full((alpha.shape[0],), damping, dtype=alpha.dtype, device=alpha.device)
        misfit = (decode(alpha, coords) - values).flatten(1)
        cost = misfit.pow(2).sum(1)
        eye = torch.eye(k, dtype=alpha.dtype, device=alpha.device)
        for _ in range(steps):
            jac = decoder_jacobian(decode, alpha, coords)  # (B, m, k)
            augmented = torch.cat([jac, mu.sqrt()[:, None, None] * eye], dim=1)
            target = torch.cat([-misfit, misfit.new_zeros(len(alpha), k)], dim=1)
            delta = project_velocity(augmented, target)  # QR: repeatable bit for bit (LAPACK's gelsy is not)
            trial = alpha + delta
            trial_misfit = (decode(trial, coords) - values).flatten(1)
            trial_cost = trial_misfit.pow(2).sum(1)
            better = trial_cost < cost
            alpha = torch.where(better[:, None], trial, alpha)
            misfit = torch.where(better[:, None], trial_misfit, misfit)
            cost = torch.where(better, trial_cost, cost)
            mu = torch.where(better, mu / 3, mu * 10).clamp(1e-12, 1e12)
    return alpha
