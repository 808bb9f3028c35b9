"""Ship a pretraining run with dynlearn: ``python -m dynlearn.pretrained._ship <run dir> [name]``.

Copies what loading and judging the run needs into ``dynlearn/pretrained/<name>/`` (default
``dynamix``, what ``run=dynamix`` names): its config, the kept checkpoint and its metadata, metrics,
status and training log; a description of its corpus (``corpus.json``, from the corpus store's
attrs); and a reproduction check (``check/``): a 2,000-step context of held-out Lorenz-63 (the first
test case of ``data/heldout_lorenz63.zarr``, bench/bench_dynamix_zero_shot.py makes it), the 3,000
true steps after it, and the zero-shot forecast's D_stsp and D_H with its first steps
(``check/expected.json``), which the tests recompute from the shipped checkpoint. The shipped
metadata names no path of this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from dynlearn._run import CHECKPOINTS, load_run
from dynlearn.atomic import atomic_directory, atomic_write_json, atomic_write_text
from dynlearn.data import open_store, split_indices
from dynlearn.metrics import d_h, pooled_d_stsp
from dynlearn.models.dynamix import zero_shot_forecast

HERE = Path(__file__).parent
CHECK_STORE = Path("data/heldout_lorenz63.zarr")
CONTEXT, HORIZON, SEED = 2000, 3000, 0
FILES = ("config.yaml", "metrics.json", "status.json", "metrics_table.md", f"{CHECKPOINTS}/best.pt",
         f"{CHECKPOINTS}/best.json", f"{CHECKPOINTS}/train_log.csv")


def check_figures(run_dir: Path, context: np.ndarray, truth: np.ndarray) -> dict:
    """The zero-shot forecast of `truth`'s length from `context` and its figures against `truth`."""
    run = load_run(run_dir)
    forecast = zero_shot_forecast(run.model, context[None], len(truth), seed=SEED)[0]
    mean, std = truth.mean(0), truth.std(0)  # judged in the truth's standardized units, as evaluate does
    z_truth, z_forecast = (truth - mean) / std, (forecast - mean) / std
    return {"d_stsp": pooled_d_stsp(z_truth[None], z_forecast[None], n_bins=30),
            "d_h": d_h(z_truth[None], z_forecast[None]), "first_steps": forecast[:20].tolist()}


def ship(run_dir: Path, name: str = "dynamix") -> Path:
    """Build the shipped folder beside the old one and swap it in only when complete."""
    final, staging = HERE / name, HERE / f".{name}.staged"
    shutil.rmtree(staging, ignore_errors=True)
    with atomic_directory(staging) as target:
        _build(run_dir, target, name)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(staging, final)
    return final


def _build(run_dir: Path, target: Path, name: str) -> None:
    for file in FILES:
        (target / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run_dir / file, target / file)
    meta = json.loads((target / CHECKPOINTS / "best.json").read_text())
    corpus = open_store(meta["data_store"])
    meta["data_store"] = f"data/{Path(meta['data_store']).name}"  # where the regenerating command puts it
    atomic_write_json(meta, target / CHECKPOINTS / "best.json")
    metrics = json.loads((target / "metrics.json").read_text())
    metrics["test_data"]["store"] = meta["data_store"]
    atomic_write_json(metrics, target / "metrics.json")
    attrs = corpus.attrs
    atomic_write_json({"store": meta["data_store"], "spec": attrs["corpus"], "systems": attrs["corpus_systems"],
                       "sequences": int(corpus.sizes["traj"]), "steps": int(corpus.sizes["time"]),
                       "held_out": attrs["params"]["held_out"], "config_hash": attrs["config_hash"]},
                      target / "corpus.json")
    store = open_store(CHECK_STORE)
    series = store["state"].isel(traj=int(split_indices(store, "test")[0])).values
    context, truth = series[:CONTEXT], series[CONTEXT:CONTEXT + HORIZON]
    (target / "check").mkdir()
    np.save(target / "check" / "context.npy", context)
    np.save(target / "check" / "truth.npy", truth)
    figures = check_figures(target, context, truth)
    atomic_write_json({"store": str(CHECK_STORE), "context": CONTEXT, "horizon": HORIZON, "seed": SEED, **figures},
                      target / "check" / "expected.json")
    atomic_write_text(_readme(run_dir, target, corpus, name), target / "README.md")


def _readme(run_dir: Path, target: Path, corpus, name: str) -> str:
    """What the shipped run is and the commands that make it again."""
    from dynlearn._workflow import logged_seconds

    status = json.loads((target / "status.json").read_text())
    seconds = logged_seconds(target / CHECKPOINTS)
    config = (target / "config.yaml").read_text()
    exp = "dynamix_pretrain_gpu" if "name: dynamix_pretrain_gpu" in config else "dynamix_pretrain"
    systems = ", ".join(corpus.attrs["corpus_systems"])
    return f"""# Pretrained DynaMix (`run={name}`)

A DynaMix (Hemmer & Durstewitz 2025; dynlearn/models/dynamix/) pretrained on a corpus of
{corpus.sizes['traj']} sequences of {corpus.sizes['time']} steps from {len(corpus.attrs['corpus_systems'])} catalogue
systems ({systems}), each standardized by its own statistics; held out of it: {', '.join(corpus.attrs['params']['held_out'])}.
Trained {status.get('epochs')} epochs in {seconds / 60:.0f} minutes (the training log's sum), kept epoch
{status.get('best_epoch')} (best validation free runs). Shipped from `{run_dir.name}` by

    python -m dynlearn train +exp={exp}
    python -m dynlearn.pretrained._ship runs/{exp}/<timestamp>

Files: `config.yaml` (the resolved config), `checkpoints/best.pt` (the weights, `torch.load(...,
weights_only=True)`) and `best.json` (family, options, units), `metrics.json` / `metrics_table.md`
(the corpus's own test sequences), `checkpoints/train_log.csv`, `corpus.json` (the corpus: systems,
their sampling and parameter draws), `check/` (a held-out Lorenz-63 context, the truth after it and
the zero-shot figures the tests reproduce). Held-out results: bench/RESULTS.md, "Zero-shot".
"""


if __name__ == "__main__":
    print(ship(Path(sys.argv[1]), *sys.argv[2:]))
