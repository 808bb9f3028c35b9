"""DynaMix's gating network: which experts to mix, read from the context and the current state.

Hemmer & Durstewitz (2025), "True Zero-Shot Inference of Dynamical Systems Preserving Long-Term
Statistics", NeurIPS, arXiv 2505.13192; the layout follows the authors' PyTorch code
(``DurstewitzLab/DynaMix-python``, ``model/dynamix.py``; notes in reference/models.md §5.1):

1. the state seen in data space, ``z_obs = D·stopgrad(z) + σ ⊙ ε`` (D (N, M) starts as [I_N, 0];
   σ is learned, the gating noise);
2. attention over the context's times, ``a_t = softmax_t(−‖c_t − z_obs‖₁ / |τ₁|)`` for c_0..c_{T−2};
3. an embedding of the context at the attended times, ``e = Σ_t a_t · conv(c)_t`` (a width-2
   convolution over time, N → N channels);
4. expert weights ``w = softmax(−MLP([e; z]) / |τ₂|)``, MLP = Linear(N+M → J) → ReLU → Linear(J → J),
   without biases (the reference's are zero and frozen).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ContextGate(nn.Module):
    """Softmax weights over J experts from a context (B, Tc, N) and latent states (B, M).

    Args:
        obs_dim: N; latent_dim: M; n_experts: J.
        noise: initial σ of the gating noise (per observed dimension).
        attention_temperature, gate_temperature: initial τ₁ and τ₂.
    """

    def __init__(self, obs_dim: int, latent_dim: int, n_experts: int, noise: float,
                 attention_temperature: float, gate_temperature: float) -> None:
        super().__init__()
        n, m = obs_dim, latent_dim
        self.D = nn.Parameter(torch.eye(n, m))
        self.sigma = nn.Parameter(torch.full((n,), float(noise)))
        self.tau_attention = nn.Parameter(torch.tensor(float(attention_temperature)))
        self.tau_gate = nn.Parameter(torch.tensor(float(gate_temperature)))
        self.conv = nn.Conv1d(n, n, kernel_size=2)
        self.mlp = nn.Sequential(nn.Linear(n + m, n_experts, bias=False), nn.ReLU(),
                                 nn.Linear(n_experts, n_experts, bias=False))

    def features(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """What the gate reads of a context, computed once per context.

        Args:
            context: (B, Tc, N); a single step (Tc = 1, the evaluation protocol's default) is read
                as that step twice, which leaves the gate nothing to choose by: judge DynaMix with a
                long context (``eval.context``).

        Returns:
            ``(keys, values)``: the context points c_0..c_{Tc−2} (B, Tc − 1, N) compared with the
            state, and the convolved context at the same times (B, Tc − 1, N).
        """
        if context.shape[1] == 1:
            context = context.expand(-1, 2, -1)
        values = self.conv(context.transpose(1, 2)).transpose(1, 2)  # (B, Tc − 1, N)
        return context[:, :-1], values

    def forward(self, z: Tensor, keys: Tensor, values: Tensor, noise: Tensor | None = None) -> Tensor:
        """Expert weights for states z (B, M): (B, J), positive, summing to one.

        Args:
            z: latent states (B, M).
            keys, values: `features` of the context.
            noise: ε (B, N) of the gating noise; None draws it from torch's generator.
        """
        eps = torch.randn(z.shape[0], self.D.shape[0], dtype=z.dtype, device=z.device) if noise is None else noise
        return gate_weights(z, keys, values, eps, *self.weights())

    def weights(self) -> tuple[Tensor, ...]:
        """``(D, sigma, tau_attention, tau_gate, mlp1, mlp2)``, as `gate_weights` takes them."""
        return self.D, self.sigma, self.tau_attention, self.tau_gate, self.mlp[0].weight, self.mlp[2].weight

    def noise_penalty(self) -> Tensor:
        """mean(exp(−|σ|/0.01)): large as σ → 0, keeping the gating noise on (reference λ = 0.1)."""
        return torch.exp(-self.sigma.abs() / 0.01).mean()


def gate_weights(z: Tensor, keys: Tensor, values: Tensor, eps: Tensor, D: Tensor, sigma: Tensor,
                 tau_attention: Tensor | float, tau_gate: Tensor | float, mlp1: Tensor, mlp2: Tensor) -> Tensor:
    """Steps 1-4 of the module docstring for states z (B, M) -> expert weights (B, J).

    Args:
        keys, values: the context as `ContextGate.features` reads it, (B, T, N) each.
        eps: the gating noise ε (B, N).
        D (N, M), sigma (N,), tau_attention, tau_gate: the gate's parameters (|τ| is used).
        mlp1 (J, N + M), mlp2 (J, J): the MLP's weights.
    """
    z_obs = z.detach() @ D.t() + sigma * eps  # (B, N); the gate reads z without its gradient
    distance = (keys - z_obs[:, None]).abs().sum(-1)  # (B, T)
    attention = torch.softmax(-distance / abs(tau_attention), dim=1)
    embedding = torch.einsum("bt,btn->bn", attention, values)  # (B, N)
    logits = F.linear(F.relu(F.linear(torch.cat([embedding, z], dim=-1), mlp1)), mlp2)  # (B, J)
    return torch.softmax(-logits / abs(tau_gate), dim=-1)
