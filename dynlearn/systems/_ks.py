"""The Kuramoto–Sivashinsky equation as Fourier-space terms; stepped by ETDRK4."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, final

import numpy as np
import torch
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.solvers import make_etdrk4_step, spin_up
from dynlearn.systems._base import SpectralPDE

# λ1 by domain length: 0.048 at L = 22 (Cvitanović, Davidchack & Siminos 2010), 0.094 at
# L = 100 (Vlachas et al. 2020), about 0.1 at L = 200 (Pathak et al. 2018).
_LEADING_EXPONENT = {22.0: 0.048, 100.0: 0.094, 200.0: 0.1}
_CITATION = (
    "Kassam & Trefethen (2005), SIAM J. Sci. Comput. 26(4):1214; "
    "Cvitanović, Davidchack & Siminos (2010), SIAM J. Appl. Dyn. Syst. 9(1):1"
)


@final
class KuramotoSivashinsky(SpectralPDE):
    """u_t = −u u_x − u_xx − u_xxxx on a periodic domain [0, L), N grid points.

    Pseudo-spectral: with k = 2πn/L (real-FFT modes n = 0..N/2), the linear operator is
    L̂ = k² − k⁴ and the nonlinear term N(û) = −(ik/2)·rfft(u²). The state is the field in
    physical space at x_j = jL/N, u (..., N) float64. Explicit RK is unstable at useful dt
    (|L̂| reaches ~7000 at L = 22, N = 64): step with `dynlearn.solvers.make_etdrk4_step`.

    Dealiasing is off by default, as in Kassam & Trefethen (2005): the k⁴ damping leaves the
    top modes at round-off on the attractor, so aliasing errors are negligible at N = 64 for
    L = 22. With ``dealias=True`` the 2/3 rule truncates û and N(û) to |n| < N/3. The
    Nyquist mode takes the full k in L̂ (it is strongly damped) but k = 0 in ∂_x, the usual
    choice for odd derivatives. The spatial mean (n = 0) is conserved exactly.

    Args:
        L: domain length (22 is the length, not L/2π).
        N: grid points (even).
        dt: default step size (time units).
        dealias: apply the 2/3 rule to the nonlinear term.
        transient_time: time integrated by `sample_initial_conditions`.

    Attributes:
        wavenumbers: k, (N // 2 + 1,).
        linear: k² − k⁴, (N // 2 + 1,).
    """

    name = "ks"
    equations = "u_t = −u u_x − u_xx − u_xxxx on a periodic domain [0, L), N grid points."
    kind = "field1d"
    default_solver = "etdrk4"
    challenges = (
        "spatiotemporal chaos: the number of positive Lyapunov exponents grows with L (one at L = 22); "
        "the k⁴ term is stiff (explicit steppers need dt ~ (L/N)⁴), and the strongly damped small scales "
        "make errors visible first in the tail of the energy spectrum"
    )

    def __init__(
        self,
        L: float = 22.0,
        N: int = 64,
        *,
        dt: float = 0.25,
        dealias: bool = False,
        transient_time: float = 500.0,
    ) -> None:
        if L <= 0 or N < 4 or N % 2:
            raise ConfigError(f"KS needs L > 0 and an even N >= 4, got L={L}, N={N}")
        self.params = MappingProxyType({"L": float(L), "N": int(N)})
        self.dim = int(N)
        self.dt = dt
        self.dealias = dealias
        self.transient_time = transient_time
        self.state_names = tuple(f"u{j}" for j in range(N))
        k = 2 * math.pi * torch.fft.rfftfreq(N, d=L / N, dtype=torch.float64)  # (K,)
        self.wavenumbers = k
        self.linear = k**2 - k**4
        ik = 1j * torch.cat([k[:-1], k.new_zeros(1)])  # ∂_x, Nyquist zeroed
        self._half_ik = -0.5 * ik  # N(û) = −(ik/2)·rfft(u²), formed once, not per call
        modes = torch.arange(k.shape[0])
        self._mask = (modes < N / 3).to(torch.float64) if dealias else None

    @property
    def lyapunov_time(self) -> float | None:
        """1/λ1 for the standard domains (reference/data_metrics.md §2.3), else None."""
        lam = _LEADING_EXPONENT.get(self.params["L"])
        return None if lam is None else 1 / lam

    def coordinates(self) -> dict[str, np.ndarray]:
        return {"x": np.arange(self.dim) * (self.params["L"] / self.dim)}

    def nonlinear(self, u_hat: Tensor) -> Tensor:
        """N(û) = −(ik/2)·rfft(u²), optionally 2/3-dealiased.

        Args:
            u_hat: real-FFT coefficients (..., N // 2 + 1), complex.

        Returns:
            (..., N // 2 + 1), complex.
        """
        if self._mask is not None:
            u_hat = self._mask * u_hat
        u = torch.fft.irfft(u_hat, n=self.dim)
        n_hat = self._half_ik * torch.fft.rfft(u * u)
        return n_hat if self._mask is None else self._mask * n_hat

    def sample_initial_conditions(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        # Small zero-mean fields in the four lowest modes, drawn on the CPU so a generator
        # gives the same states on every device, then a transient onto the attractor.
        coefficients = 0.1 * torch.randn(n, 4, 2, generator=generator, dtype=torch.float64)
        u_hat = torch.zeros(n, self.dim // 2 + 1, dtype=torch.complex128)
        u_hat[:, 1:5] = torch.view_as_complex(coefficients) * (self.dim / 2)
        u = torch.fft.irfft(u_hat, n=self.dim)
        u = spin_up(make_etdrk4_step(self), u, round(self.transient_time / self.dt))
        if not torch.isfinite(u).all():
            raise ConfigError(f"{self!r} diverged during its transient; use a smaller dt")
        return u.to(dtype=dtype, device=device)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": dict(self.params),
            "dim": self.dim,
            "dt": self.dt,
            "solver": "etdrk4",
            "dealias": self.dealias,
            "lyapunov_time": self.lyapunov_time,
            # 2: generated on Fourier modes (SpectralStep rollout), equal to v1 up to rounding per step
            "solver_version": 2,
            "transient_time": self.transient_time,
            "citation": _CITATION,
        }

    def __repr__(self) -> str:
        return f"KuramotoSivashinsky(L={self.params['L']!r}, N={self.dim}, dt={self.dt!r})"
