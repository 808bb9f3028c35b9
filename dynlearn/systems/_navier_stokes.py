"""2-D incompressible Navier–Stokes on the torus, vorticity form, as Fourier-space terms."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, final

import numpy as np
import torch
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.solvers import make_imex_cn_heun_step, spin_up
from dynlearn.systems._base import SpectralPDE

_CITATIONS = {
    "fno": "Li et al. (2021), Fourier neural operator for parametric PDEs, ICLR",
    "kolmogorov": "Kochkov et al. (2021), PNAS 118(21):e2101784118; "
    "Boffetta & Ecke (2012), Annu. Rev. Fluid Mech. 44:427",
    "none": "",
}
_FORCINGS = {  # with k0 = 2π/L; on the configs' domains these are the papers' forcings
    "none": "f = 0",
    "fno": "f = 0.1 (sin k0(x+y) + cos k0(x+y)); Li et al. 2021 on [0,1]²",
    "kolmogorov": "velocity forcing sin(4 k0 y) x̂, i.e. f = −4 k0 cos(4 k0 y); on [0,2π]²",
}
_INITIAL_CONDITIONS = ("grf", "low_modes", "filtered_velocity")
# JAX-CFD's `filtered_velocity_field` defaults, which Φ-ROM's decaying-turbulence data use
# (phi-rom/PhiROM data/scripts/turbulence.py): a log-normal velocity filter peaked at angular
# wavenumber 3 (log variance 0.25), scaled to a peak speed of 1.
_PEAK_WAVENUMBER, _LOG_VARIANCE, _MAX_VELOCITY = 3.0, 0.25, 1.0
_SAMPLER_VERSION = 2  # in `to_dict`, so the data hash changes whenever the ω0 law does


def _like(z: Tensor, constants: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """The float64/complex128 `constants` on z's device, in z's precision (a no-op normally)."""
    real = z.real.dtype if z.is_complex() else z.dtype
    return tuple(c.to(z.device, z.dtype if c.is_complex() else real) for c in constants)


@final
class NavierStokes2D(SpectralPDE):
    """ω_t + u·∇ω = ν Δω − α ω + f on [0, L)², u = (∂_y ψ, −∂_x ψ), −Δψ = ω.

    Pseudo-spectral on an n×n grid, state ω (..., n, n) in physical space with index order
    (y, x) at x_j = jL/n. With real-FFT coefficients ω̂ (..., n, n//2+1) the linear operator is
    L̂ = −ν|k|² − α and the explicit term F(ω̂) = N(ω̂) + f̂ with N = −P(u·∇ω), where P keeps
    modes with |k_x|, |k_y| < n/3 (2/3 rule, applied to ω̂ before and to the product after),
    so the discrete advection conserves energy and enstrophy exactly. ψ has zero mean. Step it
    with `dynlearn.solvers.make_imex_cn_heun_step` (IMEX Crank–Nicolson / Heun, second order).
    FNO's own generator (Li et al. 2021) is first order instead: Crank–Nicolson for ν Δω with
    one explicit Euler step for advection and forcing, at dt = 1e-4 on 256², dealiasing only
    the product.

    This is a field: `dim` = n² degrees of freedom, `state_shape` = (n, n) and `state_names`
    names the one field variable. Tangent dynamics go through `jvp` / `vjp` (no n² × n² matrix).

    Args:
        n: grid points per side (even, ≥ 8).
        L: domain side length.
        nu: kinematic viscosity ν ≥ 0.
        alpha: linear drag α ≥ 0.
        forcing: "none", "fno" or "kolmogorov" (see `to_dict()["forcing"]`).
        dt: default step size (time units); check it with `cfl_dt`.
        initial_condition: "grf" (the FNO Gaussian random field), "low_modes", or
            "filtered_velocity" (JAX-CFD's random divergence-free velocity of peak speed 1, Φ-ROM's
            decaying turbulence; `filtered_velocity_filter`).
        transient_time: time integrated by `sample_initial_conditions`.

    Attributes:
        x: grid coordinates jL/n, (n,) (the same for y).
        wavenumbers: (k_y (n, 1), k_x (1, n//2+1)).
        linear: −ν|k|² − α, (n, n//2+1).
        forcing_hat: f̂, (n, n//2+1) complex.
    """

    name = "navier_stokes_2d"
    kind = "field2d"
    default_solver = "imex_cn_heun"
    state_names = ("vorticity",)
    challenges = (
        "2-D turbulence: an inverse energy cascade to large scales and a direct enstrophy cascade to "
        "the 2/3-rule cut-off; at low ν a 64² grid under-resolves the small scales, so learned models "
        "are judged on energy spectra and long-run statistics, not only on pointwise error"
    )

    def __init__(
        self,
        n: int = 64,
        *,
        L: float = 2 * math.pi,
        nu: float = 1e-3,
        alpha: float = 0.0,
        forcing: str = "none",
        dt: float = 1e-3,
        initial_condition: str = "grf",
        transient_time: float = 0.0,
    ) -> None:
        if n < 8 or n % 2 or L <= 0 or nu < 0 or alpha < 0 or dt <= 0:
            raise ConfigError(
                f"NavierStokes2D needs an even n >= 8, L > 0, nu >= 0, alpha >= 0 and dt > 0, "
                f"got n={n}, L={L}, nu={nu}, alpha={alpha}, dt={dt}"
            )
        if forcing not in _FORCINGS or initial_condition not in _INITIAL_CONDITIONS:
            raise ConfigError(
                f"unknown forcing {forcing!r} or initial_condition {initial_condition!r}; use "
                f"one of {sorted(_FORCINGS)} and one of {list(_INITIAL_CONDITIONS)}"
            )
        self.params = MappingProxyType(
            {"n": int(n), "L": float(L), "nu": float(nu), "alpha": float(alpha)}
        )
        self.n, self.dim = int(n), int(n) ** 2
        self.dt, self.forcing, self.transient_time = float(dt), forcing, float(transient_time)
        self.initial_condition = initial_condition
        k0 = 2 * math.pi / L
        modes_y = torch.fft.fftfreq(n, 1 / n, dtype=torch.float64)[:, None]  # (n, 1)
        modes_x = torch.fft.rfftfreq(n, 1 / n, dtype=torch.float64)[None, :]  # (1, n//2+1)
        ky, kx = k0 * modes_y, k0 * modes_x
        self.wavenumbers = (ky, kx)
        k2 = ky**2 + kx**2  # (n, n//2+1)
        self.linear = -nu * k2 - alpha
        inverse_laplacian = torch.where(k2 > 0, 1 / k2.clamp_min(k0**2), 0.0)  # ψ̂ mean 0
        # ω̂ -> û = i k_y ψ̂, v̂ = −i k_x ψ̂; odd derivatives drop the Nyquist modes (their
        # i·k·ω̂ is not a real field's).
        iky = 1j * torch.where(modes_y.abs() == n // 2, 0.0, ky)
        ikx = 1j * torch.where(modes_x == n // 2, 0.0, kx)
        self._to_velocity = (iky * inverse_laplacian, -ikx * inverse_laplacian)
        # `nonlinear`'s multipliers with the 2/3 mask P folded in: P ω̂ -> û, v̂, and the real
        # factors −P(∂x² − ∂y²), −P∂x∂y applied to the products.
        # Complex dtype throughout: a real factor would be promoted (copied) on every call.
        mask = ((modes_y.abs() < n / 3) & (modes_x < n / 3)).to(torch.float64)
        self._advection = (
            mask * torch.stack(self._to_velocity),  # (2, n, n//2+1)
            (mask * (kx**2 - ky**2)).to(torch.complex128),
            (mask * kx * ky).to(torch.complex128),
        )
        self.x = L * torch.arange(n, dtype=torch.float64) / n
        y, x = self.x[:, None], self.x[None, :]
        force = {
            "none": torch.zeros(n, n, dtype=torch.float64),
            "fno": 0.1 * (torch.sin(k0 * (x + y)) + torch.cos(k0 * (x + y))),
            "kolmogorov": -4 * k0 * torch.cos(4 * k0 * y).expand(n, n),
        }[forcing]
        self.forcing_hat = torch.fft.rfft2(force)

    @classmethod
    def fno(cls, nu: float = 1e-3, n: int = 64, dt: float = 1e-3) -> NavierStokes2D:
        """The FNO benchmark (Li et al. 2021): [0,1]², f = 0.1(sin + cos)2π(x+y), no drag, GRF ω0.

        ω0 has the law of FNO's GaussianRF(α = 2.5, τ = 7). The time stepping differs: FNO's
        generator takes Crank–Nicolson (viscosity) with explicit Euler (advection, forcing),
        first order in dt; ours is IMEX Crank–Nicolson / Heun, second order, so at the same dt
        it is the more accurate of the two, and both converge to the same solution.
        The paper's ν are 1e-3, 1e-4 and 1e-5; it generates at 256² with dt = 1e-4 and
        downsamples to 64² (at ν = 1e-5 a native 64² run is under-resolved: generate finer and
        downsample for comparable data). dt = 1e-3 keeps dt·max(|u_x| + |u_y|)/dx ≤ 0.06 at 64²
        up to t = 50 (measured over 8 draws: 0.024 for ν = 1e-3, 0.052 for ν = 1e-5), so
        ≈ 0.11 at 128².
        """
        return cls(n, L=1.0, nu=nu, forcing="fno", dt=dt, initial_condition="grf")

    @classmethod
    def kolmogorov(
        cls, n: int = 64, dt: float | None = None, transient_time: float = 50.0
    ) -> NavierStokes2D:
        """Kolmogorov flow (Kochkov et al. 2021): [0,2π]², sin(4y) x̂ forcing, α = 0.1, ν = 1e-3.

        dt defaults to 0.25·dx/7, half of jax-cfd's rule (Courant 0.5 at a peak speed of 7):
        at 64² the full rule (dt·max(|u_x| + |u_y|)/dx ≈ 0.45) lets Heun's weak instability at
        the under-resolved cut-off blow the run up within t = 50; with the half rule it stays
        ≤ 0.23 at 64² and 128². Initial states are random low-mode fields after
        `transient_time`.
        """
        dt = 0.25 * (2 * math.pi / n) / 7.0 if dt is None else dt
        return cls(n, nu=1e-3, alpha=0.1, forcing="kolmogorov", dt=dt,
                   initial_condition="low_modes", transient_time=transient_time)

    @property
    def equations(self) -> str:
        return ("ω_t + u·∇ω = ν Δω − α ω + f on [0, L)², u = (∂_y ψ, −∂_x ψ), −Δψ = ω; "
                + _FORCINGS[self.forcing])

    @property
    def lyapunov_time(self) -> float | None:
        return None

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.n, self.n)

    def coordinates(self) -> dict[str, np.ndarray]:
        return {"y": self.x.numpy(), "x": self.x.numpy()}

    def nonlinear(self, w_hat: Tensor) -> Tensor:
        """N(ω̂) = −P rfft2(u·∇ω) with u from P ω̂ (2/3 rule).

        Evaluated as u·∇ω = (∂x² − ∂y²)(u v) + ∂x∂y(v² − u²) (Basdevant 1983; div u = 0 and
        ω = ∂x v − ∂y u): 2 inverse and 2 forward FFTs instead of 4 + 1. With both products
        dealiased this is the exact truncation of the advection of the truncated field, the
        same as the advective form.

        Args:
            w_hat: rfft2 coefficients (..., n, n//2+1), complex.

        Returns:
            (..., n, n//2+1), complex.
        """
        to_velocity, a, b = _like(w_hat, self._advection)
        velocity = torch.fft.irfft2(to_velocity * w_hat.unsqueeze(-3), s=self.state_shape)
        u, v = velocity.unbind(-3)  # (..., n, n) each
        uv, vv_uu = torch.fft.rfft2(torch.stack((u * v, (v - u) * (v + u)), -3)).unbind(-3)
        return (a * uv).addcmul_(b, vv_uu)

    def velocity(self, w: Tensor) -> Tensor:
        """u = (∂_y ψ, −∂_x ψ) with −Δψ = ω, zero-mean ψ, without Nyquist modes.

        Args:
            w: vorticity (..., n, n).

        Returns:
            (u_x, u_y) stacked channels-first, (..., 2, n, n).
        """
        w_hat = torch.fft.rfft2(w)
        to_u, to_v = _like(w_hat, self._to_velocity)
        return torch.fft.irfft2(torch.stack((to_u * w_hat, to_v * w_hat), -3), s=self.state_shape)

    def cfl_dt(self, w: Tensor, cfl: float = 0.5) -> float:
        """The largest dt with dt·max(|u_x|/dx + |u_y|/dy) ≤ cfl over the whole batch.

        Heun's explicit stage is what limits dt; the configs' fixed dt should stay below
        `cfl_dt(w, 0.5)` along the trajectories (the tests check the stored configs).
        """
        dx = self.params["L"] / self.n
        speed = self.velocity(w).abs().sum(-3).amax()
        return math.inf if speed == 0 else float(cfl * dx / speed)

    def sample_initial_conditions(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        # Drawn on the CPU so one generator gives the same states on every device. Drawn for every
        # law, the filtered-velocity one included (which discards it): the ns_decaying stores and
        # figures in bench/RESULTS.md were generated in this order.
        white = torch.randn(n, self.n, self.n, generator=generator, dtype=torch.float64)
        ky, kx = self.wavenumbers
        k2 = ky**2 + kx**2
        if self.initial_condition == "filtered_velocity":
            w = self._filtered_velocity_vorticity(n, generator)
        elif self.initial_condition == "grf":
            # FNO's GaussianRF (Li et al. 2021, data_generation/navier_stokes/random_fields.py,
            # τ = 7, α = 2.5, σ = τ^(α − 1) = 7^1.5) draws ĉ_k = n²√2 σ(|k|² + τ²)^(−α/2)(ξ + iη)
            # on the full fftn grid, ξ, η ~ N(0, 1) each, ĉ_0 = 0, and keeps ω = Re ifftn(ĉ).
            # Then fft2(ω)_k = (ĉ_k + conj ĉ_−k)/2, so E|ω̂_k|²/n⁴ = 2σ²(|k|² + τ²)^(−α) for every
            # k ≠ 0, and ω is the stationary Gaussian field of that spectrum. Real white noise
            # has E|rfft2(W)_k|² = n², so the filter n·√2 σ(|k|² + τ²)^(−α/2) gives the same
            # spectrum, hence the same law (without the √2, half FNO's variance: sampler v1).
            spectrum = math.sqrt(2) * 7.0**1.5 * (k2 + 49.0) ** -1.25 * (k2 > 0)
        else:
            # Modes 1 ≤ |k|/k0 ≤ 4, vorticity amplitudes ∝ 1/|k|, rescaled to rms 4 below.
            shell = k2.sqrt() / (2 * math.pi / self.params["L"])
            spectrum = ((shell >= 0.5) & (shell <= 4.5)) / shell.clamp_min(1)
        if self.initial_condition != "filtered_velocity":
            w = torch.fft.irfft2(torch.fft.rfft2(white) * spectrum * self.n, s=self.state_shape)
        if self.initial_condition == "low_modes":
            w = w * (4.0 / w.pow(2).mean((-2, -1), keepdim=True).sqrt())  # rms vorticity 4
        if self.transient_time > 0:
            w = spin_up(make_imex_cn_heun_step(self), w, round(self.transient_time / self.dt))
        if not torch.isfinite(w).all():
            raise ConfigError(f"{self!r} diverged during its transient; use a smaller dt")
        return w.to(dtype=dtype, device=device)

    def filtered_velocity_filter(self) -> Tensor:
        """JAX-CFD's velocity filter on the rfft2 modes: a log-normal density in |k| (mode 3, log
        variance 1/4) divided by |k| (the circumference of the shell), 0 at k = 0, (n, n//2+1)."""
        ky, kx = self.wavenumbers
        k = (ky**2 + kx**2).sqrt()
        safe = k.clamp_min(1e-12)
        mean = math.log(_PEAK_WAVENUMBER) + _LOG_VARIANCE
        density = torch.exp(-((mean - safe.log()) ** 2) / 2 / _LOG_VARIANCE - safe.log())
        return torch.where(k > 0, density / safe, 0.0)

    def _filtered_velocity_vorticity(self, n: int, generator: torch.Generator) -> Tensor:
        """JAX-CFD's `filtered_velocity_field` in vorticity form: two white-noise velocity components
        filtered by `filtered_velocity_filter`, made divergence-free (here by the exact spectral
        projection; JAX-CFD projects with finite differences on its staggered grid), the vorticity
        ω = ∂x v − ∂y u, scaled so that the largest speed on the grid is 1."""
        white = torch.randn(n, 2, self.n, self.n, generator=generator, dtype=torch.float64)
        velocity_hat = torch.fft.rfft2(white) * self.filtered_velocity_filter()
        ky, kx = self.wavenumbers
        # The curl keeps only the divergence-free part, so no projection is needed before it.
        w = torch.fft.irfft2(1j * kx * velocity_hat[:, 1] - 1j * ky * velocity_hat[:, 0], s=self.state_shape)
        speed = self.velocity(w).pow(2).sum(-3).sqrt().amax(dim=(-2, -1), keepdim=True)
        return w * (_MAX_VELOCITY / speed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": dict(self.params),
            "n": self.n,
            "domain_length": self.params["L"],
            "dt": self.dt,
            "solver": "imex_cn_heun",
            "solver_order": 2,
            "dealias": "2/3 rule",
            "forcing": self.forcing,
            "forcing_description": _FORCINGS[self.forcing],
            "initial_condition": self.initial_condition,
            # 2: the "grf" variance fixed to FNO's (v1 drew half of it); stores made by v1 differ.
            "sampler_version": _SAMPLER_VERSION,
            "transient_time": self.transient_time,
            "lyapunov_time": self.lyapunov_time,
            "citation": _CITATIONS[self.forcing],
        }

    def __repr__(self) -> str:
        p = self.params
        return (f"NavierStokes2D(n={self.n}, L={p['L']!r}, nu={p['nu']!r}, alpha={p['alpha']!r}, "
                f"forcing={self.forcing!r}, dt={self.dt!r})")
