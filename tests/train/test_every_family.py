"""The shared loop, for every registered family: a debug-sized run trains, evaluates and rolls
out, and a run killed (SIGKILL) mid-epoch resumes to the same weights, bit for bit, as a run
never interrupted."""

import csv
import json
import subprocess
import sys

import pytest
import torch

import dynlearn
from dynlearn.cli import main
from dynlearn.models import list_models, model_family
from tests.helpers import TINY_RIVER, cli_env

# Optimizer steps before the kill: mid-way through the second epoch (5 batches per epoch below).
KILL_AT = 8
KILLER = f"""
import os, signal, sys
from torch.optim.optimizer import register_optimizer_step_post_hook
steps = 0
def kill(optimizer, args, kwargs):
    global steps
    steps += 1
    if steps == {KILL_AT}:
        os.kill(os.getpid(), signal.SIGKILL)
register_optimizer_step_post_hook(kill)
from dynlearn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def overrides(model: str, data) -> list[str]:
    family = model_family(model)
    if family.layout == "field" and "grid" in family.kinds:  # they learn the driven river grid, at their small sizes
        return [*TINY_RIVER, f"model={model}", "model_size=small", f"paths.data={data}"]
    if family.layout == "field":  # the autonomous field families (Φ-ROM): Kuramoto–Sivashinsky
        return ["+exp=ks", f"model={model}", "debug=fast", f"paths.data={data}"]
    return ["+exp=lorenz", f"model={model}", "debug=fast", f"paths.data={data}"]


def only_run(root):
    (run_dir,) = [p for p in (root / "runs").glob("*/*") if p.is_dir()]
    return run_dir


@pytest.mark.parametrize("model", list_models())
def test_a_killed_run_resumes_bitwise_and_every_family_runs_the_whole_cycle(model, tmp_path, monkeypatch):
    monkeypatch.setenv("DYNLEARN_CONF", str(cli_env()["DYNLEARN_CONF"]))
    args = overrides(model, tmp_path / "data")
    killed, fresh = tmp_path / "killed", tmp_path / "fresh"
    killed.mkdir(), fresh.mkdir()
    result = subprocess.run([sys.executable, "-c", KILLER, "train", *args], cwd=killed, env=cli_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == -9, result.stderr  # killed by the signal, not finished or failed
    run_dir = only_run(killed)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "running"
    assert json.loads((run_dir / "checkpoints" / "last.json").read_text())["epoch"] == 1

    monkeypatch.chdir(killed)
    assert main(["train", *args, f"resume={run_dir}"]) == 0
    monkeypatch.chdir(fresh)
    assert main(["train", *args]) == 0
    a = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(only_run(fresh) / "checkpoints" / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] >= 2
    for part in ("model", "best_model"):
        for key in b[part] or {}:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    # The resumed run's training time counts the epochs before the kill too.
    with (run_dir / "checkpoints" / "train_log.csv").open() as f:
        logged = [float(row["seconds"]) for row in csv.DictReader(f)]
    assert len(logged) == a["epoch"]
    assert json.loads((run_dir / "status.json").read_text())["train_seconds"] == pytest.approx(sum(logged), abs=0.06)

    # The uninterrupted run was evaluated, and its kept model's rollout is its own step repeated.
    assert (only_run(fresh) / "metrics.json").exists()
    assert json.loads((only_run(fresh) / "status.json").read_text())["state"] == "complete"
    if model_family(model).layout == "vector":  # (field families need their forcing: their own tests)
        model_ = dynlearn.load_run(only_run(fresh)).model
        context = 0.5 * torch.randn(2, 40, 3, generator=torch.Generator().manual_seed(0))  # Lorenz: D = 3
        with torch.random.fork_rng(devices=[]):  # stochastic families draw the same noise both ways
            torch.manual_seed(1)
            rolled = model_.rollout(context, 7)
            torch.manual_seed(1)
            with torch.no_grad():
                state, stepped = model_.initial_state(context), []
                for _ in range(7):
                    state = model_.step(state)
                    stepped.append(model_.observe(state))
        torch.testing.assert_close(rolled, torch.stack(stepped, dim=1), rtol=1e-5, atol=1e-6)
