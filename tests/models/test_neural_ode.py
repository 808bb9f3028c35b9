"""The neural ODE: its step is an RK4 step of the field, its Jacobian the step's derivative, a linear
field fitted by multiple shooting recovers A up to RK4's own bias, and debug=fast runs end to end."""

import dataclasses
import json

import pytest
import torch

import dynlearn
from dynlearn import ConfigError
from dynlearn.models import IOShape, NeuralODE, NeuralODEConfig
from tests.helpers import REPO, randomized

# A damped rotation: eigenvalues -0.1 ± 2i.
A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)


def _rk4_38(f, y, h):
    """Kutta's 3/8-rule RK4 (torchdiffeq's "rk4"), written out."""
    k1 = f(y)
    k2 = f(y + h * k1 / 3)
    k3 = f(y + h * (k2 - k1 / 3))
    k4 = f(y + h * (k1 - k2 + k3))
    return y + h * (k1 + 3 * k2 + 3 * k3 + k4) / 8


def test_step_is_one_rk4_step_of_the_mlp(float64, generator):
    model = randomized(NeuralODE(3, NeuralODEConfig(width=8, depth=2, dt=0.05)), generator, 0.5)
    x = torch.randn(4, 3, generator=generator)
    with torch.no_grad():
        expected = _rk4_38(model.field.net, x, 0.05)
        torch.testing.assert_close(model.step(x), expected, rtol=0, atol=1e-12)


def test_dopri5_step_of_a_linear_field_is_its_exponential(float64, generator):
    cfg = NeuralODEConfig(depth=0, dt=0.3, method="dopri5", rtol=1e-10, atol=1e-12)
    model = NeuralODE(2, cfg)
    with torch.no_grad():
        model.field.net[0].weight.copy_(A)
        model.field.net[0].bias.zero_()
        x = torch.randn(5, 2, generator=generator)
        torch.testing.assert_close(model.step(x), x @ torch.linalg.matrix_exp(0.3 * A).T, rtol=0, atol=1e-9)


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_jacobian_is_the_derivative_of_step(float64, generator, method):
    model = randomized(NeuralODE(3, NeuralODEConfig(width=8, depth=2, dt=0.05, method=method)), generator, 0.5)
    x = torch.randn(4, 3, generator=generator)
    with torch.no_grad():  # as the Lyapunov estimate calls it
        # rk4 rows are independent; dopri5's step sizes depend on the whole batch, so one row at a time.
        jacobian = model.jacobian(x) if method == "rk4" else torch.cat([model.jacobian(x[b:b + 1]) for b in range(4)])
    for b in range(4):
        expected = torch.autograd.functional.jacobian(lambda s: model.step(s[None])[0], x[b])
        torch.testing.assert_close(jacobian[b], expected, rtol=0, atol=1e-12)


def test_loss_is_the_mse_of_segments_stepped_from_their_observed_starts(float64, generator):
    # T = 7 steps in segments of 3: starts 0, 3, 6, the last one step long.
    cfg = NeuralODEConfig(width=8, depth=1, dt=0.05, shooting_length=3, continuity=0.5)
    model = randomized(NeuralODE(2, cfg), generator, 0.5)
    x = torch.randn(2, 8, 2, generator=generator)
    errors, gaps = [], []
    for start in (0, 3, 6):
        state = x[:, start]
        for t in range(start + 1, min(start + 3, 7) + 1):
            state = model.step(state)
            errors.append(state - x[:, t])
        if start < 6:
            gaps.append(state - x[:, start + 3])
    mse, gap = torch.stack(errors).pow(2).mean(), torch.stack(gaps).pow(2).mean()
    out = model.loss({"x": x})
    torch.testing.assert_close(out["mse"], mse.detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(out["continuity"], gap.detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(out["loss"], mse + 0.5 * gap, rtol=1e-12, atol=0)
    # The adjoint ODE gives the same gradient as backpropagating through the solver.
    direct = torch.autograd.grad(out["loss"], list(model.parameters()))
    adjoint = NeuralODE(2, dataclasses.replace(cfg, adjoint=True))
    adjoint.load_state_dict(model.state_dict())
    through_adjoint = torch.autograd.grad(adjoint.loss({"x": x})["loss"], list(adjoint.parameters()))
    for g, h in zip(direct, through_adjoint):
        torch.testing.assert_close(h, g, rtol=1e-4, atol=1e-8)


def test_a_linear_field_fitted_by_multiple_shooting_recovers_A_up_to_rk4s_bias(float64, generator):
    dt = 0.1
    model = NeuralODE(2, NeuralODEConfig(depth=0, dt=dt, shooting_length=5))
    # Exact trajectories x(t) = expm(A t) x0: 4 windows of 16 observations, 3 shooting segments each.
    x0 = torch.randn(4, 2, generator=generator)
    propagators = torch.linalg.matrix_exp(dt * torch.arange(16.0)[:, None, None] * A)  # (T, 2, 2)
    x = torch.einsum("tij,bj->bti", propagators, x0)  # (B, T, 2)
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=500, tolerance_grad=1e-14,
                                  tolerance_change=0, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = model.loss({"x": x})["loss"]
        loss.backward()
        return loss

    optimizer.step(closure)
    w, b = model.field.net[0].weight.detach(), model.field.net[0].bias.detach()
    # RK4 maps x by the degree-4 Taylor polynomial P(h W) of expm(h W); the exact fit solves
    # P(h W*) = expm(h A), W* = A + h⁴ A⁵ / 120 + O(h⁵): found by fixed-point iteration.
    eye, target, exact = torch.eye(2), torch.linalg.matrix_exp(dt * A), A.clone()
    for _ in range(60):
        m = dt * exact
        exact = exact + (target - (eye + m + m @ m / 2 + m @ m @ m / 6 + m @ m @ m @ m / 24)) / dt
    torch.testing.assert_close(w, exact, rtol=0, atol=1e-10)  # measured: 3e-13
    assert b.abs().max() < 1e-8
    # ... and W differs from A by RK4's bias alone: 1.3e-5 relative at dt = 0.1 (1e-9 at dt = 0.01).
    relative = torch.linalg.norm(w - A) / torch.linalg.norm(A)
    assert 1e-5 < relative < 2e-5


def test_exogenous_inputs_and_bad_options_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="NeuralODE learns autonomous vectors.*2 exogenous inputs"):
        NeuralODE(IOShape((3,), (2,)))
    with pytest.raises(ConfigError, match="NeuralODE: shooting_length must be >= 1"):
        NeuralODEConfig(shooting_length=0)


def test_experiments_keep_their_alrnn_options_to_the_alrnn(monkeypatch):
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    alrnn = dynlearn.load_settings(["+exp=lorenz"]).model_options
    assert alrnn["latent_dim"] == 50 and alrnn["forcing"] == "generalized"
    node = dynlearn.load_settings(["+exp=lorenz", "model=neural_ode", "model.width=32"]).model_options
    assert "latent_dim" not in node and node["width"] == 32 and node["dt"] is None


def test_debug_fast_trains_evaluates_and_rolls_out_with_the_stores_dt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    # Every second sample stored: dt 0.02, which the model must take from the store.
    settings = dynlearn.load_settings(["+exp=lorenz", "model=neural_ode", "debug=fast", "data.save_every=2"])
    settings = dataclasses.replace(settings, trainer=dataclasses.replace(settings.trainer, epochs=2))
    run_dir = dynlearn.train(settings)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dt"] == pytest.approx(0.02) and metrics["lyap_max_available"] is True
    assert metrics["lyap_max"] == pytest.approx(metrics["lyap_max"]) and abs(metrics["lyap_max"]) < 50  # finite
    run = dynlearn.load_run(run_dir)
    assert isinstance(run.model, NeuralODE) and run.model.config.dt == pytest.approx(0.02)
    context = torch.zeros(1, 1, 3, dtype=next(run.model.parameters()).dtype)
    assert torch.isfinite(run.model.rollout(context, 50)).all()
