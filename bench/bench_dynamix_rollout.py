"""DynaMix zero-shot forecast on the CPU: the fused C++ free run against the PyTorch loop.

The project's target is a 10,000-step forecast from a 2,000-step context in <= 1 s on 2 CPU cores.
A DynaMix free run is strictly sequential and each PyTorch step is ~20 small ops, so the loop is
bound by dispatch; `dynlearn/models/dynamix/csrc/dynamix_rollout_cpu.cpp` runs the whole run in one
call. This bench builds the default model (``make_model("dynamix", 3)``: J = 10 experts, M = 30,
untrained; the cost does not depend on the weights), reads a standardized Lorenz-63 orbit of
--context steps as the context, and times, in one process:

1. ``fused``: `DynaMix.rollout`, end to end (the gate's features, the noise drawn up front, then
   the fused kernel `_fused.rollout_cpu`);
2. ``pytorch``: the same, with the extension reported unavailable, so it runs `_fused.rollout_ref`;
3. ``zero_shot``: what ``forecast run=dynamix context=...`` computes after reading the file
   (`zero_shot_forecast`: the context standardized by its own statistics, inference mode, the
   fused free run, mapped back), on float64 NumPy input.

Rounds are interleaved (fused, pytorch, pytorch, fused, ...) after --warmup untimed rounds; the
medians of --repeats timed rounds and their ratio are printed, with the largest difference between
the two forecasts from the same seed (rounding, float32). The load (os.getloadavg()) is printed
before and after, and the exact command at the end. Build the extension first (otherwise the first
call builds it, untimed):

    .venv/bin/python -m dynlearn.models.dynamix._fused --build
    .venv/bin/python bench/bench_dynamix_rollout.py --threads 1
    .venv/bin/python bench/bench_dynamix_rollout.py --threads 2 --batch 8
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager

import torch

from dynlearn.models import make_model
from dynlearn.models.dynamix import _fused, zero_shot_forecast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=2000, help="context steps read by the gate")
    parser.add_argument("--steps", type=int, default=10_000, help="forecast steps")
    parser.add_argument("--batch", type=int, default=1, help="forecasts at once (B)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds before the timed ones")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per path")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    reason = _fused.status()  # builds the extension if needed, before any timing
    if reason is not None:
        sys.exit(f"bench_dynamix_rollout: {reason}")
    model = make_model("dynamix", 3, seed=args.seed).eval()
    cfg = model.config
    context = lorenz_context(args.batch, args.context)
    print(f"DynaMix J = {cfg.n_experts}, M = {cfg.latent_dim}, P = {cfg.n_pwl} (untrained); context "
          f"{tuple(context.shape)}, forecast {args.steps} steps; torch {torch.__version__}, "
          f"torch.get_num_threads() = {torch.get_num_threads()}, {os.cpu_count()} cores", flush=True)

    def run(fused: bool) -> torch.Tensor:
        torch.manual_seed(args.seed)  # the same gating noise for both paths
        with fused_unavailable(not fused):
            return model.rollout(context, args.steps)

    load("before")
    series = context.double().numpy()
    paths = {"fused": lambda: run(True), "pytorch": lambda: run(False),
             "zero_shot": lambda: zero_shot_forecast(model, series, args.steps, seed=args.seed)}
    seconds = interleaved(paths, args.warmup, args.repeats)
    load("after")
    difference = (run(True) - run(False)).abs().max().item()
    print(f"\nmedian of {args.repeats} interleaved rounds after {args.warmup} warm-up round(s):")
    print("| path | seconds | ms/step | steps/s |\n|---|---|---|---|")
    for name, s in seconds.items():
        print(f"| {name} | {s:.4f} | {s / args.steps * 1e3:.4f} | {args.steps / s:,.0f} |")
    print(f"pytorch/fused: {seconds['pytorch'] / seconds['fused']:.1f}x; "
          f"largest |fused - pytorch| over the forecast: {difference:.2e}")
    print(f"\ncommand: {shlex.join([sys.executable, *sys.argv])}")


def lorenz_context(batch: int, steps: int, dt: float = 0.01) -> torch.Tensor:
    """Standardized Lorenz-63 orbits (batch, steps, 3) by RK4, from spread initial points after a
    1,000-step transient (the context's content steers the attention, not the cost)."""
    def rhs(x: torch.Tensor) -> torch.Tensor:
        a, b, c = x.unbind(-1)
        return torch.stack([10.0 * (b - a), a * (28.0 - c) - b, a * b - 8.0 / 3.0 * c], dim=-1)

    x = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64) + 0.1 * torch.arange(batch, dtype=torch.float64)[:, None]
    orbit = []
    for t in range(1000 + steps):
        k1 = rhs(x)
        k2 = rhs(x + 0.5 * dt * k1)
        k3 = rhs(x + 0.5 * dt * k2)
        k4 = rhs(x + dt * k3)
        x = x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if t >= 1000:
            orbit.append(x)
    orbit = torch.stack(orbit, dim=1)
    return ((orbit - orbit.mean((0, 1))) / orbit.std((0, 1))).to(torch.get_default_dtype())


@contextmanager
def fused_unavailable(active: bool):
    """While active, `DynaMix.rollout` sees the extension as unavailable and runs the PyTorch loop."""
    saved = _fused.status
    if active:
        _fused.status = lambda: "disabled by the bench"
    try:
        yield
    finally:
        _fused.status = saved


def load(label: str) -> None:
    print(f"load {label}: {tuple(round(x, 2) for x in os.getloadavg())}", flush=True)


def interleaved(calls: dict[str, Callable[[], object]], warmup: int, repeats: int) -> dict[str, float]:
    """Median seconds of each call over `repeats` rounds (each round runs every call once, in turn,
    the order reversed every other round: A B, B A, ...), after `warmup` untimed rounds."""
    times = {name: [] for name in calls}
    for round_ in range(warmup + repeats):
        for name in list(calls)[::1 if round_ % 2 == 0 else -1]:
            start = time.perf_counter()
            calls[name]()
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


if __name__ == "__main__":
    main()
