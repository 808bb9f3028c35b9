"""Run directories: ``runs/<exp>/<timestamp>/`` with config, provenance, status and checkpoints.

What training wrote is never changed afterwards; evaluations go into new ``eval-<ts>/`` folders.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from ._errors import ConfigError
from .data import Normalizer
from .models import AbstractModel, IOShape, make_model
from .train import load_checkpoint
from .atomic import atomic_write_json, atomic_write_text

STATUS = "status.json"
CHECKPOINTS = "checkpoints"
_PACKAGES = ("dynlearn", "torch", "numpy", "scipy", "zarr", "xarray", "hydra-core", "prefect", "torchdiffeq")


def timestamp() -> str:
    """Sortable, sub-second (two jobs started in the same second get different folders)."""
    return dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")


def create_run_dir(runs_root: Path, name: str, config: dict, config_hash: str) -> Path:
    """Make a new run directory holding the resolved config, provenance and a 'running' status."""
    run_dir = runs_root / name / timestamp()
    run_dir.mkdir(parents=True)
    atomic_write_text(yaml.safe_dump(config, sort_keys=False), run_dir / "config.yaml")
    atomic_write_json(provenance(), run_dir / "provenance.json")
    write_status(run_dir, state="running", config_hash=config_hash)
    return run_dir


def write_status(run_dir: Path, **fields) -> None:
    """Update ``status.json`` (state: running | complete | diverged | stopped)."""
    path = run_dir / STATUS
    status = json.loads(path.read_text()) if path.exists() else {}
    status.update(fields, updated=dt.datetime.now().isoformat(timespec="seconds"))
    atomic_write_json(status, path)


def read_status(run_dir: Path) -> dict:
    path = run_dir / STATUS
    return json.loads(path.read_text()) if path.exists() else {}


def find_resumable(runs_root: Path, name: str, config_hash: str) -> Path | None:
    """The newest unfinished run of `name` made with the same config, if any."""
    candidates = sorted((runs_root / name).glob("*/" + STATUS)) if (runs_root / name).exists() else []
    for status_path in reversed(candidates):
        status = json.loads(status_path.read_text())
        if status.get("state") != "complete" and status.get("config_hash") == config_hash:
            return status_path.parent
    return None


def check_resumable(run_dir: Path, config_hash: str) -> None:
    """Refuse to resume a missing run, a finished one, or one made from another config."""
    status = read_status(run_dir)
    if not status:
        raise ConfigError(f"resume={run_dir} is not a run directory; give a folder under runs/ or resume=true")
    if status.get("state") == "complete":
        raise ConfigError(f"run {run_dir} is already complete; start a new run (drop resume=...)")
    if status.get("config_hash") != config_hash:
        raise ConfigError(f"run {run_dir} was made with a different config; resume it with the same "
                          "overrides it was started with, or start a new run")


def provenance() -> dict:
    """Git SHA, package versions and host, so a result can be traced to what produced it."""
    repo = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        sha = None
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "git_sha": sha,
        "packages": versions,
        "python": sys.version.split()[0],
        "host": platform.node(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "argv": sys.argv,
        "created": dt.datetime.now().isoformat(timespec="seconds"),
    }


@dataclass(frozen=True)
class Run:
    """A trained run loaded back: its model, how to (de)normalize, and where its data are.

    Attributes:
        path: the run directory.
        config: the resolved config it was trained with.
        model: the kept (best) model, in eval mode, on the device it was trained on when that
            is a GPU and one is available here, else on the CPU.
        normalizer: the training-split statistics the model was trained on.
        meta: checkpoint metadata (model family and options, dt, system, data store, ...).
    """

    path: Path
    config: dict
    model: AbstractModel
    normalizer: Normalizer
    meta: dict

    @property
    def data_store(self) -> Path:
        return Path(self.meta["data_store"])


def load_run(run_dir: str | Path, checkpoint: str = "best") -> Run:
    """Load a run directory's model (``best`` or ``last``) with ``torch.load(weights_only=True)``.

    The model goes to the run's ``device`` when that is ``cuda`` and CUDA is available here, else
    to the CPU: a run trained on a GPU is evaluated there, and still loads on a laptop.
    """
    run_dir = Path(run_dir)
    meta_path = run_dir / CHECKPOINTS / f"{checkpoint}.json"
    if not meta_path.exists():
        raise ConfigError(f"{run_dir} has no {checkpoint} checkpoint; give a run directory that has "
                          f"{CHECKPOINTS}/{checkpoint}.pt (train first)")
    meta = json.loads(meta_path.read_text())
    io = IOShape(tuple(meta["io"]["state"]), tuple(meta["io"]["forcing"])) if "io" in meta else meta["obs_dim"]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    device = "cuda" if config.get("device") == "cuda" and torch.cuda.is_available() else "cpu"
    model = make_model(meta["model_name"], io, **meta["model_options"])
    model = model.to(device, {"float32": torch.float32, "float64": torch.float64}[meta["dtype"]])
    state = load_checkpoint(run_dir / CHECKPOINTS / f"{checkpoint}.pt")
    model.load_state_dict(state["model"] if "model" in state and "optimizer" in state else state)
    model.eval()
    normalizer = Normalizer.from_lists(meta["norm_mean"], meta["norm_std"])
    return Run(run_dir, config, model, normalizer, meta)
