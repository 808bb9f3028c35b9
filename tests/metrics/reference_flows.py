"""Reference trajectories for metric tests, independent of dynlearn's own solvers."""

import numpy as np
from scipy.integrate import odeint

DT = 0.01


def lorenz(u, t):
    """Lorenz-63 (sigma 10, rho 28, beta 8/3) in odeint's signature."""
    x, y, z = u
    return [10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z]


def rossler(u, t):
    """Rössler (a = b = 0.2, c = 5.7)."""
    x, y, z = u
    return [-y - z, x + 0.2 * y, 0.2 + z * (x - 5.7)]


def trajectory(rhs, u0, n_steps, transient=50.0, dt=DT):
    """`n_steps` samples at `dt` after `transient` time units.

    LSODA through odeint at rtol = atol = 1e-10: solve_ivp(DOP853) at the same tolerance gives
    the same attractor but costs ~13 s for 1e5 steps here, odeint ~1.6 s.
    """
    t = dt * np.arange(round(transient / dt) + n_steps)
    return odeint(rhs, u0, t, rtol=1e-10, atol=1e-10, mxstep=100_000)[-n_steps:]
