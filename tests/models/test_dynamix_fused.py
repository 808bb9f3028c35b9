"""DynaMix's fused CPU free run against its PyTorch twin, the model's own step, and the AL-RNN."""

import math

import pytest
import torch

from dynlearn.models import DynaMix, DynaMixConfig
from dynlearn.models.dynamix import _fused
from tests.models.test_dynamix import one_expert_and_its_alrnn


@pytest.fixture
def fused():
    reason = _fused.status()
    if reason is not None:  # only where no C++ compiler can build it (`make setup` builds it here and in CI)
        pytest.skip(reason)
    return _fused.rollout_cpu


def random_run(dtype, n_experts=4, latent_dim=8, obs_dim=3, batch=3, n_keys=40, n_steps=500, n_pwl=2):
    """Arguments of `rollout_ref` drawn at random, scaled so that the run stays bounded but
    moves (the attention and the expert weights are far from one-hot)."""
    g = torch.Generator().manual_seed(0)
    j, m, n = n_experts, latent_dim, obs_dim

    def draw(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype)

    floor = torch.full((m,), -math.inf, dtype=dtype)
    floor[m - n_pwl:] = 0.0
    a = (0.3 + 0.6 * torch.rand(j, m, generator=g, dtype=torch.float64)).to(dtype)
    return dict(z0=draw(batch, m), keys=draw(batch, n_keys, n), values=draw(batch, n_keys, n),
                noise=draw(n_steps, batch, n), A=a, W=draw(j, m, m, scale=0.08), h=draw(j, m, scale=0.3),
                floor=floor, D=draw(n, m, scale=0.5), sigma=draw(n, scale=0.2),
                tau_attention=torch.tensor(-0.5, dtype=dtype),  # a negative τ: both read |τ|
                tau_gate=torch.tensor(0.7, dtype=dtype), mlp1=draw(j, n + m), mlp2=draw(j, j))


def test_fused_matches_the_pytorch_loop_in_float64(fused):
    args = random_run(torch.float64)
    out, ref = fused(**args), _fused.rollout_ref(**args)
    assert out.shape == (3, 500, 3) and out.dtype == torch.float64
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    # The run is not trivial: it moves, and it reads the noise (the gate mixes differently without).
    assert ref[:, 100:].std() > 0.05
    quiet = _fused.rollout_ref(**{**args, "noise": torch.zeros_like(args["noise"])})
    assert (quiet - ref).abs().max() > 1e-3
    torch.testing.assert_close(fused(**{**args, "noise": torch.zeros_like(args["noise"])}), quiet, rtol=0, atol=1e-12)


def test_fused_matches_the_pytorch_loop_in_float32(fused):
    args = random_run(torch.float32)
    out, ref = fused(**args), _fused.rollout_ref(**args)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_batch_rows_run_independently(fused):
    # Each row alone, with its own slice of the noise, gives that row of the batched run.
    args = random_run(torch.float64, n_steps=100)
    batched = fused(**args)
    for b in range(3):
        row = {**args, "z0": args["z0"][b:b + 1], "keys": args["keys"][b:b + 1],
               "values": args["values"][b:b + 1], "noise": args["noise"][:, b:b + 1]}
        assert torch.equal(fused(**row), batched[b:b + 1])


def test_zero_steps_give_an_empty_forecast(fused):
    args = random_run(torch.float32, n_steps=0)
    assert fused(**args).shape == (3, 0, 3)


def test_the_pytorch_loop_is_the_models_step_given_the_same_noise():
    torch.set_default_dtype(torch.float64)
    try:
        model = DynaMix(3, DynaMixConfig(n_experts=4, latent_dim=8, gate_noise=0.3))
    finally:
        torch.set_default_dtype(torch.float32)
    context = torch.randn(2, 30, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.manual_seed(5)  # `step` draws ε (B, N) from torch's generator at every step
    state, stepped = model.initial_state(context), []
    with torch.no_grad():
        for _ in range(50):
            state = model.step(state)
            stepped.append(model.observe(state))
    torch.manual_seed(5)
    noise = torch.stack([torch.randn(2, 3, dtype=torch.float64) for _ in range(50)])
    assert torch.equal(_fused.rollout_ref(*model_arguments(model, context, noise)), torch.stack(stepped, 1))


def model_arguments(model: DynaMix, context, noise):
    gate = model.gate
    keys, values = gate.features(context)
    return (model._start(context[:, -1]), keys, values, noise, model.A, model.W, model.h, model._floor,
            gate.D, gate.sigma, gate.tau_attention, gate.tau_gate, gate.mlp[0].weight, gate.mlp[2].weight)


def test_rollout_draws_its_noise_as_step_does_and_runs_fused_or_in_pytorch_alike(fused, monkeypatch):
    model = DynaMix(3, DynaMixConfig(n_experts=4, latent_dim=8, gate_noise=0.3))
    with torch.no_grad():  # off the initialization, whose free run decays to 0
        model.h.normal_(std=0.3, generator=torch.Generator().manual_seed(4))
        model.W.mul_(3.0)
    context = torch.randn(2, 40, 3, generator=torch.Generator().manual_seed(2))
    calls = []
    monkeypatch.setattr(_fused, "rollout_cpu", lambda *args: calls.append(len(args)) or fused(*args))
    torch.manual_seed(11)
    out = model.rollout(context, 400)
    assert calls == [14]  # the fused kernel ran, once for the whole run
    torch.manual_seed(11)
    noise = torch.stack([torch.randn(2, 3) for _ in range(400)])  # one draw per step, as `step` draws
    with torch.no_grad():
        ref = _fused.rollout_ref(*model_arguments(model, context, noise))
    assert ref[:, 100:].std() > 0.05
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # Without the extension the model falls back on that loop, on the same noise: bit for bit.
    monkeypatch.setattr(_fused, "status", lambda: "disabled for this test")
    torch.manual_seed(11)
    assert torch.equal(model.rollout(context, 400), ref)


def test_with_one_expert_the_fused_rollout_is_the_alrnns(fused, monkeypatch):
    mix, alrnn = one_expert_and_its_alrnn()
    context = torch.randn(2, 20, 3, generator=torch.Generator().manual_seed(0))
    expected = alrnn.rollout(context, 500)
    assert expected[:, 100:].abs().max() > 0.01  # a non-trivial orbit
    torch.testing.assert_close(mix.rollout(context, 500), expected, rtol=1e-5, atol=1e-6)
    # The PyTorch loop computes the AL-RNN's own operations: bit for bit.
    monkeypatch.setattr(_fused, "status", lambda: "disabled for this test")
    assert torch.equal(mix.rollout(context, 500), expected)


def test_status_says_in_one_line_why_the_kernel_is_unavailable(monkeypatch):
    def broken():
        raise RuntimeError("Error building extension 'dynlearn_dynamix_rollout_cpu'\n<the compiler's log>")

    monkeypatch.setattr(_fused, "_load", broken)
    assert _fused.status.__wrapped__() == ("the fused CPU DynaMix rollout did not build (Error building extension "
                                           "'dynlearn_dynamix_rollout_cpu'); running the PyTorch loop")
