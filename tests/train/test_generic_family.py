"""A model family the platform has never seen trains, is selected and evaluated by the generic loop.

The family is registered by the test only: a linear map x_{t+1} = A x_t on the observations,
with a loss that returns keys of its own and no step Jacobian. The loop must log its keys, and
the evaluation must label its λ_max "not available" rather than invent a number.
"""

import csv
import dataclasses
import json

import torch
from torch import nn

import dynlearn
from dynlearn.models import _registry
from dynlearn.models._base import AbstractModel
from tests.helpers import REPO


class LinearMap(AbstractModel):
    @dataclasses.dataclass
    class Config:
        pass

    def __init__(self, obs_dim, config=None):
        super().__init__()
        self.A = nn.Linear(obs_dim, obs_dim, bias=False)
        nn.init.zeros_(self.A.weight)  # starts far from the answer, A ≈ I for a small dt

    def loss(self, batch):
        x = batch["x"]
        one_step = ((self.A(x[:, :-1]) - x[:, 1:]) ** 2).mean()
        return {"loss": one_step, "one_step_mse": one_step.detach(),
                "weight_norm": torch.linalg.matrix_norm(self.A.weight.detach())}

    def initial_state(self, context):
        return context[:, -1]

    def step(self, state):
        return self.A(state)

    def observe(self, state):
        return state


def test_an_unknown_family_trains_logs_its_own_keys_and_has_no_lambda(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    monkeypatch.setitem(_registry.MODELS, "linear_map", LinearMap)
    settings = dynlearn.load_settings(["+exp=lorenz", "debug=fast"])
    settings = dataclasses.replace(settings, model_name="linear_map", model_options={},
                                   trainer=dataclasses.replace(settings.trainer, epochs=40, lr_start=0.05, lr_end=0.05))
    run_dir = dynlearn.train(settings)

    with (run_dir / "checkpoints" / "train_log.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["epoch", "loss", "one_step_mse", "weight_norm", "lr", "val_d_stsp", "val_d_h",
                                 "val_failed", "seconds"]
    # From the zero map (one-step MSE = the mean square of the standardized states, ~1) towards
    # A ≈ I: over dt = 0.01 a state barely moves, so the one-step error becomes small.
    assert float(rows[0]["one_step_mse"]) > 0.3 and float(rows[-1]["one_step_mse"]) < 0.05
    assert float(rows[0]["weight_norm"]) < float(rows[-1]["weight_norm"]) < 3 ** 0.5 + 0.2

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["lyap_max_available"] is False and metrics["lyap_max"] is None
    table = (run_dir / "metrics_table.md").read_text()
    assert "| lyap_max (median over ICs) | not available |" in table
    run = dynlearn.load_run(run_dir)
    assert isinstance(run.model, LinearMap)
