"""Lyapunov spectra of every catalogue system by our estimator (QR / Benettin on the exact
tangent map of the RK4 step), with the standard error over initial conditions.

    .venv/bin/python bench/catalog_lyapunov.py [--time T] [--ics 16] [--systems a b ...]
        [--write-catalog]

Prints a Markdown table: name, T, λ1..λ3 (the leading three), their standard errors, the sum
of all exponents (which must equal the mean divergence), and the literature λ1 and the dysts
λ1 where the catalogue has them. Lorenz-96 is run at its catalogue size (n = 40), full
spectrum; only λ1..λ3 are shown.

With --acceptance S1 S2 ... it instead screens 32 log-normal parameter draws per system and
spread (`dynlearn.systems.screen_systems`, one batch each) and prints the acceptance
rates.

Without --time, each system gets the averaging time of `averaging_time`. With
--write-catalog the full spectra replace the delimited ``computed_lyapunov`` block of each
system in dynlearn/systems/catalog.yaml; the rest of the file (comments, order, literature
values) is left byte for byte as it was.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import torch

import dynlearn
from dynlearn.metrics import LyapunovResult, system_lyapunov_spectrum
from dynlearn.systems import list_ode_systems, make_system
from dynlearn.systems._screening import screen_systems

CATALOG = Path(dynlearn.__file__).parent / "systems" / "catalog.yaml"
BEGIN = "  # >>> computed_lyapunov: written by bench/catalog_lyapunov.py --write-catalog\n"
END = "  # <<< computed_lyapunov\n"
ESTIMATOR = "QR/Benettin, RK4 tangent map"
# RK4 tangent steps per system. 16 3-D orbits cost ~1 ms a step on an idle core, but ~4 ms
# on the shared machine (load ~6 on 2 cores), so 20k steps keep the whole run near 40 min.
STEP_BUDGET = 20_000
# Other averaging times than the budget rule gives, and why.
OVERRIDES = {
    "lorenz63": 1000.0,  # cross-checked against Viswanath's 0.9056
    "rossler": 1000.0,  # λ1 = 0.07 converges slowly (0.065 at T = 200); checked against 0.0714
    "thomas": 2000.0,  # dt = 0.1 is cheap; λ2 = -0.017 instead of 0 at T = 200
    "lorenz96": 100.0,  # 40 x 40 tangent maps, ~3x the cost of a step; a full spectrum
}


def averaging_time(name: str, dt: float) -> float:
    """T per system: `STEP_BUDGET` steps, clipped to [100, 1000] time units, or an override."""
    return OVERRIDES.get(name, min(1000.0, max(100.0, STEP_BUDGET * dt)))


def largest_first(result: LyapunovResult) -> tuple[list[float], list[float]]:
    """Exponents and their standard errors, sorted from the largest exponent.

    Benettin's QR ranks the exponents only as T → ∞: finite-time means of close ones (the
    flow direction and a neutral circle direction, both 0) can come out inverted by ~1/T.
    """
    order = result.exponents.argsort(descending=True)
    return result.exponents[order].tolist(), result.stderr[order].tolist()


def catalog_block(
    result: LyapunovResult, *, time: float, transient: float, dt: float, args: argparse.Namespace
) -> str:
    """The delimited YAML block for one system (flow-style lists, 6 values per line)."""

    def flow(values: list[float], indent: str) -> str:
        cells = [f"{v:.6f}" for v in values]
        lines = [", ".join(cells[i : i + 6]) for i in range(0, len(cells), 6)]
        return "[" + f",\n{indent} ".join(lines) + "]"

    exponents, stderr = largest_first(result)
    return (
        BEGIN + "  computed_lyapunov:\n"
        f"    exponents: {flow(exponents, ' ' * 15)}\n"
        f"    stderr: {flow(stderr, ' ' * 12)}\n"
        f"    time: {time:g}\n"
        f"    transient_time: {transient:g}\n"
        f"    n_ics: {args.ics}\n"
        f"    dt: {dt:g}\n"
        f"    qr_every: {args.qr_every}\n"
        f"    seed: {args.seed}\n"
        f'    estimator: "{ESTIMATOR}"\n'
        f'    dynlearn_version: "{dynlearn.__version__}"\n' + END
    )


def replace_block(text: str, name: str, block: str) -> str:
    """`text` with the computed block of entry `name` replaced (or appended to the entry)."""
    start = re.search(rf"^{re.escape(name)}:\n", text, flags=re.M)
    if start is None:
        raise ValueError(f"no top-level entry {name!r} in {CATALOG}")
    following = re.compile(r"^\S", flags=re.M).search(text, start.end())
    stop = following.start() if following else len(text)
    entry = text[start.start() : stop]
    entry = re.sub(rf"{re.escape(BEGIN)}.*?{re.escape(END)}", "", entry, flags=re.S)
    kept = entry.rstrip("\n")
    blank = entry[len(kept) + 1 :]  # the blank lines that separate it from the next entry
    return text[: start.start()] + kept + "\n" + block + blank + text[stop:]


def acceptance(names: list[str], spreads: list[float], seed: int, draws: int = 32) -> None:
    """Print the fraction of `draws` parameter draws that pass the screening."""
    print(f"{draws} draws per row, p·exp(spread·z), screening defaults, seed {seed}")
    print()
    print("| system | spread | accepted | escaped | λ1 threshold | screen T | s |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        nominal = make_system(name)
        real = [k for k, v in nominal.params.items() if not isinstance(v, int)]
        for spread in spreads:
            generator = torch.Generator().manual_seed(seed)
            factors = torch.exp(spread * torch.randn(draws, len(real), generator=generator))
            systems = [
                make_system(name, **{k: nominal.params[k] * f for k, f in zip(real, row)})
                for row in factors.tolist()
            ]
            start = time.perf_counter()
            screening = screen_systems(systems, generator)
            seconds = time.perf_counter() - start
            lyapunov_time = nominal.lyapunov_time
            horizon = 20 * lyapunov_time if lyapunov_time else 4 / 0.01  # screen_systems's
            print(
                f"| {name} | {spread:g} | {screening.accepted.double().mean().item():.0%} | "
                f"{screening.peak.isinf().double().mean().item():.0%} | "
                f"{screening.threshold:.3f} | {horizon:.0f} | {seconds:.0f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", type=float, default=None, help="averaging time (time units)")
    parser.add_argument("--transient", type=float, default=None, help="default: 10%% of T, ≥ 20")
    parser.add_argument("--ics", type=int, default=16, help="initial conditions")
    parser.add_argument("--qr-every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--systems", nargs="*", default=None)
    parser.add_argument("--write-catalog", action="store_true", help=f"update {CATALOG.name}")
    parser.add_argument("--acceptance", nargs="*", type=float, default=None, help="spreads")
    args = parser.parse_args()
    torch.set_num_threads(1)  # batched QR of tiny matrices gains nothing from threads
    torch.set_default_dtype(torch.float64)
    if args.acceptance:
        acceptance(args.systems or list_ode_systems(), args.acceptance, args.seed)
        return

    print(f"{args.ics} ICs, QR every {args.qr_every}, seed {args.seed}")
    print()
    print("| system | dt | T | λ1 | λ2 | λ3 | stderr λ1..λ3 | Σλ | literature λ1 | dysts λ1 | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.systems or list_ode_systems():
        system = make_system(name)
        horizon = args.time or averaging_time(name, system.dt)
        transient = args.transient if args.transient is not None else max(20.0, 0.1 * horizon)
        start = time.perf_counter()
        result = system_lyapunov_spectrum(
            system,
            args.ics,
            horizon,
            generator=torch.Generator().manual_seed(args.seed),
            transient_time=transient,
            qr_every=args.qr_every,
        )
        seconds = time.perf_counter() - start
        lam, err = largest_first(result)
        cells = [f"{v:+.4f}" for v in lam[:3]] + ["—"] * (3 - min(3, len(lam)))
        errors = ", ".join(f"{v:.4f}" for v in err[:3])
        literature = system.lyapunov_exponents
        lit = f"{literature[0]:.4f}" if literature else "—"
        published = system.spec.dysts_lambda1
        dysts = "—" if published is None else f"{published:.4f}"
        print(
            f"| {name} | {system.dt:g} | {horizon:g} | {' | '.join(cells)} | {errors} | "
            f"{sum(lam):+.4f} | {lit} | {dysts} | {seconds:.0f} |",
            flush=True,
        )
        if args.write_catalog:  # one system at a time, so an interrupted run keeps its work
            block = catalog_block(
                result, time=horizon, transient=transient, dt=system.dt, args=args
            )
            CATALOG.write_text(replace_block(CATALOG.read_text("utf-8"), name, block), "utf-8")


if __name__ == "__main__":
    main()
