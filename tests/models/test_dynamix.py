"""DynaMix: the gate's weights, its attention over the context, and the one-expert model as an AL-RNN."""

import pytest
import torch

from dynlearn.models import ALRNN, ALRNNConfig, DynaMix, DynaMixConfig


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


def test_gating_weights_are_positive_and_sum_to_one(generator):
    model = DynaMix(3, DynaMixConfig(n_experts=5, latent_dim=8))
    context = torch.randn(4, 50, 3, generator=generator)
    z = 2 * torch.randn(4, 8, generator=generator)
    weights = model.gate(z, *model.gate.features(context))
    assert weights.shape == (4, 5) and (weights > 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(4), atol=1e-6, rtol=0)


def test_without_noise_a_sharp_attention_reads_the_context_where_it_is_nearest_the_state(generator):
    # σ = 0 and τ₁ → 0: the embedding is the convolved context at argmin_t ‖c_t − D z‖₁, and the
    # convolution at t reads c_t and c_{t+1}.
    torch.set_default_dtype(torch.float64)
    try:
        model = DynaMix(3, DynaMixConfig(n_experts=4, latent_dim=6, attention_temperature=1e-6))
    finally:
        torch.set_default_dtype(torch.float32)
    gate = model.gate
    context = torch.randn(2, 30, 3, generator=generator, dtype=torch.float64)
    z = torch.randn(2, 6, generator=generator, dtype=torch.float64)
    keys, values = gate.features(context)
    w0, w1 = gate.conv.weight[..., 0], gate.conv.weight[..., 1]  # (N, N) taps on c_t and c_{t+1}
    torch.testing.assert_close(values, context[:, :-1] @ w0.T + context[:, 1:] @ w1.T + gate.conv.bias)

    nearest = (context[:, :-1] - z[:, None, :3]).abs().sum(-1).argmin(1)  # D = [I, 0] at initialization
    embedding = values[torch.arange(2), nearest]
    expected = torch.softmax(-gate.mlp(torch.cat([embedding, z], -1)) / gate.tau_gate.abs(), dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(gate(z, keys, values, noise=torch.zeros(2, 3, dtype=torch.float64)), expected)


def one_expert_and_its_alrnn(seed=3):
    mix = DynaMix(3, DynaMixConfig(n_experts=1, latent_dim=10, n_pwl=2, context_len=20, forcing_interval=7,
                                   noise=0.0, seed=seed))
    alrnn = ALRNN(3, ALRNNConfig(latent_dim=10, n_pwl=2, forcing_interval=7, noise=0.0, seed=seed))
    with torch.no_grad():
        torch.nn.init.normal_(mix.h, std=0.1, generator=torch.Generator().manual_seed(seed))
        for name in ("A", "W", "h"):
            getattr(alrnn, name).copy_(getattr(mix, name)[0])
        alrnn.L.copy_(mix.L)
    return mix, alrnn


def test_with_one_expert_the_model_is_exactly_an_alrnn(generator):
    mix, alrnn = one_expert_and_its_alrnn()
    x = torch.randn(2, 60, 3, generator=generator)
    # Free runs, whatever the gate draws (bit for bit on the PyTorch path: test_dynamix_fused.py).
    torch.testing.assert_close(mix.rollout(x[:, :20], 300), alrnn.rollout(x[:, :20], 300), rtol=1e-5, atol=1e-6)
    state = mix.initial_state(x[:, :20])
    assert torch.equal(mix.observe(mix.step(state)), alrnn.observe(alrnn.step(alrnn.initial_state(x[:, :20]))))
    # Training: the same teacher-forced loss (after the 20-step context) and the same gradients.
    mix_loss, alrnn_loss = mix.loss({"x": x})["mse"], alrnn.loss({"x": x[:, 19:]})["mse"]
    assert torch.equal(mix_loss, alrnn_loss)
    mix_grads = torch.autograd.grad(mix.loss({"x": x})["loss"], [mix.A, mix.W, mix.h, mix.L])
    alrnn_grads = torch.autograd.grad(alrnn.loss({"x": x[:, 19:]})["loss"], [alrnn.A, alrnn.W, alrnn.h, alrnn.L])
    for a, b in zip(mix_grads, alrnn_grads, strict=True):
        torch.testing.assert_close(a.reshape(b.shape), b, rtol=1e-6, atol=1e-9)


def test_experts_start_from_the_alrnn_initialization_and_differ_from_each_other():
    mix = DynaMix(3, DynaMixConfig(n_experts=3, latent_dim=10, seed=2))
    for k in range(3):  # expert k of seed s: the AL-RNN initialization of seed s·J + k
        alrnn = ALRNN(3, ALRNNConfig(latent_dim=10, seed=2 * 3 + k))
        assert torch.equal(mix.A[k], alrnn.A) and torch.equal(mix.W[k], alrnn.W)
    assert not torch.equal(mix.W[0], mix.W[1])


def test_a_window_too_short_is_refused_in_one_line():
    model = DynaMix(3, DynaMixConfig(context_len=30))
    with pytest.raises(ValueError, match="30-step context .* got windows of 30 steps: raise trainer.seq_len"):
        model.loss({"x": torch.zeros(2, 30, 3)})


def test_a_one_step_context_is_read_as_that_step_twice(generator):
    model = DynaMix(3, DynaMixConfig(n_experts=4, latent_dim=8))
    x = torch.randn(2, 1, 3, generator=generator)
    torch.manual_seed(0)
    once = model.rollout(x, 20)
    torch.manual_seed(0)
    assert torch.equal(once, model.rollout(x.expand(-1, 2, -1), 20))
