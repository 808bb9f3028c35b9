"""PhyxMamba on its own protocol: vpt_smape and vpt_nrmse of the CPU configuration, per seed.

Trains `+exp=lorenz_phyx` (Lorenz-63 at 30 points per Lyapunov time) for --seeds seeds with
--jobs of them side by side (threads=1 each), `+exp=rossler_phyx` for --rossler-seeds, and the
ablation (MMD and multi-token prediction off: model.mtp_steps=0, model.mmd_unconditional=0,
model.mmd_conditional=0) on Lorenz, each through the CLI's `seeds=` mode in a fresh work folder.
Each run is judged by the short-forecast protocol: 100 forecasts of 300 steps (10 Lyapunov
times) from 30-step test contexts, vpt_smape (the first step where the cumulative sMAPE exceeds
30, in Lyapunov times) and vpt_nrmse (normalized error 0.5). Prints each seed's wall time and
figures, the median ± MAD over seeds, and the issue's targets.

    .venv/bin/python bench/bench_phyxmamba.py                      # everything (about an hour)
    .venv/bin/python bench/bench_phyxmamba.py --only lorenz --seeds 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_training import fmt, seed_wall_seconds, spread  # same folder: run as a script

REPO = Path(__file__).resolve().parents[1]
ABLATION = ["model.mtp_steps=0", "model.mmd_unconditional=0", "model.mmd_conditional=0"]
# Issue 11 §1: N-BEATS' VPT in the paper (PhyxMamba's own: Lorenz 5.06, Rössler 9.83), CPU time per seed.
TARGETS = {"lorenz": 3.7, "rossler": 6.5, "seconds": 1200.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rossler-seeds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", choices=["lorenz", "rossler", "ablation"], action="append")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every row")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dynlearn-phyx-"))
    print(f"load before: {os.getloadavg()} on {os.cpu_count()} cores; workdir {workdir}", flush=True)
    rows = {"lorenz": ("lorenz_phyx", args.seeds, []),
            "rossler": ("rossler_phyx", args.rossler_seeds, []),
            "ablation": ("lorenz_phyx", args.seeds, ABLATION)}
    results = {}
    for name in args.only or list(rows):
        exp, seeds, extra = rows[name]
        results[name] = train(workdir / name, exp, seeds, args.jobs, [*extra, *args.overrides])
    print(f"\nload after: {os.getloadavg()}")
    report(results)


def train(workdir: Path, exp: str, seeds: int, jobs: int, overrides: list[str]) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DYNLEARN_CONF=str(REPO / "conf"), MPLBACKEND="Agg", OMP_WAIT_POLICY="PASSIVE")
    command = [sys.executable, "-m", "dynlearn", "train", f"+exp={exp}", f"seeds={seeds}",
               f"jobs={min(jobs, seeds)}", "trainer.progress=false", *overrides]
    print("\ncommand:", " ".join(command[1:]), flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, env=env, text=True, stdout=subprocess.PIPE)
    print(f"({time.monotonic() - started:.0f} s for {seeds} seed(s))", flush=True)
    if result.returncode != 0:
        print(result.stdout)
        raise SystemExit(f"training failed with exit code {result.returncode}")
    out = []
    walls = seed_wall_seconds(workdir)
    for metrics_path in sorted((workdir / "runs").glob("*/2*/metrics.json")):
        run_dir = metrics_path.parent
        metrics = json.loads(metrics_path.read_text())
        status = json.loads((run_dir / "status.json").read_text())
        config = (run_dir / "config.yaml").read_text()
        seed = next(int(line.split(":")[1]) for line in config.splitlines() if line.startswith("seed:"))
        short = metrics["short_forecast"]
        out.append({"seed": seed, "wall_s": walls[seed],
                    "train_s": status.get("train_seconds"), "vpt_smape": short["vpt_smape"],
                    "vpt_smape_mean": short["vpt_smape_mean"], "vpt_nrmse": short["vpt_nrmse"],
                    "censored": short["vpt_smape_censored"], "n_cases": short["n_cases"],
                    "d_stsp": metrics["d_stsp"], "failed": metrics["n_collapsed"] + metrics["n_diverged"]})
    return sorted(out, key=lambda r: r["seed"])


def report(results: dict[str, list[dict]]) -> None:
    keys = ["seed", "wall_s", "train_s", "vpt_smape", "vpt_smape_mean", "vpt_nrmse", "censored", "n_cases",
            "d_stsp", "failed"]
    for name, table in results.items():
        print(f"\n{name}\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for row in table:
            print("| " + " | ".join(fmt(row[k]) for k in keys) + " |")
        print("median ± MAD (min–max): " + "; ".join(
            f"{k} {spread([r[k] for r in table])}" for k in ("vpt_smape", "vpt_nrmse", "wall_s")))
    print("\ntargets (issue 11 §1; vpt_smape median over seeds, in Lyapunov times):")
    for name, target in (("lorenz", TARGETS["lorenz"]), ("rossler", TARGETS["rossler"])):
        if name in results:
            value = statistics.median(r["vpt_smape"] for r in results[name])
            print(f"  {'PASS' if value >= target else 'FAIL'}  {name}: vpt_smape {value:.3g} >= {target}")
    walls = [r["wall_s"] for table in results.values() for r in table]
    print(f"  {'PASS' if max(walls) <= TARGETS['seconds'] else 'FAIL'}  every seed <= "
          f"{TARGETS['seconds']:.0f} s wall (longest {max(walls):.0f} s)")


if __name__ == "__main__":
    main()
