"""Lorenz end to end: `python -m dynlearn train +exp=lorenz` wall time and invariants.

Protocol (issue "Foundation"): free runs of exactly 10,000 steps (dt 0.01, after a 1,000-step
transient) against 10,000-step held-out truths, median over 5 initial conditions, beside the
true-vs-true floor computed the same way. With --tutorial, the AL-RNN authors' tutorial
configuration (M = 20, P = 2, batch 16, tau = 16, RAdam 1e-3 -> 1e-5, 2,000 x 50 batches) runs
in the same process tree for comparison (about 25+ minutes here; they report D_stsp 3.52,
D_H 0.143).

    .venv/bin/python bench/bench_lorenz_training.py [--tutorial] [--workdir DIR]
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

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = ["model.latent_dim=20", "model.n_pwl=2", "model.forcing=sparse", "model.forcing_interval=16",
            "trainer.batch_size=16", "trainer.seq_len=200", "trainer.lr_start=1e-3", "trainer.lr_end=1e-5",
            "trainer.epochs=2000", "trainer.batches_per_epoch=50", "trainer.eval_every=100", "name=tutorial"]


def run(label: str, overrides: list[str], workdir: Path) -> dict:
    env = dict(os.environ, DYNLEARN_CONF=str(REPO / "conf"), MPLBACKEND="Agg")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "dynlearn", "train", "+exp=lorenz",
                             "trainer.progress=false", *overrides],
                            cwd=workdir, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{label} failed: {result.stderr.strip()}")
    run_dir = workdir / result.stdout.split("run: ")[1].splitlines()[0]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    status = json.loads((run_dir / "status.json").read_text())
    return {"label": label, "wall_seconds": round(seconds, 1), "train_seconds": status.get("train_seconds"),
            "epochs": status.get("epochs"), **{k: metrics[k] for k in
            ("d_stsp", "d_stsp_floor", "d_h", "d_h_floor", "lyap_max", "lyap_max_reference", "vpt")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tutorial", action="store_true", help="also run the authors' tutorial config")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dynlearn-bench-"))
    rows = [run("dynlearn +exp=lorenz", [], workdir)]
    if args.tutorial:
        rows.append(run("AL-RNN tutorial config", TUTORIAL, workdir))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]) for k in keys) + " |")
    lyap_error = abs(rows[0]["lyap_max"] - rows[0]["lyap_max_reference"]) / rows[0]["lyap_max_reference"]
    print(f"targets: wall <= 600 s ({rows[0]['wall_seconds']}), D_stsp <= 1.0 ({rows[0]['d_stsp']:.3f}), "
          f"D_H <= 0.10 ({rows[0]['d_h']:.3f}), lyap_max within 10% ({100 * lyap_error:.1f}%)")


if __name__ == "__main__":
    main()
