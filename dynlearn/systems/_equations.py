"""Right-hand sides and Jacobians of the catalogue ODEs, keyed by catalogue name.

Each ``rhs(t, x, **params)`` and ``jacobian(x, **params)`` takes its parameters as keyword-only
arguments named exactly as in catalog.yaml, so values are bound by name and a renamed or
missing parameter fails loudly. States are batched over leading dimensions: x is (..., D).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Equations:
    """The vector field of one catalogue system.

    Attributes:
        rhs: ``rhs(t, x, **params) -> dx/dt``, x (..., D) -> (..., D).
        jacobian: ``jacobian(x, **params) -> d rhs / dx``, x (..., D) -> (..., D, D).
        min_dim: the smallest state dimension the equations make sense for.
    """

    rhs: Callable[..., Tensor]
    jacobian: Callable[..., Tensor]
    min_dim: int = 1


def _matrix(entries: tuple[Tensor, ...]) -> Tensor:
    """n² (...,) entries in row-major order -> (..., n, n)."""
    n = math.isqrt(len(entries))
    return torch.stack(entries, dim=-1).unflatten(-1, (n, n))


def lorenz63_rhs(t: Tensor | float, x: Tensor, *, sigma: float, rho: float, beta: float) -> Tensor:
    """Lorenz (1963): x' = σ(y − x), y' = x(ρ − z) − y, z' = xy − βz."""
    x_, y, z = x.unbind(-1)
    return torch.stack((sigma * (y - x_), x_ * (rho - z) - y, x_ * y - beta * z), dim=-1)


def lorenz63_jacobian(x: Tensor, *, sigma: float, rho: float, beta: float) -> Tensor:
    """Jacobian of `lorenz63_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero - sigma, zero + sigma, zero,
        rho - z,      zero - 1.0,   -x_,
        y,            x_,           zero - beta,
    ))
    # fmt: on


def rossler_rhs(t: Tensor | float, x: Tensor, *, a: float, b: float, c: float) -> Tensor:
    """Rössler (1976): x' = −y − z, y' = x + ay, z' = b + z(x − c)."""
    x_, y, z = x.unbind(-1)
    return torch.stack((-y - z, x_ + a * y, b + z * (x_ - c)), dim=-1)


def rossler_jacobian(x: Tensor, *, a: float, b: float, c: float) -> Tensor:
    """Jacobian of `rossler_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero,       zero - 1.0, zero - 1.0,
        zero + 1.0, zero + a,   zero,
        z,          zero,       x_ - c,
    ))
    # fmt: on


def lorenz96_rhs(t: Tensor | float, x: Tensor, *, n: int, F: float) -> Tensor:
    """Lorenz (1996): x_i' = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F, indices mod n."""
    # n is the state dimension; it is a parameter only so that the catalogue can set it.
    return (x.roll(-1, -1) - x.roll(2, -1)) * x.roll(1, -1) - x + F


def lorenz96_jacobian(x: Tensor, *, n: int, F: float) -> Tensor:
    """Jacobian of `lorenz96_rhs`, (..., n, n); four nonzero diagonals (needs n >= 4)."""
    i = torch.arange(n, device=x.device)
    jac = x.new_zeros(*x.shape, n)
    jac[..., i, (i + 1) % n] = x.roll(1, -1)
    jac[..., i, (i - 1) % n] = x.roll(-1, -1) - x.roll(2, -1)
    jac[..., i, (i - 2) % n] = -x.roll(1, -1)
    jac[..., i, i] = -1.0
    return jac


def chen_rhs(t: Tensor | float, x: Tensor, *, a: float, b: float, c: float) -> Tensor:
    """Chen (1999): x' = a(y − x), y' = (c − a)x − xz + cy, z' = xy − bz."""
    x_, y, z = x.unbind(-1)
    return torch.stack((a * (y - x_), (c - a) * x_ - x_ * z + c * y, x_ * y - b * z), dim=-1)


def chen_jacobian(x: Tensor, *, a: float, b: float, c: float) -> Tensor:
    """Jacobian of `chen_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero - a,  zero + a, zero,
        c - a - z, zero + c, -x_,
        y,         x_,       zero - b,
    ))
    # fmt: on


def chua_rhs(
    t: Tensor | float, x: Tensor, *, alpha: float, beta: float, m0: float, m1: float
) -> Tensor:
    """Chua's circuit, piecewise-linear diode: x' = α(y − x − g(x)), y' = x − y + z, z' = −βy,
    g(x) = m1 x + (m0 − m1)(|x + 1| − |x − 1|)/2."""
    x_, y, z = x.unbind(-1)
    g = m1 * x_ + 0.5 * (m0 - m1) * ((x_ + 1).abs() - (x_ - 1).abs())
    return torch.stack((alpha * (y - x_ - g), x_ - y + z, -beta * y), dim=-1)


def chua_jacobian(x: Tensor, *, alpha: float, beta: float, m0: float, m1: float) -> Tensor:
    """Jacobian of `chua_rhs`, (..., 3, 3); piecewise constant (g' = m0 inside |x| < 1)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    slope = torch.where(x_.abs() < 1, zero + m0, zero + m1)
    # fmt: off
    return _matrix((
        -alpha * (1 + slope), zero + alpha, zero,
        zero + 1.0,           zero - 1.0,   zero + 1.0,
        zero,                 zero - beta,  zero,
    ))
    # fmt: on


def sprott_f_rhs(t: Tensor | float, x: Tensor, *, a: float) -> Tensor:
    """Sprott (1994) case F: x' = y + z, y' = −x + ay, z' = x² − z."""
    x_, y, z = x.unbind(-1)
    return torch.stack((y + z, -x_ + a * y, x_ * x_ - z), dim=-1)


def sprott_f_jacobian(x: Tensor, *, a: float) -> Tensor:
    """Jacobian of `sprott_f_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero,       zero + 1.0, zero + 1.0,
        zero - 1.0, zero + a,   zero,
        2 * x_,     zero,       zero - 1.0,
    ))
    # fmt: on


def sprott_g_rhs(t: Tensor | float, x: Tensor, *, a: float) -> Tensor:
    """Sprott (1994) case G: x' = ax + z, y' = xz − y, z' = −x + y."""
    x_, y, z = x.unbind(-1)
    return torch.stack((a * x_ + z, x_ * z - y, -x_ + y), dim=-1)


def sprott_g_jacobian(x: Tensor, *, a: float) -> Tensor:
    """Jacobian of `sprott_g_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero + a,   zero,       zero + 1.0,
        z,          zero - 1.0, x_,
        zero - 1.0, zero + 1.0, zero,
    ))
    # fmt: on


def sprott_k_rhs(t: Tensor | float, x: Tensor, *, a: float) -> Tensor:
    """Sprott (1994) case K: x' = xy − z, y' = x − y, z' = x + az."""
    x_, y, z = x.unbind(-1)
    return torch.stack((x_ * y - z, x_ - y, x_ + a * z), dim=-1)


def sprott_k_jacobian(x: Tensor, *, a: float) -> Tensor:
    """Jacobian of `sprott_k_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        y,          x_,         zero - 1.0,
        zero + 1.0, zero - 1.0, zero,
        zero + 1.0, zero,       zero + a,
    ))
    # fmt: on


def sprott_s_rhs(t: Tensor | float, x: Tensor, *, a: float) -> Tensor:
    """Sprott (1994) case S: x' = −x − ay, y' = x + z², z' = 1 + x."""
    x_, y, z = x.unbind(-1)
    return torch.stack((-x_ - a * y, x_ + z * z, 1 + x_), dim=-1)


def sprott_s_jacobian(x: Tensor, *, a: float) -> Tensor:
    """Jacobian of `sprott_s_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero - 1.0, zero - a, zero,
        zero + 1.0, zero,     2 * z,
        zero + 1.0, zero,     zero,
    ))
    # fmt: on


def thomas_rhs(t: Tensor | float, x: Tensor, *, b: float) -> Tensor:
    """Thomas (1999): x' = sin y − bx, y' = sin z − by, z' = sin x − bz."""
    x_, y, z = x.unbind(-1)
    return torch.stack((y.sin() - b * x_, z.sin() - b * y, x_.sin() - b * z), dim=-1)


def thomas_jacobian(x: Tensor, *, b: float) -> Tensor:
    """Jacobian of `thomas_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero - b, y.cos(), zero,
        zero,     zero - b, z.cos(),
        x_.cos(), zero,     zero - b,
    ))
    # fmt: on


def aizawa_rhs(
    t: Tensor | float, x: Tensor, *, a: float, b: float, c: float, d: float, e: float, f: float
) -> Tensor:
    """Aizawa: x' = (z − b)x − dy, y' = dx + (z − b)y,
    z' = c + az − z³/3 − (x² + y²)(1 + ez) + fzx³."""
    x_, y, z = x.unbind(-1)
    r2 = x_ * x_ + y * y
    dz = c + a * z - z**3 / 3 - r2 * (1 + e * z) + f * z * x_**3
    return torch.stack(((z - b) * x_ - d * y, d * x_ + (z - b) * y, dz), dim=-1)


def aizawa_jacobian(
    x: Tensor, *, a: float, b: float, c: float, d: float, e: float, f: float
) -> Tensor:
    """Jacobian of `aizawa_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        z - b,                                  zero - d,            x_,
        zero + d,                               z - b,               y,
        -2 * x_ * (1 + e * z) + 3 * f * z * x_**2, -2 * y * (1 + e * z),
        a - z * z - e * (x_ * x_ + y * y) + f * x_**3,
    ))
    # fmt: on


def halvorsen_rhs(t: Tensor | float, x: Tensor, *, a: float) -> Tensor:
    """Halvorsen: x' = −ax − 4y − 4z − y², and cyclically for y and z."""
    x_, y, z = x.unbind(-1)
    return torch.stack(
        (
            -a * x_ - 4 * y - 4 * z - y * y,
            -a * y - 4 * z - 4 * x_ - z * z,
            -a * z - 4 * x_ - 4 * y - x_ * x_,
        ),
        dim=-1,
    )


def halvorsen_jacobian(x: Tensor, *, a: float) -> Tensor:
    """Jacobian of `halvorsen_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero - a,     -4 - 2 * y, zero - 4,
        zero - 4,     zero - a,   -4 - 2 * z,
        -4 - 2 * x_,  zero - 4,   zero - a,
    ))
    # fmt: on


def rabinovich_fabrikant_rhs(t: Tensor | float, x: Tensor, *, alpha: float, gamma: float) -> Tensor:
    """Rabinovich & Fabrikant (1979): x' = y(z − 1 + x²) + γx, y' = x(3z + 1 − x²) + γy,
    z' = −2z(α + xy)."""
    x_, y, z = x.unbind(-1)
    return torch.stack(
        (
            y * (z - 1 + x_ * x_) + gamma * x_,
            x_ * (3 * z + 1 - x_ * x_) + gamma * y,
            -2 * z * (alpha + x_ * y),
        ),
        dim=-1,
    )


def rabinovich_fabrikant_jacobian(x: Tensor, *, alpha: float, gamma: float) -> Tensor:
    """Jacobian of `rabinovich_fabrikant_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        2 * x_ * y + gamma,      z - 1 + x_ * x_, y,
        3 * z + 1 - 3 * x_ * x_, zero + gamma,    3 * x_,
        -2 * z * y,              -2 * z * x_,     -2 * (alpha + x_ * y),
    ))
    # fmt: on


def hindmarsh_rose_rhs(
    t: Tensor | float,
    x: Tensor,
    *,
    a: float,
    b: float,
    c: float,
    d: float,
    r: float,
    s: float,
    x_rest: float,
    current: float,
) -> Tensor:
    """Hindmarsh & Rose (1984): x' = y − ax³ + bx² − z + I, y' = c − dx² − y,
    z' = r(s(x − x_rest) − z)."""
    x_, y, z = x.unbind(-1)
    return torch.stack(
        (
            y - a * x_**3 + b * x_ * x_ - z + current,
            c - d * x_ * x_ - y,
            r * (s * (x_ - x_rest) - z),
        ),
        dim=-1,
    )


def hindmarsh_rose_jacobian(
    x: Tensor,
    *,
    a: float,
    b: float,
    c: float,
    d: float,
    r: float,
    s: float,
    x_rest: float,
    current: float,
) -> Tensor:
    """Jacobian of `hindmarsh_rose_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        -3 * a * x_ * x_ + 2 * b * x_, zero + 1.0, zero - 1.0,
        -2 * d * x_,                   zero - 1.0, zero,
        zero + r * s,                  zero,       zero - r,
    ))
    # fmt: on


def duffing_rhs(
    t: Tensor | float,
    x: Tensor,
    *,
    delta: float,
    alpha: float,
    beta: float,
    gamma: float,
    omega: float,
) -> Tensor:
    """Forced Duffing oscillator made autonomous with the forcing phase φ stored as
    (c, s) = (cos φ, sin φ): x' = v, v' = −δv − αx − βx³ + γc, c' = −ωs, s' = ωc.

    The phase rotates on the unit circle c² + s² = 1, which the flow keeps invariant, so stored
    states stay bounded and stationary (the angle φ itself would grow without bound).
    """
    x_, v, c, s = x.unbind(-1)
    dv = -delta * v - alpha * x_ - beta * x_**3 + gamma * c
    return torch.stack((v, dv, -omega * s, omega * c), dim=-1)


def duffing_jacobian(
    x: Tensor, *, delta: float, alpha: float, beta: float, gamma: float, omega: float
) -> Tensor:
    """Jacobian of `duffing_rhs`, (..., 4, 4)."""
    x_, v, c, s = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero,                        zero + 1.0,   zero,         zero,
        -alpha - 3 * beta * x_ * x_, zero - delta, zero + gamma, zero,
        zero,                        zero,         zero,         zero - omega,
        zero,                        zero,         zero + omega, zero,
    ))
    # fmt: on


def duffing_unforced_rhs(t: Tensor | float, x: Tensor, *, alpha: float, beta: float) -> Tensor:
    """Unforced, undamped Duffing oscillator x'' = −αx − βx³ as x' = v, v' = −αx − βx³; with
    α = −1, β = 1 a double well: centres at (±1, 0), a saddle at the origin, every orbit closed."""
    x_, v = x.unbind(-1)
    return torch.stack((v, -alpha * x_ - beta * x_**3), dim=-1)


def duffing_unforced_jacobian(x: Tensor, *, alpha: float, beta: float) -> Tensor:
    """Jacobian of `duffing_unforced_rhs`, (..., 2, 2)."""
    x_, v = x.unbind(-1)
    zero = torch.zeros_like(x_)
    return _matrix((zero, zero + 1.0, -alpha - 3 * beta * x_ * x_, zero))


def van_der_pol_rhs(t: Tensor | float, x: Tensor, *, mu: float) -> Tensor:
    """Van der Pol (1926): x' = y, y' = μ(1 − x²)y − x."""
    x_, y = x.unbind(-1)
    return torch.stack((y, mu * (1 - x_ * x_) * y - x_), dim=-1)


def van_der_pol_jacobian(x: Tensor, *, mu: float) -> Tensor:
    """Jacobian of `van_der_pol_rhs`, (..., 2, 2)."""
    x_, y = x.unbind(-1)
    zero = torch.zeros_like(x_)
    return _matrix((zero, zero + 1.0, -2 * mu * x_ * y - 1, mu * (1 - x_ * x_)))


def pendulum_rhs(
    t: Tensor | float, x: Tensor, *, damping: float, amplitude: float, drive_frequency: float
) -> Tensor:
    """Damped driven pendulum, θ'' = −bθ' − sin θ + A cos φ with drive phase φ' = Ω, the angles
    stored as points on circles: state (cos θ, sin θ, ω, cos φ, sin φ) with
    (cos θ)' = −ω sin θ, (sin θ)' = ω cos θ, ω' = −bω − sin θ + A cos φ,
    (cos φ)' = −Ω sin φ, (sin φ)' = Ω cos φ.

    Both unit circles are invariant under the flow; stored states stay stationary where θ
    (the pendulum rolls over) and φ would grow without bound.
    """
    c_theta, s_theta, omega, c_phi, s_phi = x.unbind(-1)
    domega = -damping * omega - s_theta + amplitude * c_phi
    return torch.stack(
        (
            -omega * s_theta,
            omega * c_theta,
            domega,
            -drive_frequency * s_phi,
            drive_frequency * c_phi,
        ),
        dim=-1,
    )


def pendulum_jacobian(
    x: Tensor, *, damping: float, amplitude: float, drive_frequency: float
) -> Tensor:
    """Jacobian of `pendulum_rhs`, (..., 5, 5)."""
    c_theta, s_theta, omega, c_phi, s_phi = x.unbind(-1)
    zero = torch.zeros_like(omega)
    frequency = zero + drive_frequency
    # fmt: off
    return _matrix((
        zero,  -omega,     -s_theta,       zero,             zero,
        omega, zero,       c_theta,        zero,             zero,
        zero,  zero - 1.0, zero - damping, zero + amplitude, zero,
        zero,  zero,       zero,           zero,             -frequency,
        zero,  zero,       zero,           frequency,        zero,
    ))
    # fmt: on


def pendulum_unforced_rhs(t: Tensor | float, x: Tensor, *, g_over_l: float) -> Tensor:
    """Frictionless pendulum θ'' = −(g/l) sin θ as θ' = ω, ω' = −(g/l) sin θ, the angle θ stored
    as itself: the catalogue's initial conditions swing (never roll over), so θ stays bounded."""
    theta, omega = x.unbind(-1)
    return torch.stack((omega, -g_over_l * torch.sin(theta)), dim=-1)


def pendulum_unforced_jacobian(x: Tensor, *, g_over_l: float) -> Tensor:
    """Jacobian of `pendulum_unforced_rhs`, (..., 2, 2)."""
    theta, omega = x.unbind(-1)
    zero = torch.zeros_like(theta)
    return _matrix((zero, zero + 1.0, -g_over_l * torch.cos(theta), zero))


def lotka_volterra_rhs(
    t: Tensor | float, x: Tensor, *, alpha: float, beta: float, gamma: float, delta: float
) -> Tensor:
    """Lotka–Volterra predator–prey: x' = αx − βxy, y' = δxy − γy."""
    x_, y = x.unbind(-1)
    return torch.stack((alpha * x_ - beta * x_ * y, delta * x_ * y - gamma * y), dim=-1)


def lotka_volterra_jacobian(
    x: Tensor, *, alpha: float, beta: float, gamma: float, delta: float
) -> Tensor:
    """Jacobian of `lotka_volterra_rhs`, (..., 2, 2)."""
    x_, y = x.unbind(-1)
    return _matrix((alpha - beta * y, -beta * x_, delta * y, delta * x_ - gamma))


def lorenz84_rhs(t: Tensor | float, x: Tensor, *, a: float, b: float, F: float, G: float) -> Tensor:
    """Lorenz (1984): x' = −y² − z² − ax + aF, y' = xy − bxz − y + G, z' = bxy + xz − z."""
    x_, y, z = x.unbind(-1)
    return torch.stack(
        (
            -y * y - z * z - a * x_ + a * F,
            x_ * y - b * x_ * z - y + G,
            b * x_ * y + x_ * z - z,
        ),
        dim=-1,
    )


def lorenz84_jacobian(x: Tensor, *, a: float, b: float, F: float, G: float) -> Tensor:
    """Jacobian of `lorenz84_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero - a,  -2 * y,  -2 * z,
        y - b * z, x_ - 1,  -b * x_,
        b * y + z, b * x_,  x_ - 1,
    ))
    # fmt: on


def genesio_tesi_rhs(t: Tensor | float, x: Tensor, *, a: float, b: float, c: float) -> Tensor:
    """Genesio & Tesi (1992): x' = y, y' = z, z' = −cx − by − az + x²."""
    x_, y, z = x.unbind(-1)
    return torch.stack((y, z, -c * x_ - b * y - a * z + x_ * x_), dim=-1)


def genesio_tesi_jacobian(x: Tensor, *, a: float, b: float, c: float) -> Tensor:
    """Jacobian of `genesio_tesi_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero,       zero + 1.0, zero,
        zero,       zero,       zero + 1.0,
        2 * x_ - c, zero - b,   zero - a,
    ))
    # fmt: on


def dadras_rhs(
    t: Tensor | float, x: Tensor, *, a: float, b: float, c: float, d: float, e: float
) -> Tensor:
    """Dadras & Momeni (2009): x' = y − ax + byz, y' = cy − xz + z, z' = dxy − ez."""
    x_, y, z = x.unbind(-1)
    return torch.stack(
        (y - a * x_ + b * y * z, c * y - x_ * z + z, d * x_ * y - e * z), dim=-1
    )


def dadras_jacobian(x: Tensor, *, a: float, b: float, c: float, d: float, e: float) -> Tensor:
    """Jacobian of `dadras_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero - a, 1 + b * z, b * y,
        -z,       zero + c,  1 - x_,
        d * y,    d * x_,    zero - e,
    ))
    # fmt: on


def rucklidge_rhs(t: Tensor | float, x: Tensor, *, kappa: float, lam: float) -> Tensor:
    """Rucklidge (1992): x' = −κx + λy − yz, y' = x, z' = −z + y²."""
    x_, y, z = x.unbind(-1)
    return torch.stack((-kappa * x_ + lam * y - y * z, x_, -z + y * y), dim=-1)


def rucklidge_jacobian(x: Tensor, *, kappa: float, lam: float) -> Tensor:
    """Jacobian of `rucklidge_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero - kappa, lam - z, -y,
        zero + 1.0,   zero,    zero,
        zero,         2 * y,   zero - 1.0,
    ))
    # fmt: on


def burke_shaw_rhs(t: Tensor | float, x: Tensor, *, s: float, v: float) -> Tensor:
    """Burke–Shaw (Shaw 1981): x' = −s(x + y), y' = −y − sxz, z' = sxy + v."""
    x_, y, z = x.unbind(-1)
    return torch.stack((-s * (x_ + y), -y - s * x_ * z, s * x_ * y + v), dim=-1)


def burke_shaw_jacobian(x: Tensor, *, s: float, v: float) -> Tensor:
    """Jacobian of `burke_shaw_rhs`, (..., 3, 3)."""
    x_, y, z = x.unbind(-1)
    zero = torch.zeros_like(x_)
    # fmt: off
    return _matrix((
        zero - s, zero - s,   zero,
        -s * z,   zero - 1.0, -s * x_,
        s * y,    s * x_,     zero,
    ))
    # fmt: on


def brusselator_rhs(t: Tensor | float, x: Tensor, *, a: float, b: float) -> Tensor:
    """Brusselator (Prigogine & Lefever 1968): x' = a − (b + 1)x + x²y, y' = bx − x²y."""
    x_, y = x.unbind(-1)
    x2y = x_ * x_ * y
    return torch.stack((a - (b + 1) * x_ + x2y, b * x_ - x2y), dim=-1)


def brusselator_jacobian(x: Tensor, *, a: float, b: float) -> Tensor:
    """Jacobian of `brusselator_rhs`, (..., 2, 2)."""
    x_, y = x.unbind(-1)
    return _matrix((-(b + 1) + 2 * x_ * y, x_ * x_, b - 2 * x_ * y, -x_ * x_))


def fitzhugh_nagumo_rhs(
    t: Tensor | float, x: Tensor, *, a: float, b: float, epsilon: float, current: float
) -> Tensor:
    """FitzHugh (1961)–Nagumo: v' = v − v³/3 − w + I, w' = ε(v + a − bw)."""
    v, w = x.unbind(-1)
    return torch.stack((v - v**3 / 3 - w + current, epsilon * (v + a - b * w)), dim=-1)


def fitzhugh_nagumo_jacobian(
    x: Tensor, *, a: float, b: float, epsilon: float, current: float
) -> Tensor:
    """Jacobian of `fitzhugh_nagumo_rhs`, (..., 2, 2)."""
    v, w = x.unbind(-1)
    zero = torch.zeros_like(v)
    return _matrix((1 - v * v, zero - 1.0, zero + epsilon, zero - epsilon * b))


EQUATIONS: dict[str, Equations] = {
    "lorenz63": Equations(lorenz63_rhs, lorenz63_jacobian),
    "rossler": Equations(rossler_rhs, rossler_jacobian),
    "lorenz96": Equations(lorenz96_rhs, lorenz96_jacobian, min_dim=4),
    "chen": Equations(chen_rhs, chen_jacobian),
    "chua": Equations(chua_rhs, chua_jacobian),
    "sprott_f": Equations(sprott_f_rhs, sprott_f_jacobian),
    "sprott_g": Equations(sprott_g_rhs, sprott_g_jacobian),
    "sprott_k": Equations(sprott_k_rhs, sprott_k_jacobian),
    "sprott_s": Equations(sprott_s_rhs, sprott_s_jacobian),
    "thomas": Equations(thomas_rhs, thomas_jacobian),
    "aizawa": Equations(aizawa_rhs, aizawa_jacobian),
    "halvorsen": Equations(halvorsen_rhs, halvorsen_jacobian),
    "rabinovich_fabrikant": Equations(rabinovich_fabrikant_rhs, rabinovich_fabrikant_jacobian),
    "hindmarsh_rose": Equations(hindmarsh_rose_rhs, hindmarsh_rose_jacobian),
    "duffing": Equations(duffing_rhs, duffing_jacobian),
    "van_der_pol": Equations(van_der_pol_rhs, van_der_pol_jacobian),
    "pendulum": Equations(pendulum_rhs, pendulum_jacobian),
    "lotka_volterra": Equations(lotka_volterra_rhs, lotka_volterra_jacobian),
    "lorenz84": Equations(lorenz84_rhs, lorenz84_jacobian),
    "genesio_tesi": Equations(genesio_tesi_rhs, genesio_tesi_jacobian),
    "dadras": Equations(dadras_rhs, dadras_jacobian),
    "rucklidge": Equations(rucklidge_rhs, rucklidge_jacobian),
    "burke_shaw": Equations(burke_shaw_rhs, burke_shaw_jacobian),
    "brusselator": Equations(brusselator_rhs, brusselator_jacobian),
    "fitzhugh_nagumo": Equations(fitzhugh_nagumo_rhs, fitzhugh_nagumo_jacobian),
    "duffing_unforced": Equations(duffing_unforced_rhs, duffing_unforced_jacobian),
    "pendulum_unforced": Equations(pendulum_unforced_rhs, pendulum_unforced_jacobian),
}
