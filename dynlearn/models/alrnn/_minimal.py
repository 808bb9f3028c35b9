"""The AL-RNN and its teacher-forced loss as a short listing, to check against the paper by eye.

Brenner et al. (2024), "Almost-Linear RNNs Yield Highly Interpretable Symbolic Codes in Dynamical
Systems Reconstruction", NeurIPS, arXiv 2410.14240, with sparse teacher forcing (Mikhaeil et al.
2022) and generalized teacher forcing (Hess et al. 2023). Plain functions of explicit parameters,
one time step per loop iteration, no tricks for speed. `ALRNN` is the model to use; the tests
check that it computes the same numbers as this listing.
"""

from __future__ import annotations

import torch
from torch import Tensor


def phi(z: Tensor, n_pwl: int) -> Tensor:
    """phi*(z) = [z_1, .., z_{M-P}, relu(z_{M-P+1}), .., relu(z_M)], (B, M) -> (B, M)."""
    m = z.shape[-1]
    return torch.cat([z[:, : m - n_pwl], torch.relu(z[:, m - n_pwl :])], dim=-1)


def alrnn_step(z: Tensor, A: Tensor, W: Tensor, h: Tensor, n_pwl: int) -> Tensor:
    """z_t = A * z_{t-1} + W phi*(z_{t-1}) + h; A (M,), W (M, M), h (M,), z (B, M)."""
    return A * z + phi(z, n_pwl) @ W.T + h


def initial_state(x1: Tensor, L: Tensor) -> Tensor:
    """z_1 = [x_1; L x_1] for the identity observation model; x1 (B, N), L (M - N, N)."""
    return torch.cat([x1, x1 @ L.T], dim=-1)


def teacher_forced_loss(
    x: Tensor,
    A: Tensor,
    W: Tensor,
    h: Tensor,
    L: Tensor,
    n_pwl: int,
    tau: int,
    alpha: float,
) -> Tensor:
    """MSE of teacher-forced one-window predictions, x (B, T + 1, N).

    Predict, then force: z_t = step(z_{t-1}) is the prediction of x_t; every tau steps the read-out
    units become (1 - alpha) z_t[:N] + alpha x_t. alpha = 1 is sparse teacher forcing (the forced
    units get zero gradient since their coefficient 1 - alpha is 0); tau = 1, alpha < 1 is GTF.
    """
    n = x.shape[-1]
    z = initial_state(x[:, 0], L)
    predictions = []
    for t in range(1, x.shape[1]):
        z = alrnn_step(z, A, W, h, n_pwl)
        predictions.append(z[:, :n])
        if t % tau == 0:
            z = torch.cat([(1 - alpha) * z[:, :n] + alpha * x[:, t], z[:, n:]], dim=-1)
    return torch.mean((torch.stack(predictions, dim=1) - x[:, 1:]) ** 2)


def jacobian(z: Tensor, A: Tensor, W: Tensor, n_pwl: int) -> Tensor:
    """J = diag(A) + W diag([1, .., 1, 1(z_PWL > 0)]) at one state z (M,) -> (M, M)."""
    m = z.shape[-1]
    d = torch.ones_like(z)
    d[m - n_pwl :] = (z[m - n_pwl :] > 0).to(z.dtype)
    return torch.diag(A) + W @ torch.diag(d)


def gtf_alpha_update(jacobian_norms: Tensor, alpha: float, gamma: float = 0.999) -> float:
    """aGTF: N = max over sequences of the geometric mean of ||J_t||_2, jacobian_norms (B, T);
    alpha* = max(0, 1 - 1/N); take alpha* if larger, else alpha <- gamma alpha + (1 - gamma) alpha*.
    """
    bound = float(torch.exp(torch.log(jacobian_norms).mean(dim=1)).max())
    estimate = max(0.0, 1.0 - 1.0 / bound)
    return estimate if estimate > alpha else gamma * alpha + (1 - gamma) * estimate
