"""Model families the platform has never seen train, roll out and are judged through the generic loop.

Both are registered by the tests only. A linear map x_{t+1} = A x_t on an ODE store, with a loss
that returns keys of its own and no step Jacobian: the loop must log its keys, and the evaluation
must label its λ_max "not available" rather than invent a number. And a field family on a tiny
river grid: a per-pixel linear map driven by the forcing channels (precipitation,
evapotranspiration), which must reach the per-pixel least-squares optimum and roll out exactly
its own recursion.
"""

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

import dynlearn
from dynlearn.data import WindowDataset
from dynlearn.metrics import nse
from dynlearn.models import AbstractModel, _registry
from tests.helpers import REPO


class LinearMap(AbstractModel):
    @dataclasses.dataclass
    class Config:
        pass

    def __init__(self, io, config=None):
        super().__init__()
        self.A = nn.Linear(io.dim, io.dim, bias=False)
        nn.init.zeros_(self.A.weight)  # starts far from the answer, A ≈ I for a small dt

    def loss(self, batch):
        x = batch["x"]
        one_step = ((self.A(x[:, :-1]) - x[:, 1:]) ** 2).mean()
        return {"loss": one_step, "one_step_mse": one_step.detach(),
                "weight_norm": torch.linalg.matrix_norm(self.A.weight.detach())}

    def initial_state(self, context, u=None):
        return context[:, -1]

    def step(self, state, u=None):
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


class PixelLinear(AbstractModel):
    """q_{t+1} = a q_t + Σ_k b_k u_{k,t+1} at every pixel (a field family with forcing)."""

    layout = "field"
    kinds = ("grid",)

    @dataclasses.dataclass
    class Config:
        pass

    def __init__(self, io, config=None):
        super().__init__()
        spatial, n_inputs = io.state[1:], io.n_inputs
        self.a = nn.Parameter(torch.zeros(spatial))
        self.b = nn.Parameter(torch.zeros(n_inputs, *spatial))

    def _next(self, q, u):  # q (B, H, W), u (B, U, H, W)
        return self.a * q + (self.b * u).sum(1)

    def loss(self, batch):
        x, u = batch["x"][:, :, 0], batch["u"]
        river = torch.isfinite(x[:, 1:]) & torch.isfinite(x[:, :-1])  # no loss off the basin
        error = self._next(torch.nan_to_num(x[:, :-1]).flatten(0, 1), u[:, 1:].flatten(0, 1)) \
            - torch.nan_to_num(x[:, 1:]).flatten(0, 1)
        mse = (error[river.flatten(0, 1)] ** 2).mean()
        return {"loss": mse, "masked_mse": mse.detach(), "mean_gain": self.a.detach().mean()}

    def initial_state(self, context, u=None):
        return torch.nan_to_num(context[:, -1, 0])

    def step(self, state, u=None):
        return self._next(state, u)

    def observe(self, state):
        return state.unsqueeze(1)


RIVER = ["system=river", "data=river", "system.params.ny=8", "system.params.nx=8",
         "+system.params.river_threshold_km2=30.0", "data.n_steps=300", "data.chunk_steps=100",
         "data.transient_time=30.0", "data.seed=1", "eval.lead_steps=3", "eval.future_forcing=observed", "threads=1",
         "trainer.epochs=20", "trainer.batches_per_epoch=50", "trainer.batch_size=32", "trainer.seq_len=10",
         "trainer.lr_start=0.2", "trainer.lr_end=0.001", "trainer.eval_every=0", "trainer.progress=false"]


def test_a_field_family_with_forcing_trains_is_judged_by_skill_and_rolls_out_its_recursion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    monkeypatch.setitem(_registry.MODELS, "pixel_linear", PixelLinear)
    settings = dynlearn.load_settings(RIVER, check_model=False)  # the family is chosen below
    settings = dataclasses.replace(settings, model_name="pixel_linear", model_options={})
    run_dir = dynlearn.train(settings)
    run = dynlearn.load_run(run_dir)
    model = run.model
    assert isinstance(model, PixelLinear)
    assert run.meta["io"] == {"state": [1, 8, 8], "forcing": [2, 8, 8]}  # one discharge channel, two forcings

    with (run_dir / "checkpoints" / "train_log.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["epoch", "loss", "masked_mse", "mean_gain", "lr", "val_d_stsp", "val_d_h",
                                 "val_failed", "seconds"]
    assert float(rows[-1]["masked_mse"]) < 0.1 * float(rows[0]["masked_mse"])

    # The per-pixel least-squares optimum over every one-step pair of the training period.
    period = WindowDataset(run.data_store, "train", 11, layout="field").trajectory(0)
    q = period["x"][:, 0].double().numpy()                  # (T, H, W) standardized, NaN off the basin
    u = period["u"].double().numpy()                        # (T, 2, H, W)
    river = np.isfinite(q[0])
    optimum, fitted = [], []
    with torch.no_grad():
        predicted = model._next(torch.from_numpy(np.nan_to_num(q[:-1])).float(), torch.from_numpy(u[1:]).float())
    for i, j in zip(*np.nonzero(river)):
        design = np.column_stack([q[:-1, i, j], u[1:, 0, i, j], u[1:, 1, i, j]])
        _, residual, *_ = np.linalg.lstsq(design, q[1:, i, j], rcond=None)
        optimum.append(residual[0] / (len(q) - 1))
        fitted.append(np.mean((predicted[:, i, j].double().numpy() - q[1:, i, j]) ** 2))
    optimum, fitted = np.mean(optimum), np.mean(fitted)
    # No model of this form does better (the loss saw the right pairs); training gets within 5 %.
    assert optimum * (1 - 1e-4) <= fitted < 1.05 * optimum, (fitted, optimum)

    # Judged by forecast skill from every test day, driven by the observed forcing: the lead-1 NSE
    # and persistence's NSE recomputed here from the store and the model's own step.
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["protocol"] == "forecast_skill" and metrics["lead_steps"] == 3
    ds = dynlearn.open_store(run.data_store)
    test_days = np.flatnonzero(ds["split"].values == 2)
    obs = ds["discharge"].values[test_days]                 # (days, H, W) in m³/s
    drive = np.stack([ds["evapotranspiration"].values, ds["precipitation"].values], axis=1)[test_days]
    mean, std = run.normalizer.mean[0], run.normalizer.std[0]
    with torch.no_grad():
        z = torch.from_numpy(np.nan_to_num((obs[:-1] - mean) / std)).float()
        lead1 = model._next(z, torch.from_numpy(drive[1:]).float()).double().numpy() * std + mean
    starts = len(test_days) - 3                              # every day with 3 days after it
    assert metrics["n_cases"] == starts and metrics["n_cells"] == int(river.sum())
    expected = np.median(nse(lead1[:starts][:, river], obs[1:starts + 1][:, river]))
    persistence = np.median(nse(obs[:starts][:, river], obs[1:starts + 1][:, river]))
    assert metrics["by_lead"][0]["nse"] == pytest.approx(expected, rel=1e-4)
    assert metrics["by_lead"][0]["nse_persistence"] == pytest.approx(persistence, rel=1e-9)
    assert "NSE at lead 1 (perfect future forcing) (median over cells)" in (run_dir / "metrics_table.md").read_text()

    # A free run driven by the forcing is the family's own recursion, step by step.
    context, steps = period["x"][None, :5], 20
    forcing = period["u"][None, :5 + steps]
    generated = model.rollout(context, steps, forcing)
    assert generated.shape == (1, steps, 1, 8, 8)
    expected, state = [], torch.nan_to_num(context[:, -1, 0])
    with torch.no_grad():
        for t in range(steps):
            state = model._next(state, forcing[:, 5 + t])
            expected.append(state)
    torch.testing.assert_close(generated[:, :, 0], torch.stack(expected, dim=1), rtol=0, atol=0)
    with pytest.raises(ValueError, match="forcing u must cover"):
        model.rollout(context, steps, forcing[:, :-1])
