"""Φ-ROM against its DINo-style variant on the same budget: relative L2 inside and beyond the training horizon.

Trains `+exp=<exp> model=phirom` twice per seed, `model.physics_weight=1` (Φ-ROM: the latent ODE
taught by the PDE projected through the decoder) and `0` (DINo-style: taught by the latent
memory's own trajectories; the same model otherwise), each seed with the same wall-clock budget
(`trainer.wall_time_limit`), then scores every run on its store's test trajectories: the latent
of the first field found by inversion (from all grid points, and from a random 10 % of them), the
latent ODE integrated over the whole trajectory, each field decoded and compared with the truth,
‖û_t − u_t‖ / ‖u_t‖ per lead; each trajectory's mean over the leads before `trainer.horizon` (the
steps trained on: inside the training horizon) and over the rest (beyond it), the median over
trajectories, and the number of forecasts that blew up (relative L2 > 10 or not finite). Prints every run, the
medians ± MAD per variant, Φ-ROM / DINo and 10 % / all-points ratios, and the load.

    .venv/bin/python bench/bench_phirom.py --exp ks --seeds 3 --jobs 2 --budget 3600
    .venv/bin/python bench/bench_phirom.py --only dino ...   # one variant (two such processes side by side),
    .venv/bin/python bench/bench_phirom.py --score-only --workdir <the same> ...   # then the table
    .venv/bin/python bench/bench_phirom.py --exp ns_decaying --seeds 3 --jobs 2 --budget 3600 \\
        system.params.n=32 data.name=ns_decaying32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"phirom": 1.0, "dino": 0.0}


def relative_l2_by_lead(model, fields: np.ndarray, mean: float, std: float, *, fraction: float,
                        rng: np.random.Generator) -> np.ndarray:
    """‖û_t − u_t‖ / ‖u_t‖ per trajectory for t = 1 .. T−1, (K, T − 1), forecast from the fields at
    t = 0 (K, T, *grid), observed at a random `fraction` of the points (1: all)."""
    k, t = fields.shape[:2]
    z = torch.from_numpy((fields - mean) / std).to(next(model.parameters()).dtype)
    first = z[:, 0].reshape(k, 1, -1).transpose(1, 2)  # (K, P, 1)
    points = np.arange(first.shape[1]) if fraction >= 1 else \
        np.sort(rng.choice(first.shape[1], max(1, round(fraction * first.shape[1])), replace=False))
    with torch.no_grad():
        alpha = model.invert(first[:, points], model.coords[points])
        path = model.integrate(alpha, t - 1)[1:]  # (T − 1, K, k)
        predicted = torch.stack([model.decode(a)[:, 0] for a in path], dim=1).double().numpy() * std + mean
    truth = fields[:, 1:]
    axes = tuple(range(2, truth.ndim))
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(((predicted - truth) ** 2).sum(axes)) / np.sqrt((truth**2).sum(axes))


def score(run_dir: Path) -> dict:
    import dynlearn

    run = dynlearn.load_run(run_dir)
    ds = dynlearn.open_store(run.data_store)
    variable = run.meta["state_names"][0] if run.meta.get("state_names") else next(iter(ds.data_vars))
    fields = ds[variable].values[np.flatnonzero(ds.split.values == 2)].astype(np.float64)
    mean, std = float(np.ravel(run.meta["norm_mean"])[0]), float(np.ravel(run.meta["norm_std"])[0])
    horizon = run.config["trainer"].get("horizon") or fields.shape[1]
    status = json.loads((run_dir / "status.json").read_text())
    out = {"run": run_dir.name, "seed": run.config["seed"], "train_s": status.get("train_seconds"),
           "epochs": status.get("epochs")}
    for label, fraction in (("all", 1.0), ("10%", 0.1)):
        errors = relative_l2_by_lead(run.model, fields, mean, std, fraction=fraction, rng=np.random.default_rng(0))
        # A forecast that blows up (relative L2 > 10 or not finite) is counted apart; the figures are
        # medians over trajectories of each one's mean over the leads inside / beyond the horizon.
        blown = ~np.isfinite(errors).all(axis=1) | (np.nan_to_num(errors, nan=np.inf) > 10).any(axis=1)
        out[f"blown_{label}"] = int(blown.sum())
        out[f"inside_{label}"] = float(np.median(errors[:, :horizon - 1].mean(axis=1)))
        out[f"beyond_{label}"] = float(np.median(errors[:, horizon - 1:].mean(axis=1))) \
            if errors.shape[1] >= horizon else float("nan")
    return out


def median_mad(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    med = float(np.median(v))
    return f"{med:.4f} ± {float(np.median(np.abs(v - med))):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp", default="ks")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--budget", type=float, default=3600.0, help="training seconds per run (wall)")
    parser.add_argument("--workdir", type=Path, default=None, help="reuse (finished seeds are skipped)")
    parser.add_argument("--only", choices=list(VARIANTS), default=None,
                        help="train this variant only (both are scored when present in the workdir)")
    parser.add_argument("--score-only", action="store_true", help="score the runs already in the workdir")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for both variants")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dynlearn-phirom-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DYNLEARN_CONF=str(REPO / "conf"), MPLBACKEND="Agg", OMP_WAIT_POLICY="PASSIVE")
    print(f"load before: {os.getloadavg()} on {os.cpu_count()} cores; workdir {workdir}", flush=True)
    for variant, weight in VARIANTS.items():
        if args.score_only or args.only not in (None, variant):
            continue
        command = [sys.executable, "-m", "dynlearn", "train", f"+exp={args.exp}", "model=phirom",
                   f"model.physics_weight={weight}", f"name={args.exp}_{variant}", f"seeds={args.seeds}",
                   f"jobs={args.jobs}", "trainer.progress=false", f"trainer.wall_time_limit={args.budget}",
                   *args.overrides]
        print(f"\n$ {' '.join(command[1:])}  (load {os.getloadavg()[0]:.2f})", flush=True)
        started = time.monotonic()
        result = subprocess.run(command, cwd=workdir, env=env, text=True, stdout=subprocess.PIPE)
        print(f"{variant}: exit {result.returncode} after {time.monotonic() - started:.0f} s", flush=True)
        if result.returncode != 0:
            print(result.stdout[-2000:])
    print(f"\nload after training: {os.getloadavg()}", flush=True)
    torch.set_num_threads(2)
    rows = {variant: [] for variant in VARIANTS}
    for variant in VARIANTS:
        for run_dir in sorted((workdir / "runs" / f"{args.exp}_{variant}").glob("*/status.json")):
            if json.loads(run_dir.read_text()).get("state") == "complete":
                rows[variant].append(score(run_dir.parent))
    columns = ["seed", "epochs", "train_s", "inside_all", "beyond_all", "blown_all", "inside_10%", "beyond_10%",
               "blown_10%"]
    print("\n| variant | " + " | ".join(columns) + " |\n|" + "---|" * (len(columns) + 1))
    for variant, scored in rows.items():
        for r in scored:
            cells = [f"{r[c]:.4f}" if isinstance(r[c], float) and c not in ("train_s",) else str(r[c]) for c in columns]
            print(f"| {variant} | " + " | ".join(cells) + " |")
    print("\nmedian ± MAD over seeds:")
    for variant, scored in rows.items():
        if scored:
            print(f"  {variant}: " + ", ".join(f"{c} {median_mad([r[c] for r in scored])}" for c in columns[3:]
                                             if not c.startswith("blown")))
    if rows["phirom"] and rows["dino"]:
        for where in ("inside_all", "beyond_all"):
            ratio = np.median([r[where] for r in rows["phirom"]]) / np.median([r[where] for r in rows["dino"]])
            print(f"Φ-ROM / DINo-style, {where}: {ratio:.3f} (target beyond: <= 0.7)")
        for variant, scored in rows.items():
            ratio = np.median([r["beyond_10%"] / r["beyond_all"] if np.isfinite(r["beyond_all"])
                               else r["inside_10%"] / r["inside_all"] for r in scored])
            print(f"{variant}: forecast from 10 % of the points / from all: {ratio:.3f}")
    print(f"load at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
