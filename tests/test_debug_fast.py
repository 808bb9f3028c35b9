"""debug=fast: every experiment and model shrinks to seconds, and its numbers are pinned.

The golden file holds the metrics of `python -m dynlearn train +exp=lorenz debug=fast`, committed
before the seams refactor (issue 9) so that it can show the refactor changes no number: data
generation, training, model selection and evaluation all feed into them.
"""

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

from dynlearn import ConfigError
from dynlearn._compose import load_config
from dynlearn._settings import build_settings
from dynlearn.cli import load_settings, main
from dynlearn.models import model_family
from tests.helpers import REPO

GOLDEN = Path(__file__).parent / "golden" / "lorenz_debug_fast.json"
EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "exp").glob("*.yaml"))
MODELS = sorted(p.stem for p in (REPO / "conf" / "model").glob("*.yaml"))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("exp", [None, *EXPERIMENTS])
def test_every_experiment_and_model_shrinks_with_debug_fast(monkeypatch, exp, model):
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    overrides = [f"model={model}", *([f"+exp={exp}"] if exp else [])]
    if exp and exp.endswith("_gpu") and not torch.cuda.is_available():  # CUDA only, also shrunk: one line here
        with pytest.raises(ConfigError, match="CUDA|gives ode data"):
            build_settings(load_config([*overrides, "debug=fast"]))
        return
    config = load_config([*overrides, "debug=fast"])  # every pair composes
    system = build_settings(config, check_model=False).system  # the full experiment's is the same
    kind = system.kind if system is not None else "ode"  # a corpus of many systems (data=corpus) is ODE data
    if kind not in model_family(model).kinds:  # e.g. a field family and an ODE experiment: refused in one line
        with pytest.raises(ConfigError, match=f"gives {kind} data; model '{model}' learns .* only: choose"):
            build_settings(config)
        return
    fast = build_settings(config)  # builds the small model
    full = build_settings(load_config(overrides), check_model=False)  # compared with, not built
    assert fast.trainer.epochs == 4 and fast.trainer.batches_per_epoch == 5 and fast.eval.n_ics == 2
    assert fast.threads == 1
    own = REPO / "conf" / "exp_debug" / f"{exp}_fast.yaml"  # what an experiment's data need on top
    shrunk = yaml.safe_load(own.read_text()) if own.exists() else {}
    assert fast.eval.n_steps == shrunk.get("eval", {}).get("n_steps", 500)
    assert fast.config["data"]["n_steps"] == shrunk.get("data", {}).get("n_steps", 1200)
    # The model takes the small sizes its own config gives, whatever the experiment chose.
    assert fast.model_options == {**full.model_options, **config["model"]["small"]}
    if model == "alrnn":
        assert fast.model_options["latent_dim"] is None and fast.model_options["n_pwl"] == 2
    # Only the sizes change: the experiment's choices of system, forcing and schedule stay.
    # (an experiment's own debug file may shrink the grid: conf/exp_debug/ns_fast.yaml)
    grid = shrunk.get("system", {}).get("params", {})
    assert fast.config["system"] == {**full.config["system"],
                                     "params": {**full.config["system"].get("params", {}), **grid}}
    assert fast.trainer.lr_start == full.trainer.lr_start
    # Its data and runs never mix with the full experiment's.
    assert fast.data_store != full.data_store and fast.name.endswith("-debug")


def test_lorenz_debug_fast_reproduces_its_golden_metrics(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    assert main(["train", "+exp=lorenz", "debug=fast"]) == 0
    (run_dir,) = (tmp_path / "runs" / "lorenz63-debug").iterdir()
    golden = json.loads(GOLDEN.read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    last = list(csv.DictReader((run_dir / "checkpoints" / "train_log.csv").open()))[-1]
    # float32 training on another CPU may round differently in the last bits; 1e-4 still
    # catches any change of data, training, selection or metric.
    for key, value in golden["metrics"].items():
        assert metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-9), key
    for key, value in golden["train_log_last"].items():
        assert float(last[key]) == pytest.approx(value, rel=1e-4, abs=1e-9), key


def test_a_familys_own_schedule_for_an_experiment_yields_to_the_command_line_and_to_debug_fast(monkeypatch):
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    alrnn = load_settings(["+exp=lorenz"])
    sde = load_settings(["+exp=lorenz", "model=latent_sde"])  # conf/exp_model/lorenz_latent_sde.yaml: trainer
    assert (alrnn.trainer.epochs, alrnn.trainer.seq_len) == (450, 100)
    assert (sde.trainer.epochs, sde.trainer.seq_len, sde.trainer.optimizer) == (40, 50, "adam")
    assert sde.config["system"] == alrnn.config["system"] and sde.model_options["latent_dim"] == 4
    assert load_settings(["+exp=lorenz", "model=latent_sde", "trainer.epochs=7"]).trainer.epochs == 7
    assert load_settings(["+exp=lorenz", "model=latent_sde", "debug=fast"]).trainer.epochs == 4


def test_model_keys_on_the_command_line_win_over_the_size_block(monkeypatch):
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    assert load_settings(["+exp=lorenz", "debug=fast"]).model_options["n_pwl"] == 2  # the small block's
    fast = load_settings(["+exp=lorenz", "debug=fast", "model.n_pwl=3"])
    assert fast.model_options["n_pwl"] == 3 and fast.config["model"]["small"].get("n_pwl") is None
    assert fast.model_options["latent_dim"] is None  # the rest of the block still applies
