"""Lorenz-63 ensemble generation: batched RK4 (eager and fused/compiled) against SciPy.

Generates `--n-traj` trajectories of `--n-steps` steps (dt = 0.01, every step saved, float64)
with dynlearn's batched RK4, once as a per-step eager loop and once through fused
`torch.compile`d blocks of `--fuse` steps (compile time reported separately), and compares the
throughput with `scipy.integrate.solve_ivp` (RK45, rtol = atol = 1e-8, dense output at the same
times) run one trajectory at a time, the usual way. SciPy is timed on `--scipy-traj`
trajectories and extrapolated linearly (its trajectories are independent calls).

Accuracy is compared at a short horizon (t <= 2, before chaos amplifies differences) against a
DOP853 reference at rtol = atol = 1e-13. RK4 at dt = 0.01 is ~300x less accurate than RK45 at
1e-8, so the fused run is repeated with `--substeps` RK4 steps per saved point (dt = 0.0025 by
default, same output grid), which matches it: that ratio is the fair one.

Run from the repository root:
    .venv/bin/python bench/bench_generation.py
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

from dynlearn.solvers import make_step, rollout
from dynlearn.systems import make_system


def lorenz_scipy(sigma: float, rho: float, beta: float):
    """Lorenz-63 on Python floats: the fastest right-hand side for one small SciPy trajectory."""

    def rhs(t, u):
        x, y, z = u
        return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]

    return rhs


def scipy_trajectories(rhs, x0: np.ndarray, dt: float, n_steps: int, **kwargs) -> np.ndarray:
    """solve_ivp one trajectory at a time; states at dt, 2dt, ..., n_steps·dt, (B, T, D)."""
    t_eval = dt * np.arange(1, n_steps + 1)
    out = []
    for u0 in x0:
        sol = solve_ivp(rhs, (0.0, t_eval[-1]), u0, t_eval=t_eval, **kwargs)
        assert sol.success, sol.message
        out.append(sol.y.T)
    return np.stack(out)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traj", type=int, default=1024)
    parser.add_argument("--n-steps", type=int, default=10_000)
    parser.add_argument("--fuse", type=int, default=20, help="steps per compiled block")
    parser.add_argument("--scipy-traj", type=int, default=16)
    parser.add_argument("--substeps", type=int, default=4, help="RK4 steps per saved point for matched accuracy")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    system = make_system("lorenz63")
    dt = system.dt
    step = make_step(system)
    rhs_np = lorenz_scipy(**system.params)
    print(f"# Lorenz-63 generation, {args.n_traj} x {args.n_steps} steps, dt={dt}, float64")
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f}")

    x0, t_ic = timed(lambda: system.sample_initial_conditions(args.n_traj, torch.Generator().manual_seed(0)))
    print(f"initial conditions on the attractor (batched transient of {system.spec.transient_time}): {t_ic:.2f} s")

    # Accuracy on 16 orbits over t <= 2 (before chaos amplifies differences), against DOP853.
    n_short = round(2.0 / dt)
    probe = x0[:16]
    reference = scipy_trajectories(rhs_np, probe.numpy(), dt, n_short, method="DOP853", rtol=1e-13, atol=1e-13)
    candidates = {}
    with torch.no_grad():
        for substeps in (1, args.substeps):
            h = dt / substeps
            traj = rollout(make_step(system, h), probe, n_short * substeps, save_every=substeps)
            candidates[f"rk4 dt={h:g}"] = traj.numpy()
    candidates["solve_ivp RK45 1e-8"] = scipy_trajectories(
        rhs_np, probe.numpy(), dt, n_short, method="RK45", rtol=1e-8, atol=1e-8
    )
    print(f"abs error vs DOP853(1e-13), 16 orbits, attractor scale {np.abs(reference).max():.0f}:")
    print(f"  {'method':22s} {'t=1 median':>11s} {'t<=2 max':>10s}")
    for name, traj in candidates.items():
        err = np.abs(traj - reference).max(axis=-1)  # (B, T)
        print(f"  {name:22s} {np.median(err[:, round(1 / dt) - 1]):11.1e} {err.max():10.1e}")

    n_points = args.n_traj * args.n_steps
    fine = make_step(system, dt / args.substeps)
    with torch.no_grad():
        eager, t_eager = timed(lambda: rollout(step, x0, args.n_steps))
        # The first call compiles the block (cached for later calls); time it on its own.
        _, t_compile = timed(lambda: rollout(step, x0, args.fuse, fuse=args.fuse))
        fused, t_fused = timed(lambda: rollout(step, x0, args.n_steps, fuse=args.fuse))
        identical = torch.equal(fused, eager)
        del eager, fused
        # Matched accuracy: `substeps` RK4 steps per saved point, same output grid.
        n_fine = args.n_steps * args.substeps
        block = max(args.substeps, args.fuse - args.fuse % args.substeps)  # big blocks compile slowly
        _, t_compile_fine = timed(lambda: rollout(fine, x0, block, save_every=args.substeps, fuse=block))
        _, t_fine = timed(lambda: rollout(fine, x0, n_fine, save_every=args.substeps, fuse=block))

    sub = x0[: args.scipy_traj].numpy()
    _, t_scipy = timed(
        lambda: scipy_trajectories(rhs_np, sub, dt, args.n_steps, method="RK45", rtol=1e-8, atol=1e-8)
    )
    rows = {
        "scipy solve_ivp RK45 1e-8 (extrap.)": t_scipy * args.n_traj / args.scipy_traj,
        f"rk4 dt={dt:g} eager per-step loop": t_eager,
        f"rk4 dt={dt:g} fused ({args.fuse}-step blocks)": t_fused,
        f"rk4 dt={dt / args.substeps:g} fused ({block}-step blocks)": t_fine,
    }
    print(f"fused == eager bitwise over {args.n_steps} steps of {args.n_traj} orbits: {identical}")
    print(f"compile time (first call, incl. one block): {args.fuse}-step {t_compile:.1f} s, "
          f"{block}-step saving every {args.substeps}: {t_compile_fine:.1f} s")
    print(f"{args.n_traj} x {args.n_steps} saved points:")
    print(f"  {'method':40s} {'time (s)':>9s} {'points/s':>10s} {'vs scipy':>9s}")
    for name, seconds in rows.items():
        rate = n_points / seconds
        print(f"  {name:40s} {seconds:9.2f} {rate:10.3g} {rows[next(iter(rows))] / seconds:8.0f}x")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
