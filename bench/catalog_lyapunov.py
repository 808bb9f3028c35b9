"""Lyapunov spectra of every catalogue system by our estimator (QR / Benettin on the exact
tangent map of the RK4 step), with the standard error over initial conditions.

    .venv/bin/python bench/catalog_lyapunov.py [--time 300] [--ics 16] [--systems a b ...]

Prints a Markdown table: name, λ1..λ3 (the leading three), their standard errors, the sum of
all exponents (which must equal the mean divergence) and the literature λ1 where the
catalogue has one. Lorenz-96 is run at its catalogue size (n = 40); only λ1..λ3 are shown.
"""

from __future__ import annotations

import argparse
import time

import torch

from dynlearn.metrics import system_lyapunov_spectrum
from dynlearn.systems import list_systems, make_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", type=float, default=300.0, help="averaging time (time units)")
    parser.add_argument("--transient", type=float, default=30.0, help="tangent transient")
    parser.add_argument("--ics", type=int, default=16, help="initial conditions")
    parser.add_argument("--qr-every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--systems", nargs="*", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)  # batched QR of tiny matrices gains nothing from threads
    torch.set_default_dtype(torch.float64)

    print(
        f"T = {args.time:g}, transient {args.transient:g}, {args.ics} ICs, "
        f"QR every {args.qr_every}"
    )
    print()
    print("| system | dt | λ1 | λ2 | λ3 | stderr λ1..λ3 | Σλ | literature λ1 | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.systems or list_systems():
        system = make_system(name)
        start = time.perf_counter()
        result = system_lyapunov_spectrum(
            system,
            args.ics,
            args.time,
            generator=torch.Generator().manual_seed(args.seed),
            transient_time=args.transient,
            qr_every=args.qr_every,
        )
        seconds = time.perf_counter() - start
        lam = result.exponents.tolist()
        err = result.stderr.tolist()
        cells = [f"{v:+.4f}" for v in lam[:3]] + ["—"] * (3 - min(3, len(lam)))
        errors = ", ".join(f"{v:.4f}" for v in err[:3])
        literature = system.lyapunov_exponents
        lit = f"{literature[0]:.4f}" if literature else "—"
        print(
            f"| {name} | {system.dt:g} | {' | '.join(cells)} | {errors} | "
            f"{sum(lam):+.4f} | {lit} | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
