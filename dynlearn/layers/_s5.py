"""S5: a complex diagonal state-space layer run in parallel by `linear_scan`.

Smith, Warrington, Linderman (2023), "Simplified State Space Layers for Sequence Modeling",
ICLR, arXiv 2208.04933; the same layer with convolutions is ConvS5 (models.md §2). Per mode p:

    x_k = Λ̄ ⊙ x_{k-1} + B̄ u_k,   y_k = 2·Re(C̃ x_k) + D ⊙ u_k,
    Λ̄ = exp(Λ Δ),   B̄ = (Λ̄ − 1)/Λ · B̃      (zero-order hold, learnable log Δ per mode).

Choices: Λ starts at the S4D-Lin values −1/2 + iπp (p = 0..P-1), not HiPPO-N (simpler, and as
good in the S4D paper); the P stored modes are one of each conjugate pair, so the real output is
2·Re(C̃ x) (the conjugate-symmetric convention of S5/ConvS5); Re Λ is clipped to ≤ −1e-4 as
S5's ``clip_eigs``. Complex parameters are stored as real and imaginary parts.
"""

from __future__ import annotations

import math
from typing import final

import torch
from torch import Tensor, nn

from dynlearn.ops import linear_scan, linear_scan_step


@final
class S5(nn.Module):
    """S5 layer on batch-first sequences ``(B, L, H)``.

    Args:
        d_model: H, input and output features.
        state_size: P, complex modes (standing for 2P real state dimensions).
        dt_min, dt_max: range of the log-uniform initial step Δ.
        generator: seeds the initialization (no global RNG is touched).
    """

    def __init__(
        self,
        d_model: int,
        state_size: int,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        H, P = d_model, state_size
        self.lambda_re = nn.Parameter(torch.full((P,), -0.5))
        self.lambda_im = nn.Parameter(math.pi * torch.arange(P, dtype=torch.float32))
        # Lecun-normal-like scales so that y has unit order for unit-order u.
        self.B = nn.Parameter(torch.randn(P, H, 2, generator=generator) / math.sqrt(2 * H))
        self.C = nn.Parameter(torch.randn(H, P, 2, generator=generator) / math.sqrt(2 * P))
        self.D = nn.Parameter(torch.randn(H, generator=generator))
        u = torch.rand(P, generator=generator)
        self.log_dt = nn.Parameter(math.log(dt_min) + u * (math.log(dt_max) - math.log(dt_min)))

    def discretize(self) -> tuple[Tensor, Tensor]:
        """Λ̄ ``(P,)`` and B̄ ``(P, H)``, complex, by zero-order hold."""
        lam = torch.complex(self.lambda_re.clamp(max=-1e-4), self.lambda_im)
        lam_bar = torch.exp(lam * self.log_dt.exp())
        b_bar = ((lam_bar - 1) / lam)[:, None] * torch.view_as_complex(self.B)
        return lam_bar, b_bar

    def initial_state(self, batch: int) -> Tensor:
        """The zero state ``(batch, P)``, complex."""
        P = self.lambda_re.shape[0]
        return torch.zeros(batch, P, dtype=self.D.dtype.to_complex(), device=self.D.device)

    def _read_out(self, x: Tensor, u: Tensor) -> Tensor:
        return 2 * (x @ torch.view_as_complex(self.C).T).real + self.D * u

    def forward(
        self, u: Tensor, state: Tensor | None = None, backend: str | None = None
    ) -> tuple[Tensor, Tensor]:
        """Run a whole sequence in parallel.

        Args:
            u: inputs ``(B, L, H)``.
            state: x_{-1} ``(B, P)`` complex, default zeros.
            backend: the `linear_scan` backend.

        Returns:
            y ``(B, L, H)`` and the last state ``(B, P)`` (to continue with `step`).
        """
        lam_bar, b_bar = self.discretize()
        bu = u.to(b_bar.dtype) @ b_bar.T  # (B, L, P)
        x, last = linear_scan(lam_bar, bu, state, return_final_state=True, backend=backend)
        return self._read_out(x, u), last

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One recurrent step for generation: u_t ``(B, H)``, state ``(B, P)`` → (y_t, state)."""
        lam_bar, b_bar = self.discretize()
        state = linear_scan_step(lam_bar, u_t.to(b_bar.dtype) @ b_bar.T, state)
        return self._read_out(state, u_t), state
