"""Jacobians, the physics projected into latent space by least squares, latent inversion.

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


def least_squares(a: Tensor, b: Tensor) -> Tensor:
    """x = argmin ‖A x − b‖ per sample through A = QR: R x = Qᵀ b, (B, m, k), (B, m) -> (B, k); with
    A = J and b = F, Φ-ROM's projected velocity α̇*. Repeatable bit for bit (LAPACK's gelsy, behind
    `torch.linalg.lstsq`, is not).

    Needs m >= k and A of full column rank (a decoder that maps distinct latents to distinct fields)."""
    q, r = torch.linalg.qr(a)  # reduced: Q (B, m, k), R (B, k, k)
    return torch.linalg.solve_triangular(r, q.transpose(1, 2) @ b[..., None], upper=True)[..., 0]


def batch_jacobian(predict: Callable[[Tensor], Tensor], alpha: Tensor) -> Tensor:
    """J[b] = ∂ predict(α)_b / ∂α_b for a map whose samples do not interact, (B, k) -> (B, m, k):
    k forward-mode products, each pushing the same unit tangent through every sample (works through
    torchdiffeq's solvers, which `vmap` cannot trace)."""
    columns = []
    for i in range(alpha.shape[1]):
        tangent = torch.zeros_like(alpha)
        tangent[:, i] = 1
        columns.append(torch.func.jvp(predict, (alpha,), (tangent,))[1])
    return torch.stack(columns, dim=-1)


def invert_latent(predict: Callable[[Tensor], Tensor], observed: Tensor, start: Tensor, *,
                  steps: int = 20, damping: float = 1e-3) -> Tensor:
    """The latents whose predicted observations fit the observed best: argmin_α ‖predict(α) − y‖², per sample.

    Levenberg–Marquardt from `start`: each iteration solves the damped Gauss–Newton step
    (JᵀJ + μI) δ = Jᵀ r as the least-squares problem [J; √μ I] δ ≈ [r; 0] (by QR), keeps it
    where it lowers the misfit (μ / 3) and raises μ ×10 where it does not. A linear map is fitted
    in one step up to μ's bias, which the next steps remove. `predict` may decode at any points
    (sparse, irregular), or integrate the latent ODE first and decode at several times.

    Args:
        predict: α (B, k) -> predicted observations (B, m); samples must not interact.
        observed: y (B, m).
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
        misfit = predict(alpha) - observed
        cost = misfit.pow(2).sum(1)
        eye = torch.eye(k, dtype=alpha.dtype, device=alpha.device)
        for _ in range(steps):
            jac = batch_jacobian(predict, alpha)  # (B, m, k)
            augmented = torch.cat([jac, mu.sqrt()[:, None, None] * eye], dim=1)
            target = torch.cat([-misfit, misfit.new_zeros(len(alpha), k)], dim=1)
            delta = least_squares(augmented, target)
            trial = alpha + delta
            trial_misfit = predict(trial) - observed
            trial_cost = trial_misfit.pow(2).sum(1)
            better = trial_cost < cost
            alpha = torch.where(better[:, None], trial, alpha)
            misfit = torch.where(better[:, None], trial_misfit, misfit)
            cost = torch.where(better, trial_cost, cost)
            mu = torch.where(better, mu / 3, mu * 10).clamp(1e-12, 1e12)
    return alpha
