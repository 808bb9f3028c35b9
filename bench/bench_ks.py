"""Kuramoto–Sivashinsky ensembles: dynlearn's batched torch ETDRK4 against a plain NumPy loop.

L = 22, N = 64, ETDRK4 at dt = 0.25, float64, every step saved in physical space. Ours is
`KuramotoSivashinsky` + `make_etdrk4_step` + `rollout`, batched over `--n-traj` trajectories (eager:
`rollout(..., fuse=k)` compiles, but Inductor does not generate code for complex tensors, so it
only adds compile time; `--compiled` measures it anyway). The reference is the textbook loop of
Kassam & Trefethen (2005), written here with `numpy.fft.rfft/irfft` and their contour-integral
coefficients, one trajectory at a time. The NumPy loop is timed on `--numpy-traj` trajectories
(its trajectories are independent, so the rate per trajectory-step does not depend on how many)
and torch on the same subset and on the full ensemble. Rates are trajectory-steps per second.

`make_etdrk4_step` returns a `SpectralStep`, so `rollout` steps û in Fourier space (8 FFTs per
step) and writes each saved state with one irfft into a preallocated output; the step's
coefficients are complex once and its multiply-adds fused (`torch.addcmul`). `--physical` also
times the same step called in physical space (10 FFTs per step, the states stacked at the end:
how `rollout` ran it before, though with the new step arithmetic). Repeats are interleaved and the load average is printed
at the start and the end: other jobs on the machine change every rate.

Run from the repository root:
    .venv/bin/python bench/bench_ks.py --n-steps 2000 --physical [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from dynlearn.solvers import make_etdrk4_step, rollout
from dynlearn.systems import KuramotoSivashinsky


def kassam_trefethen_coefficients(linear: np.ndarray, h: float, m: int = 16):
    """E, E2, Q, f1, f2, f3 of ETDRK4 for real eigenvalues L, each (K,).

    Contour means over m points on the upper half of the unit circle around hL (real parts
    only, which equals the full circle for real L), as in Kassam & Trefethen's kursiv.m.
    """
    roots = np.exp(1j * np.pi * (np.arange(1, m + 1) - 0.5) / m)  # (m,)
    lr = h * linear[:, None] + roots[None, :]  # (K, m)
    e_lr = np.exp(lr)
    q = h * np.real(np.mean((np.exp(lr / 2) - 1) / lr, axis=1))
    f1 = h * np.real(np.mean((-4 - lr + e_lr * (4 - 3 * lr + lr**2)) / lr**3, axis=1))
    f2 = h * np.real(np.mean((2 + lr + e_lr * (lr - 2)) / lr**3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * lr - lr**2 + e_lr * (4 - lr)) / lr**3, axis=1))
    return np.exp(h * linear), np.exp(h * linear / 2), q, f1, f2, f3


def numpy_ks_trajectory(u0: np.ndarray, n_steps: int, L: float, h: float) -> np.ndarray:
    """One KS trajectory by ETDRK4 in a plain loop; states after steps 1..n_steps, (n_steps, N)."""
    n = u0.shape[0]
    k = 2 * np.pi * np.fft.rfftfreq(n, d=L / n)  # (K,)
    e, e2, q, f1, f2, f3 = kassam_trefethen_coefficients(k**2 - k**4, h)
    g = -0.5j * np.where(np.arange(k.size) == n // 2, 0.0, k)  # ∂x/2 with the Nyquist mode zeroed

    def nonlinear(v):
        return g * np.fft.rfft(np.fft.irfft(v, n) ** 2)

    out = np.empty((n_steps, n))
    v = np.fft.rfft(u0)
    for i in range(n_steps):
        nv = nonlinear(v)
        a = e2 * v + q * nv
        na = nonlinear(a)
        b = e2 * v + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        nc = nonlinear(c)
        v = e * v + nv * f1 + 2 * (na + nb) * f2 + nc * f3
        out[i] = np.fft.irfft(v, n)
    return out


def numpy_ensemble(x0: np.ndarray, n_steps: int, L: float, h: float) -> np.ndarray:
    return np.stack([numpy_ks_trajectory(u0, n_steps, L, h) for u0 in x0])  # (B, T, N)


def timed(fn, repeats: int = 1):
    """Best wall time over `repeats` calls, and the last result."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traj", type=int, default=256)
    parser.add_argument("--n-steps", type=int, default=10_000)
    parser.add_argument("--numpy-traj", type=int, default=8, help="trajectories the NumPy loop is timed on")
    parser.add_argument("--check-steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs of each timing")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--physical", action="store_true", help="also time the step called in physical space")
    parser.add_argument("--compiled", type=int, default=0, help="also time rollout(fuse=this)")
    parser.add_argument("--profile", action="store_true", help="torch.profiler table of 100 eager steps")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    system = KuramotoSivashinsky()
    L, n, dt = system.params["L"], system.dim, system.dt
    step = make_etdrk4_step(system)
    print(f"# KS L={L:g}, N={n}, ETDRK4 dt={dt}, float64, {args.n_traj} x {args.n_steps} steps")
    print(f"# torch {torch.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    x0, t_ic = timed(lambda: system.sample_initial_conditions(args.n_traj, torch.Generator().manual_seed(0)))
    print(f"initial conditions on the attractor (transient {system.transient_time:g}): {t_ic:.1f} s")

    sub = x0[: args.numpy_traj]
    with torch.no_grad():
        ours_short = rollout(step, sub, args.check_steps).numpy()
    ref_short = numpy_ensemble(sub.numpy(), args.check_steps, L, dt)
    diff = np.abs(ours_short - ref_short).max(axis=(0, 2))  # (T,)
    print(f"max |torch - numpy| over {args.numpy_traj} orbits (|u| up to {np.abs(ref_short).max():.1f}): "
          f"step 1 {diff[0]:.1e}, step 10 {diff[9]:.1e}, step {args.check_steps} {diff[-1]:.1e}")

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
            rollout(step, x0, 100)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))

    n_sub, n_full = args.numpy_traj * args.n_steps, args.n_traj * args.n_steps
    cases = {  # name -> (trajectory-steps, run)
        f"numpy loop, {args.numpy_traj} traj": (n_sub, lambda: numpy_ensemble(sub.numpy(), args.n_steps, L, dt)),
        f"torch eager, {args.numpy_traj} traj": (n_sub, lambda: rollout(step, sub, args.n_steps)),
        f"torch eager, {args.n_traj} traj": (n_full, lambda: rollout(step, x0, args.n_steps)),
    }
    if args.physical:
        def physical(x):  # the step called on physical states, saved states stacked at the end
            states = []
            for _ in range(args.n_steps):
                x = step(x)
                states.append(x)
            return torch.stack(states, -2)

        with torch.no_grad():
            gap = (physical(x0)[:, : args.check_steps] - rollout(step, x0, args.check_steps)).abs().amax((0, 2))
        print(f"Fourier-space rollout vs physical-space steps, {args.n_traj} orbits: max abs diff "
              f"{gap[0]:.1e} at step 1, {gap[-1]:.1e} at step {args.check_steps}")
        cases[f"torch, physical-space steps, {args.n_traj} traj"] = (n_full, lambda: physical(x0))
    if args.compiled:
        with torch.no_grad():
            _, t_compile = timed(lambda: rollout(step, x0, args.compiled, fuse=args.compiled))
        print(f"compile time ({args.compiled}-step block): {t_compile:.1f} s")
        cases[f"torch compiled fuse={args.compiled}, {args.n_traj} traj"] = (
            n_full, lambda: rollout(step, x0, args.n_steps, fuse=args.compiled))

    # Repeats are interleaved, so a change of machine load hits every case alike.
    best = dict.fromkeys(cases, float("inf"))
    with torch.no_grad():
        for _ in range(args.repeats):
            for name, (_, run) in cases.items():
                best[name] = min(best[name], timed(run)[1])
    rows = {name: (count, best[name]) for name, (count, _) in cases.items()}
    t_numpy = rows[next(iter(rows))][1]

    print(f"best of {args.repeats}; trajectory-steps per second (each saved, physical space):")
    print(f"  {'method':44s} {'traj-steps':>10s} {'time (s)':>9s} {'rate':>9s} {'vs numpy':>9s}")
    for name, (count, seconds) in rows.items():
        rate = count / seconds
        print(f"  {name:44s} {count:10.3g} {seconds:9.2f} {rate:9.3g} {rate * t_numpy / n_sub:8.1f}x")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
