"""Field models on their data, one table per experiment: `python -m dynlearn train +exp=<ks|ns|river> model=<m>`.

For each model family, trains seeds 0..N-1 of one experiment in one work folder (the store is
generated once and shared, so every run is judged on the same test cases), each seed after the
other with `threads` (default 2) torch threads, then prints one row per run and the median ± MAD
(min–max) over the seeds of the experiment's headline figures beside its targets (issue 12):

- ks: D_H (floor), λ_max of the learned map (jvp Benettin) against the catalogue's 0.0478, D_stsp,
  VPT; targets D_H <= 0.1 and λ_max within 15 %;
- ns: relative L2 over the 40 forecast steps from 10 read (FNO's benchmark protocol) and at
  leads 1 and 40, persistence's beside it, energy-spectrum error, correlation time; target
  relative L2 <= 0.10 (stretch 0.05) with <= 30 min of training;
- river: NSE and KGE at leads 1, 3 and 7 days, persistence's and climatology's beside them;
  target: every model beats persistence (NSE) at lead >= 3.

The store's generation is timed apart (its own command first). `--budget` caps training per seed
in wall seconds (trainer.wall_time_limit); the load is printed before and after.

    .venv/bin/python bench/bench_field_models.py --exp ks --models fno convs5 --seeds 3
    .venv/bin/python bench/bench_field_models.py --exp ns --models fno --seeds 3 --budget 1800
    .venv/bin/python bench/bench_field_models.py --exp river --models fno convs5 convlstm arx --seeds 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import fmt, spread  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KS_LAMBDA = 0.0478  # the catalogue's λ1 of KS at L = 22 (reference/data_metrics.md §2.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp", choices=("ks", "ns", "river"), required=True)
    parser.add_argument("--models", nargs="+", default=["fno", "convs5", "convlstm"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=None, help="training seconds per seed (wall)")
    parser.add_argument("--workdir", type=Path, default=None, help="reuse: its store, and finished runs are kept")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every run")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"dynlearn-{args.exp}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DYNLEARN_CONF=str(REPO / "conf"), MPLBACKEND="Agg", OMP_WAIT_POLICY="PASSIVE")
    print(f"load before: {os.getloadavg()} on {os.cpu_count()} cores; workdir {workdir}", flush=True)
    common = [f"+exp={args.exp}", f"threads={args.threads}", "trainer.progress=false", *args.overrides]
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "dynlearn", "generate", *common], cwd=workdir, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    print(f"store ready after {time.monotonic() - started:.0f} s (generated once, or reused)", flush=True)
    for model in args.models:
        for seed in range(args.seeds):
            if finished(workdir, model, seed):
                continue
            command = [sys.executable, "-m", "dynlearn", "train", *common, f"model={model}", f"seed={seed}",
                       *([f"trainer.wall_time_limit={args.budget}"] if args.budget else [])]
            print(f"$ {' '.join(command[3:])}  (load {os.getloadavg()[0]:.2f})", flush=True)
            t0 = time.monotonic()
            result = subprocess.run(command, cwd=workdir, env=env, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            print(f"  exit {result.returncode} after {time.monotonic() - t0:.0f} s", flush=True)
            if result.returncode != 0:
                print(result.stderr[-1500:])
    print(f"\nload after: {os.getloadavg()}")
    report(args.exp, workdir)


def runs(workdir: Path) -> list[tuple[dict, dict, dict]]:
    """(config, status, metrics) of every evaluated run in the work folder, oldest first."""
    import yaml

    found = []
    for metrics_path in sorted((workdir / "runs").glob("*/*/metrics.json")):
        run = metrics_path.parent
        found.append((yaml.safe_load((run / "config.yaml").read_text()),
                      json.loads((run / "status.json").read_text()), json.loads(metrics_path.read_text())))
    return found


def finished(workdir: Path, model: str, seed: int) -> bool:
    return any(c["model"]["name"] == model and c["seed"] == seed and s.get("state") == "complete"
               for c, s, _ in runs(workdir))


def headline(exp: str, metrics: dict) -> dict:
    """The experiment's figures from one run's metrics.json."""
    if exp == "ks":
        lyap = metrics["lyap_max"]
        return {"d_h": metrics["d_h"], "d_h_floor": metrics["d_h_floor"], "lyap_max": lyap,
                "lyap_rel_error": abs(lyap - KS_LAMBDA) / KS_LAMBDA if lyap is not None else None,
                "d_stsp": metrics["d_stsp"], "d_stsp_floor": metrics["d_stsp_floor"], "vpt": metrics["vpt"],
                "failed": metrics["n_collapsed"] + metrics["n_diverged"]}
    if exp == "ns":
        return {"rel_l2": metrics["rel_l2"], "rel_l2_lead1": metrics["rel_l2_by_lead"][0],
                "rel_l2_last": metrics["rel_l2_by_lead"][-1], "persistence": metrics["persistence"]["rel_l2"],
                "spectrum_error": metrics["spectrum_error"], "corr_time": metrics["correlation_time"],
                "failed": metrics["n_failed"]}
    out = {}
    for entry in metrics["by_lead"]:
        if entry["lead"] in (1, 3, 7):
            lead = entry["lead"]
            out.update({f"nse{lead}": entry["nse"], f"nse{lead}_pers": entry["nse_persistence"],
                        f"nse{lead}_clim": entry["nse_climatology"], f"kge{lead}": entry["kge"]})
    return out


def report(exp: str, workdir: Path) -> None:
    rows = []
    for config, status, metrics in runs(workdir):
        rows.append({"model": config["model"]["name"], "seed": config["seed"],
                     "train_s": status.get("train_seconds"), **headline(exp, metrics)})
    if not rows:
        print("no evaluated runs")
        return
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(fmt(row.get(k)) for k in keys) + " |")
    print("\nmedian ± MAD (min–max) over seeds:")
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        stats = {k: spread([r[k] for r in mine if isinstance(r[k], (int, float)) and math.isfinite(r[k])])
                 for k in keys[2:]}
        print(f"  {model} ({len(mine)} seeds): " + "; ".join(f"{k} {v}" for k, v in stats.items()))
        for name, ok in targets(exp, mine).items():
            print(f"    {'PASS' if ok else 'FAIL'}  {name}")


def targets(exp: str, rows: list[dict]) -> dict[str, bool]:
    """Issue 12's targets on the median over seeds (a missing figure fails)."""
    def median(key):
        values = [r[key] if isinstance(r[key], (int, float)) and math.isfinite(r[key]) else math.inf for r in rows]
        return statistics.median(values)

    if exp == "ks":
        return {"D_H <= 0.1": median("d_h") <= 0.1, "λ_max within 15 % of 0.0478": median("lyap_rel_error") <= 0.15}
    if exp == "ns":
        return {"relative L2 <= 0.10": median("rel_l2") <= 0.10, "relative L2 <= 0.05 (stretch)": median("rel_l2") <= 0.05,
                "training <= 1800 s": median("train_s") <= 1800}
    return {f"NSE above persistence at lead {lead}": all(r[f"nse{lead}"] > r[f"nse{lead}_pers"] for r in rows)
            for lead in (3, 7)}


if __name__ == "__main__":
    main()
