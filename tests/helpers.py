"""Shared test helpers: tiny configs and running the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Small enough for seconds, large enough to exercise chunking, splits and evaluation.
TINY_DATA = ["data.n_train=2", "data.n_val=1", "data.n_test=2", "data.n_steps=1200",
             "data.chunk_steps=400", "data.transient_time=5.0"]
TINY_TRAIN = ["trainer.epochs=4", "trainer.batches_per_epoch=5", "trainer.batch_size=4",
              "trainer.seq_len=20", "trainer.eval_every=2", "trainer.eval_steps=300",
              "trainer.progress=false", "eval.n_steps=500", "eval.transient=100",
              "eval.lyap_steps=400", "eval.lyap_transient=50", "eval.n_ics=2",
              "model.latent_dim=8", "threads=1"]

# A river basin of 8 x 8 cells and 120 days, and the ARX trained on it in a second.
TINY_RIVER = ["system=river", "data=river", "model=arx", "system.params.ny=8", "system.params.nx=8",
              "+system.params.river_threshold_km2=30.0", "data.n_steps=120", "data.chunk_steps=60",
              "data.transient_time=30.0", "trainer.epochs=2", "trainer.batches_per_epoch=5", "trainer.seq_len=5",
              "trainer.progress=false", "eval.lead_steps=3", "threads=1"]


def cli_env() -> dict:
    env = dict(os.environ, DYNLEARN_CONF=str(REPO / "conf"), MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    env.pop("PREFECT_API_URL", None)
    return env


def run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m dynlearn <args>` in a subprocess, in `cwd`."""
    return subprocess.run([sys.executable, "-m", "dynlearn", *args], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def popen_cli(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dynlearn", *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def tree(path: Path) -> set[str]:
    """Every file and folder below `path` (relative), to assert that nothing was written."""
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


def randomized(model, generator, scale: float):
    """`model` with every parameter redrawn N(0, scale²) from `generator`: weights far from any
    special initialization, so an identity that holds for them holds in general."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model
