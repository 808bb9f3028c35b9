"""The ConvS5 state-space core: a complex diagonal SSM whose B and C are k×k convolutions.

Smith, De Mello, Kautz, Linderman, Byeon (2023), "Convolutional State Space Models for Long-Range
Spatiotemporal Modeling", NeurIPS, arXiv 2310.19694, eqs. (3)–(6); NVlabs/ConvSSM
``src/models/convS5/diagonal_ssm.py`` (models.md §2.1). With u_k ``(U, *s)`` and x_k ``(P, *s)``:

    x_k = Ā ⊙ x_{k−1} + B̄ ∗ u_k,      y_k = 2·Re(C̃ ∗ x_k) + D ∗ u_k,
    Ā = exp(ΛΔ),  B̄ = (Ā − 1)/Λ · B̃   (zero-order hold, exact for inputs constant over a step),

∗ a 'same' convolution, Λ ``(P,)`` one complex eigenvalue per state channel shared by every pixel
(HiPPO-N, Re Λ clipped to ≤ −1e-4), log Δ ``(P,)`` learned, B̃ ``(P, U, *k)`` and C̃ ``(U, P, *k)``
complex. The P stored channels are one of each conjugate pair (ssm_size = 2P), hence 2·Re.
Because Ā is per channel, the recurrence is elementwise over (batch, pixel, channel): the parallel
mode convolves every frame at once and runs one `linear_scan` over time; the recurrent mode takes
one step of the same recurrence. D is present only when the C/D block asks for it (``standard``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dynlearn.layers import hippo_n
from dynlearn.ops import linear_scan, linear_scan_step

from ._conv import Conv, Padding, conv, variance_scaling


class ConvS5SSM(nn.Module):
    """The ConvS5 SSM on channels-first fields.

    The state crosses the interface as a real tensor ``(B, 2P, *s)``: real parts, then imaginary.

    Args:
        d_model: U, input and output channels.
        ssm_size: N = 2P, the real state size HiPPO-N is built for (even).
        ndim: 1 or 2 spatial dimensions.
        kernel_b, kernel_c: widths of the B and C kernels (odd).
        kernel_d: width of the D kernel, or None for no D term.
        dt_min, dt_max: range of the log-uniform initial Δ.
        padding: ``"zeros"`` or ``"circular"``.
        generator: seeds B, C, D and Δ.
    """

    def __init__(self, d_model: int, ssm_size: int, ndim: int, kernel_b: int, kernel_c: int, kernel_d: int | None,
                 dt_min: float, dt_max: float, padding: Padding, generator: torch.Generator) -> None:
        super().__init__()
        U, N, P = d_model, ssm_size, ssm_size // 2
        dtype = torch.get_default_dtype()
        lam, v = hippo_n(N)  # (P,), (N, P)
        self.lambda_re = nn.Parameter(lam.real.to(dtype))
        self.lambda_im = nn.Parameter(lam.imag.to(dtype))
        # B̃ = V⁻¹ B_he and C̃ = C_he V (He-normal over N real rows / columns), as the reference.
        fan_b, fan_c = U * kernel_b ** ndim, N * kernel_c ** ndim
        b = v.conj().T @ variance_scaling((N, fan_b), 2.0, fan_b, generator, torch.float64).to(v.dtype)
        self.B = nn.Parameter(torch.view_as_real(b).reshape(P, U, *([kernel_b] * ndim), 2).to(dtype))
        c = variance_scaling((U * kernel_c ** ndim, N), 2.0, fan_c, generator, torch.float64).to(v.dtype) @ v
        c = c.reshape(U, *([kernel_c] * ndim), P).movedim(-1, 1)  # (U, P, *k)
        self.C = nn.Parameter(torch.view_as_real(c).to(dtype).contiguous())
        self.D = None if kernel_d is None else Conv(U, U, kernel_d, ndim, padding, generator)
        r = torch.rand(P, generator=generator, dtype=torch.float64)
        self.log_dt = nn.Parameter((math.log(dt_min) + r * (math.log(dt_max) - math.log(dt_min))).to(dtype))
        self.padding = padding

    @property
    def state_channels(self) -> int:
        """2P: real channels of the state as it crosses the interface."""
        return 2 * self.lambda_re.shape[0]

    def discretize(self) -> tuple[Tensor, Tensor]:
        """Ā ``(P,)`` and B̄ ``(P, U, *k)``, complex, by zero-order hold (exact for a piecewise-constant input)."""
        lam = torch.complex(self.lambda_re.clamp(max=-1e-4), self.lambda_im)
        lam_bar = torch.exp(lam * self.log_dt.exp())
        coef = (lam_bar - 1) / lam
        b_bar = coef.view(-1, *[1] * (self.B.ndim - 2)) * torch.view_as_complex(self.B)
        return lam_bar, b_bar

    def _input(self, u: Tensor, b_bar: Tensor) -> Tensor:
        """B̄ ∗ u: ``(n, U, *s)`` -> ``(n, P, *s)`` complex, as one real conv with stacked weights."""
        bu = conv(u, torch.cat([b_bar.real, b_bar.imag]), None, self.padding)
        P = b_bar.shape[0]
        return torch.complex(bu[:, :P], bu[:, P:])

    def _read_out(self, x: Tensor, u: Tensor) -> Tensor:
        """2·Re(C̃ ∗ x) + D ∗ u: x ``(n, P, *s)`` complex, u ``(n, U, *s)`` -> ``(n, U, *s)``."""
        c = torch.view_as_complex(self.C)
        y = conv(torch.cat([x.real, x.imag], 1), 2 * torch.cat([c.real, -c.imag], 1), None, self.padding)
        return y if self.D is None else y + self.D(u)

    def zero_state(self, batch: int, spatial: tuple[int, ...]) -> Tensor:
        """x = 0, ``(batch, 2P, *spatial)`` real."""
        return self.lambda_re.new_zeros(batch, self.state_channels, *spatial)

    def forward(self, u: Tensor, state: Tensor | None = None, backend: str | None = None) -> tuple[Tensor, Tensor]:
        """Parallel mode over a whole sequence.

        Args:
            u: inputs ``(B, T, U, *s)``.
            state: x_{−1} ``(B, 2P, *s)`` real, default zeros.
            backend: the `linear_scan` backend (None: Triton on CUDA, else the CPU path).

        Returns:
            y ``(B, T, U, *s)`` and the last state ``(B, 2P, *s)``.
        """
        lam_bar, b_bar = self.discretize()
        (Bsz, T), spatial = u.shape[:2], u.shape[3:]
        P, pixels = lam_bar.shape[0], math.prod(spatial)
        bu = self._input(u.flatten(0, 1), b_bar).reshape(Bsz, T, P * pixels)
        a = lam_bar[:, None].expand(P, pixels).reshape(-1)  # Ā over (channel, pixel), as the state's layout
        h0 = None if state is None else torch.complex(state[:, :P], state[:, P:]).reshape(Bsz, -1)
        x = linear_scan(a, bu, h0, backend=backend)  # (B, T, P·pixels)
        y = self._read_out(x.reshape(Bsz * T, P, *spatial), u.flatten(0, 1))
        last = x[:, -1].reshape(Bsz, P, *spatial)
        return y.reshape(Bsz, T, *y.shape[1:]), torch.cat([last.real, last.imag], 1)

    def step(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Recurrent mode, one frame: u ``(B, U, *s)``, state ``(B, 2P, *s)`` -> (y ``(B, U, *s)``, state)."""
        lam_bar, b_bar = self.discretize()
        P = lam_bar.shape[0]
        x = torch.complex(state[:, :P], state[:, P:])
        x = linear_scan_step(lam_bar.view(P, *[1] * (x.ndim - 2)), self._input(u, b_bar), x)
        return self._read_out(x, u), torch.cat([x.real, x.imag], 1)
