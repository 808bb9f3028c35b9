"""Every low-dimensional family on the same Lorenz-63 store, one table: `python -m dynlearn compare`.

Trains `+exp=lorenz model=<family> seeds=N jobs=2` for each family in one work folder (the store
at dt 0.01 is generated once and shared, so every run is evaluated on the same test cases under
protocol v2), then prints the table that `python -m dynlearn compare runs=<work>/runs/lorenz`
writes: one row per run and one row per family with the median over its seeds of pooled D_stsp,
D_H, λ_max relative error, vpt_nrmse, collapsed / diverged ICs and training wall time.

Every free run reads a 30-step true context (`eval.context=30`, validation and test alike):
PhyxMamba reads a window, and one yardstick serves every family.

Every family gets the same wall-clock budget per seed (`--budget` seconds of training, then the
kept model is evaluated), so the table compares what each family learns in the same time on
the same two cores; a family that finishes its epochs sooner stops sooner.

    .venv/bin/python bench/bench_families.py --seeds 3 --budget 600
    .venv/bin/python bench/bench_families.py --families alrnn neural_ode --seeds 1 --budget 120
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAMILIES = ("alrnn", "neural_ode", "koopman", "latent_sde", "phyxmamba")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per seed (wall)")
    parser.add_argument("--workdir", type=Path, default=None, help="reuse (finished seeds are skipped)")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every family")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dynlearn-families-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DYNLEARN_CONF=str(REPO / "conf"), MPLBACKEND="Agg", OMP_WAIT_POLICY="PASSIVE")
    print(f"load before: {os.getloadavg()} on {os.cpu_count()} cores; workdir {workdir}", flush=True)
    for family in args.families:
        command = [sys.executable, "-m", "dynlearn", "train", "+exp=lorenz", f"model={family}",
                   f"seeds={args.seeds}", f"jobs={args.jobs}", "trainer.progress=false",
                   f"trainer.wall_time_limit={args.budget}", "eval.context=30", *args.overrides]
        print(f"\n$ {' '.join(command[1:])}  (load {os.getloadavg()[0]:.2f})", flush=True)
        started = time.monotonic()
        result = subprocess.run(command, cwd=workdir, env=env, text=True, stdout=subprocess.PIPE)
        print(f"{family}: exit {result.returncode} after {time.monotonic() - started:.0f} s", flush=True)
        if result.returncode != 0:
            print(result.stdout[-2000:])
    print(f"\nload after: {os.getloadavg()}")
    compare = [sys.executable, "-m", "dynlearn", "compare", f"runs={workdir / 'runs' / 'lorenz'}"]
    print("$", " ".join(compare[1:]), flush=True)
    subprocess.run(compare, cwd=workdir, env=env, check=True)


if __name__ == "__main__":
    main()
