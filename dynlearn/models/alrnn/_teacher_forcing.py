"""Teacher forcing for latent RNNs with an identity read-out: sparse, generalized, adaptive.

The latent state's first N coordinates estimate the N observed variables (identity observation
model), so forcing acts on them only; the remaining M - N coordinates run free.

References:
    Mikhaeil, Monfared, Durstewitz (2022), "On the difficulty of learning chaotic dynamics with
    RNNs", NeurIPS: sparse teacher forcing (STF), replacing the observed units every tau steps.
    Hess, Monfared, Brenner, Durstewitz (2023), "Generalized Teacher Forcing for Learning Chaotic
    Dynamics", ICML: generalized teacher forcing (GTF) and its adaptive variant (aGTF).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def forced_rollout(
    step: Callable[[Tensor], Tensor],
    z0: Tensor,
    signal: Tensor,
    *,
    interval: int,
    alpha: Tensor | None,
    inputs: Tensor | None = None,
) -> tuple[list[Tensor], list[Tensor]]:
    """Run a latent map over a window, teacher-forcing it: predict, then force.

    After step t (t = 1..T) the state is stored as the prediction for time t; then, when t is a
    multiple of ``interval``, its first N coordinates are forced toward the observation x_t:
    ``z[:, :N] <- (1 - alpha) z[:, :N] + alpha x_t``. ``alpha=None`` replaces them with x_t and
    cuts them from the graph, so later steps send the replaced values no gradient (the custom
    ``rrule`` of the authors' Julia code). ``interval=tau, alpha=None`` is sparse teacher forcing;
    ``interval=1`` with 0 <= alpha < 1 is generalized teacher forcing, whose gradient flows
    through the ``(1 - alpha) z`` term.

    Args:
        step: latent map (B, M) -> (B, M) (with a second argument u_t when `inputs` are given).
        z0: latent state at time 0 (B, M), e.g. inferred from the first observation.
        signal: forcing observations (B, T, N) at times 1..T, N <= M.
        interval: force after every ``interval``-th step.
        alpha: forcing strength, a 0-dim tensor in [0, 1], or None for replacement (alpha = 1).
        inputs: exogenous inputs (B, T, U) at times 1..T, passed to ``step(z, u_t)``; None: ``step(z)``.

    Returns:
        ``(predictions, stepped_from)``: two lists of T states (B, M). ``predictions[t - 1]`` is
        the pre-forcing state at time t; ``stepped_from[t - 1]`` is the state the map was applied
        to at step t (z0, then the forced states), where the Jacobians of the gradient's product
        are taken.
    """
    m, n = z0.shape[-1], signal.shape[-1]
    if alpha is None:
        frames = signal.unbind(1)

        def force(z: Tensor, x: Tensor) -> Tensor:
            return torch.cat([x, z[:, n:]], dim=-1)  # out of place, safe under autograd

    else:
        # One lerp per forcing on zero-padded observations, weight alpha on the N observed units and
        # 0 elsewhere; lerp is exact at weight 0, so the hidden units pass through unchanged.
        frames = F.pad(signal, (0, m - n)).unbind(1)
        weight = torch.cat([alpha.expand(n), alpha.new_zeros(m - n)])

        def force(z: Tensor, x: Tensor) -> Tensor:
            return torch.lerp(z, x, weight)

    n_steps = len(frames)
    drive = None if inputs is None else inputs.unbind(1)
    predictions, stepped_from = [], []
    z = z0
    for t in range(1, n_steps + 1):
        stepped_from.append(z)
        z = step(z) if drive is None else step(z, drive[t - 1])
        predictions.append(z)
        if t % interval == 0 and t < n_steps:  # forcing after the last prediction is unused
            z = force(z, frames[t - 1])
    return predictions, stepped_from


def product_upper_bound(jacobian_norms: Tensor) -> Tensor:
    """The aGTF bound on the Jacobian norm: per-sequence geometric mean, maximum over the batch.

    The geometric mean of ||J_t|| along a sequence bounds the growth rate of the norm of the
    Jacobian product that gradients pass through (Hess et al. 2023, ``product_upper_bound``).

    Args:
        jacobian_norms: spectral norms ||J_t||_2 (B, T) along B sequences.

    Returns:
        The bound N, a 0-dim tensor.
    """
    return jacobian_norms.log().mean(dim=1).exp().max()


def optimal_alpha(bound: Tensor) -> Tensor:
    """The GTF strength that keeps the forced Jacobian product bounded: max(0, 1 - 1/N).

    Under GTF the Jacobian product is dz_T/dz_r = (1 - alpha)^(T-r) prod_t J_t, whose norm is at
    most ((1 - alpha) N)^(T-r): alpha* is the weakest forcing that keeps it from growing
    (Hess et al. 2023).

    Args:
        bound: Jacobian norm bound N, a 0-dim tensor.

    Returns:
        alpha*, a 0-dim tensor in [0, 1).
    """
    return torch.clamp(1 - 1 / bound, min=0)


def anneal_alpha(alpha: Tensor, estimate: Tensor, decay: float) -> Tensor:
    """The aGTF update: jump up to a larger estimate, decay slowly toward a smaller one.

    Args:
        alpha: current strength, 0-dim.
        estimate: new estimate `optimal_alpha`, 0-dim.
        decay: gamma, the weight of the current strength when the estimate is smaller (0.999).

    Returns:
        ``estimate`` if it exceeds ``alpha``, else ``decay * alpha + (1 - decay) * estimate``.
    """
    return torch.where(estimate > alpha, estimate, decay * alpha + (1 - decay) * estimate)
