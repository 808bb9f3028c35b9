"""The Mamba-2 block: projections, a short causal convolution, the SSD scan and a gated RMSNorm.

Dao & Gu (2024), "Transformers are SSMs", arXiv 2405.21060, §7 (the Mamba-2 architecture).
Parameters and their initialization follow the defaults of ``mamba_ssm``'s ``Mamba2`` module
(A_log ~ log U[1, 16], dt log-uniform in [1e-3, 1e-1] stored as an inverse-softplus bias, D = 1,
no bias in the projections, a biased depthwise convolution of width 4, RMSNorm of y·silu(z)).
"""

from __future__ import annotations

import math
from typing import final

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynlearn._errors import ConfigError
from dynlearn.ops import ssd, ssd_step


@final
class Mamba2(nn.Module):
    """One Mamba-2 mixer block, (batch, L, d_model) -> (batch, L, d_model).

    Args:
        d_model: width of the input and output.
        d_state: N, state size per head.
        d_conv: width of the depthwise causal convolution over (x, B, C).
        expand: d_inner = expand · d_model.
        headdim: P; heads = d_inner / headdim.
        ngroups: groups sharing B and C (heads divisible by groups); the RMSNorm is per group.
        A_init_range, dt_min, dt_max, dt_init_floor: initialization of A = -exp(A_log) and dt.
        chunk_size: Q of the SSD scan.
        backend: passed to `ssd` (None: Triton on CUDA, else the PyTorch chunked path).
        generator: the generator of the random initialization (None: torch's default).
    """

    def __init__(self, d_model: int, d_state: int = 128, d_conv: int = 4, expand: int = 2,
                 headdim: int = 64, ngroups: int = 1, A_init_range: tuple[float, float] = (1, 16),
                 dt_min: float = 1e-3, dt_max: float = 0.1, dt_init_floor: float = 1e-4,
                 chunk_size: int = 256, backend: str | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        d_inner = expand * d_model
        if d_inner % headdim or (d_inner // headdim) % ngroups:
            raise ConfigError(f"Mamba2: expand*d_model={d_inner} must split into heads of "
                              f"headdim={headdim}, a multiple of ngroups={ngroups}; change headdim")
        self.d_inner, self.d_state, self.d_conv = d_inner, d_state, d_conv
        self.headdim, self.ngroups, self.nheads = headdim, ngroups, d_inner // headdim
        self.chunk_size, self.backend = chunk_size, backend
        self.conv_dim = d_inner + 2 * ngroups * d_state  # x, B, C go through the convolution
        self.in_proj = nn.Linear(d_model, d_inner + self.conv_dim + self.nheads, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim,
                                padding=d_conv - 1)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        self.norm_weight = nn.Parameter(torch.ones(d_inner))
        h = self.nheads
        u = torch.rand(h, generator=generator)
        dt = torch.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt)
        a = torch.empty(h).uniform_(*A_init_range, generator=generator)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(h))
        if generator is not None:  # the nn defaults draw from the global RNG; keep runs explicit
            for lin in (self.in_proj, self.conv1d, self.out_proj):
                bound = 1.0 / math.sqrt(lin.weight[0].numel())
                with torch.no_grad():
                    lin.weight.uniform_(-bound, bound, generator=generator)
                    if lin.bias is not None:
                        lin.bias.uniform_(-bound, bound, generator=generator)

    def _split(self, zxbcdt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return zxbcdt.split([self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _gated_norm(self, y: Tensor, z: Tensor) -> Tensor:
        """RMSNorm(y·silu(z)) over each group's channels, eps 1e-5."""
        y = y * F.silu(z)
        yg = y.unflatten(-1, (self.ngroups, -1))
        yg = yg * torch.rsqrt(yg.pow(2).mean(-1, keepdim=True) + 1e-5)
        return yg.flatten(-2) * self.norm_weight

    def _ssm_inputs(self, xbc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        gn = self.ngroups * self.d_state
        x, b, c = xbc.split([self.d_inner, gn, gn], dim=-1)
        return (x.unflatten(-1, (self.nheads, self.headdim)),
                b.unflatten(-1, (self.ngroups, self.d_state)),
                c.unflatten(-1, (self.ngroups, self.d_state)))

    def forward(self, u: Tensor) -> Tensor:
        """Parallel (chunked) form. u: (batch, L, d_model) -> (batch, L, d_model)."""
        length = u.shape[1]
        z, xbc, dt = self._split(self.in_proj(u))
        xbc = F.silu(self.conv1d(xbc.transpose(1, 2))[..., :length].transpose(1, 2))
        x, b, c = self._ssm_inputs(xbc)  # (B, L, H, P), (B, L, G, N) twice
        y = ssd(x, dt, -torch.exp(self.A_log), b, c, self.chunk_size, D=self.D,
                dt_bias=self.dt_bias, dt_softplus=True, backend=self.backend)
        return self.out_proj(self._gated_norm(y.flatten(-2), z))

    def allocate_state(self, batch: int, dtype: torch.dtype | None = None
                       ) -> tuple[Tensor, Tensor]:
        """Zero state for `step`: the convolution's last d_conv inputs (batch, conv_dim, d_conv)
        and the SSM state (batch, heads, headdim, d_state)."""
        w = self.in_proj.weight
        dtype = dtype or w.dtype
        return (torch.zeros(batch, self.conv_dim, self.d_conv, dtype=dtype, device=w.device),
                torch.zeros(batch, self.nheads, self.headdim, self.d_state, dtype=dtype,
                            device=w.device))

    def step(self, u_t: Tensor, state: tuple[Tensor, Tensor]
             ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One token. u_t: (batch, d_model) -> (y_t (batch, d_model), new state)."""
        conv_state, ssm_state = state
        z, xbc, dt = self._split(self.in_proj(u_t))
        conv_state = torch.cat([conv_state[..., 1:], xbc[..., None]], dim=-1)
        xbc = (conv_state * self.conv1d.weight[:, 0]).sum(-1) + self.conv1d.bias
        x, b, c = self._ssm_inputs(F.silu(xbc))
        y, ssm_state = ssd_step(ssm_state, x, dt, -torch.exp(self.A_log), b, c, D=self.D,
                                dt_bias=self.dt_bias, dt_softplus=True)
        return self.out_proj(self._gated_norm(y.flatten(-2), z)), (conv_state, ssm_state)
