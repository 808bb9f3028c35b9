"""AL-RNN and teacher forcing against closed forms, autograd and the paper listing."""

import dataclasses
import math

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.models import ALRNN, ALRNNConfig
from dynlearn.models.alrnn import _minimal as minimal


def _model(obs_dim: int = 2, **cfg) -> ALRNN:
    cfg.setdefault("noise", 0.0)
    return ALRNN(obs_dim, ALRNNConfig(**cfg))


def _windows(generator: torch.Generator, batch: int, length: int, dim: int) -> torch.Tensor:
    return torch.randn(batch, length, dim, generator=generator)


# ---------------------------------------------------------------- the model


def test_initialization_follows_the_paper_code():
    rng_before = torch.random.get_rng_state()
    model = _model(obs_dim=3, latent_dim=100, seed=7)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # private generator only

    a = model.A.detach()
    # diag(K) / lambda_max(K) of a PD matrix K >= I: positive and at most 1 (Rayleigh quotient).
    assert a.min() > 0 and a.max() <= 1
    # K = R^T R / M + I has lambda_max near (1 + 1)^2 + 1 = 5 and diagonal near 2: A near 0.4.
    assert 0.3 < a.mean() < 0.5
    assert model.W.detach().std().item() == pytest.approx(0.01, rel=0.05)
    assert abs(model.W.detach().mean().item()) < 1e-3
    assert torch.count_nonzero(model.h) == 0
    assert model.L.shape == (97, 3)
    assert model.L.detach().abs().max() <= math.sqrt(6 / 100)

    same, other = _model(obs_dim=3, latent_dim=100, seed=7), _model(obs_dim=3, latent_dim=100)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, same.state_dict()[name])
    assert not torch.equal(model.W, other.W)


def test_jacobian_matches_autograd(float64, generator):
    model = _model(obs_dim=2, latent_dim=8, n_pwl=3)
    with torch.no_grad():
        model.W.copy_(0.5 * torch.randn(8, 8, generator=generator))
    states = torch.randn(32, 8, generator=generator)
    states[:16, -3:] = states[:16, -3:].abs()  # all ReLUs on, then mixed signs
    states[16:20, -3:] = -states[16:20, -3:].abs()  # all off

    # Reverse-mode autograd of the batched step; samples are independent, so keep the diagonal
    # blocks. (torch.func.jacrev gives the same but costs ~2.5 s of functorch start-up here.)
    full = torch.autograd.functional.jacobian(model.step, states)  # (B, M, B, M)
    expected = torch.diagonal(full, dim1=0, dim2=2).permute(2, 0, 1)
    torch.testing.assert_close(model.jacobian(states), expected, rtol=0, atol=1e-14)
    listing = torch.stack([minimal.jacobian(z, model.A, model.W, 3) for z in states])
    torch.testing.assert_close(model.jacobian(states), listing, rtol=0, atol=1e-14)


def test_free_run_matches_closed_form_of_linear_recursion(float64, generator):
    model = _model(obs_dim=2, latent_dim=5, n_pwl=2)
    a = torch.tensor([0.9, 0.5, 0.3, 0.7, 0.95])
    c = torch.randn(5, generator=generator)
    with torch.no_grad():
        model.A.copy_(a)
        model.W.zero_()
        model.h.copy_(c)
    context = torch.randn(4, 3, 2, generator=generator)
    z0 = model.initial_state(context)
    torch.testing.assert_close(z0[:, :2], context[:, -1])

    n_steps = 40
    t = torch.arange(1, n_steps + 1, dtype=torch.float64)[:, None]  # (T, 1)
    closed = a**t * z0[:, None] + c * (1 - a**t) / (1 - a)  # (B, T, M)
    free = model.rollout(context, n_steps)
    torch.testing.assert_close(free, closed[..., :2], rtol=1e-12, atol=1e-12)
    z, states = z0, []
    for _ in range(n_steps):
        z = model.step(z)
        states.append(z)
    torch.testing.assert_close(torch.stack(states, 1), closed, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- teacher forcing


def test_sparse_forcing_sends_no_gradient_into_forced_units(float64, generator):
    tau, n_steps, n = 4, 13, 2
    model = _model(obs_dim=n, latent_dim=6, n_pwl=2, forcing_interval=tau)
    with torch.no_grad():
        model.W.copy_(0.3 * torch.randn(6, 6, generator=generator))
    x = _windows(generator, 3, n_steps + 1, n)
    predictions, _ = model._forced_rollout(x)

    # Full loss: at a forcing time the read-out units get only their own prediction error's gradient.
    loss = torch.mean((torch.stack(predictions, 1)[..., :n] - x[:, 1:]) ** 2)
    for t in range(tau, n_steps, tau):
        (grad,) = torch.autograd.grad(loss, predictions[t - 1], retain_graph=True)
        own = 2 * (predictions[t - 1][:, :n] - x[:, t]) / (3 * n_steps * n)
        torch.testing.assert_close(grad[:, :n], own.detach(), rtol=1e-15, atol=0)

    for t in range(1, n_steps):
        # The loss of the steps after t depends on the pre-forcing state z_t only through the map.
        later = torch.stack(predictions[t:], 1)[..., :n]
        loss_later = torch.mean((later - x[:, t + 1 :]) ** 2)
        (grad,) = torch.autograd.grad(loss_later, predictions[t - 1], retain_graph=True)
        if t % tau == 0:
            assert torch.count_nonzero(grad[:, :n]) == 0
        else:
            assert torch.all(grad[:, :n] != 0)
        assert torch.all(grad[:, n:] != 0)


def test_generalized_forcing_with_alpha_zero_is_a_free_run(float64, generator):
    model = _model(obs_dim=3, latent_dim=10, forcing="generalized", alpha=0.0)
    with torch.no_grad():
        model.W.copy_(0.2 * torch.randn(10, 10, generator=generator))
    x = _windows(generator, 4, 31, 3)
    free = model.rollout(x[:, :1], 30)
    torch.testing.assert_close(model.observe(model.teacher_forced(x)), free, rtol=0, atol=1e-14)
    model.eval()
    mse = model.loss({"x": x})["mse"]
    torch.testing.assert_close(mse, torch.mean((free - x[:, 1:]) ** 2), rtol=1e-14, atol=0)


def test_generalized_forcing_with_alpha_one_predicts_one_step_ahead(float64, generator):
    # M = N and no ReLU units: the model is the linear map x -> (diag(A) + W) x + h.
    model = _model(obs_dim=3, latent_dim=3, n_pwl=0, forcing="generalized", alpha=1.0)
    with torch.no_grad():
        model.W.copy_(torch.randn(3, 3, generator=generator))
        model.h.copy_(torch.randn(3, generator=generator))
    x = _windows(generator, 4, 21, 3)
    expected = x[:, :-1] @ (torch.diag(model.A) + model.W).T + model.h
    torch.testing.assert_close(model.teacher_forced(x), expected.detach(), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    ("forcing", "tau", "alpha"),
    [("sparse", 5, 1.0), ("sparse", 3, 0.5), ("generalized", 1, 0.3), ("generalized", 1, 1.0)],
)
def test_loss_and_gradients_match_the_paper_listing(float64, generator, forcing, tau, alpha):
    model = _model(
        obs_dim=3, latent_dim=12, n_pwl=4, forcing=forcing, forcing_interval=tau, alpha=alpha
    )
    with torch.no_grad():
        model.W.copy_(0.3 * torch.randn(12, 12, generator=generator))
        model.h.copy_(0.1 * torch.randn(12, generator=generator))
    model.eval()
    x = _windows(generator, 5, 24, 3)
    params = [model.A, model.W, model.h, model.L]

    loss = model.loss({"x": x})["loss"]
    grads = torch.autograd.grad(loss, params)
    expected = minimal.teacher_forced_loss(x, *params, n_pwl=4, tau=tau, alpha=alpha)
    expected_grads = torch.autograd.grad(expected, params)

    torch.testing.assert_close(loss, expected, rtol=1e-13, atol=0)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-11, atol=1e-14)


def test_noise_perturbs_forcing_not_targets_and_only_in_training(generator):
    model = ALRNN(3, ALRNNConfig(latent_dim=8, noise=0.05))
    x = _windows(generator, 4, 17, 3)
    model.eval()
    clean = model.loss({"x": x})["mse"]
    assert torch.equal(clean, model.loss({"x": x})["mse"])
    model.train()
    torch.manual_seed(3)
    noisy = model.loss({"x": x})["mse"]
    torch.manual_seed(3)
    signal = x + 0.05 * torch.randn_like(x)
    expected = torch.mean((model.observe(model.teacher_forced(signal)) - x[:, 1:]) ** 2)
    assert not torch.equal(noisy, clean)
    torch.testing.assert_close(noisy, expected.detach())


def test_lat_reg_is_l1_on_one_minus_a_w_h(float64):
    model = _model(obs_dim=2, latent_dim=6, lat_reg=0.1)
    model.eval()
    out = model.loss({"x": torch.zeros(2, 5, 2)})
    penalty = (1 - model.A).abs().sum() + model.W.abs().sum() + model.h.abs().sum()
    torch.testing.assert_close(out["reg"], 0.1 * penalty.detach())
    torch.testing.assert_close(out["loss"], out["mse"] + out["reg"])


# ---------------------------------------------------------------- adaptive GTF


def test_adaptive_alpha_follows_the_agtf_rule(float64, generator):
    gamma, k = 0.9, 2
    model = _model(
        obs_dim=2, latent_dim=5, forcing="generalized", alpha=0.9, adaptive_alpha=True,
        alpha_update_interval=k, alpha_decay=gamma,
    )  # fmt: skip
    with torch.no_grad():
        model.W.zero_()  # J = diag(A) everywhere, so ||J||_2 = max |A| along any sequence
        model.A.copy_(torch.tensor([0.5, 2.0, 0.3, 0.9, 1.0]))
    batch = {"x": _windows(generator, 3, 7, 2)}
    estimate = 1 - 1 / 2.0

    assert model.loss(batch)["alpha"].item() == 0.9  # batch 1: no update
    assert model.alpha.item() == 0.9
    model.loss(batch)  # batch k: smaller estimate, slow decay
    assert model.alpha.item() == pytest.approx(gamma * 0.9 + (1 - gamma) * estimate, abs=1e-12)

    model.alpha.fill_(0.2)
    model.loss(batch)
    assert model.alpha.item() == 0.2
    assert model.loss(batch)["alpha"].item() == 0.2  # the alpha used, before the update
    assert model.alpha.item() == pytest.approx(estimate, abs=1e-12)  # larger estimate: jump

    with torch.no_grad():
        model.A.copy_(torch.tensor([0.5, 0.8, 0.3, 0.7, 0.1]))  # contracting: estimate clipped to 0
    model.loss(batch)
    model.loss(batch)
    assert model.alpha.item() == pytest.approx(gamma * estimate, abs=1e-12)

    model.eval()
    model.loss(batch)
    model.loss(batch)
    assert model.alpha.item() == pytest.approx(gamma * estimate, abs=1e-12)  # no update in eval

    state = model.state_dict()
    assert state["n_batches"].item() == 6
    restored = _model(obs_dim=2, latent_dim=5, forcing="generalized", adaptive_alpha=True)
    restored.load_state_dict(state)
    assert restored.alpha.item() == model.alpha.item()


@pytest.mark.parametrize("n_pwl", [0, 3])
def test_jacobian_norms_per_relu_pattern_match_direct_norms(float64, generator, n_pwl):
    model = _model(obs_dim=2, latent_dim=7, n_pwl=n_pwl)
    with torch.no_grad():
        model.W.copy_(torch.randn(7, 7, generator=generator))
    states = torch.randn(4, 50, 7, generator=generator)
    direct = torch.linalg.matrix_norm(model.jacobian(states), ord=2)
    torch.testing.assert_close(model._jacobian_norms(states), direct, rtol=1e-12, atol=0)


def test_config_rejects_invalid_values():
    with pytest.raises(ConfigError, match="forcing must be"):
        ALRNNConfig(forcing="full")
    with pytest.raises(ConfigError, match="adaptive_alpha needs"):
        ALRNNConfig(adaptive_alpha=True)
    with pytest.raises(ConfigError, match="alpha must be in"):
        ALRNNConfig(alpha=1.5)
    with pytest.raises(ConfigError, match="latent_dim"):
        ALRNN(30, ALRNNConfig())
    assert dataclasses.asdict(ALRNNConfig())["forcing_interval"] == 16


# ---------------------------------------------------------------- learning


@pytest.fixture
def one_thread():
    """Tiny matrices: intra-op threads only add contention on a shared 2-core machine (7x here)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_learns_a_planar_rotation(generator, one_thread):
    """Sparse-forced BPTT fits x_{t+1} = R(0.3) x_t from 256 windows in 200 Adam steps (~1.5 s)."""
    angle = 0.3
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[cos, -sin], [sin, cos]])
    powers = torch.stack([torch.linalg.matrix_power(rotation, t) for t in range(21)])  # (T+1, 2, 2)
    x0 = torch.randn(288, 2, generator=generator)
    windows = torch.einsum("tij,bj->bti", powers, x0)  # (B, T+1, 2)
    train, test = windows[:256], windows[256:]

    model = ALRNN(2, ALRNNConfig(latent_dim=6, n_pwl=1, forcing_interval=5, noise=0.0, seed=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        idx = torch.randint(0, 256, (32,), generator=generator)
        optimizer.zero_grad()
        model.loss({"x": train[idx]})["loss"].backward()
        optimizer.step()

    with torch.no_grad():
        inputs, targets = test[:, :-1].reshape(-1, 1, 2), test[:, 1:].reshape(-1, 1, 2)
        one_step = torch.mean((model.rollout(inputs, 1) - targets) ** 2).item()
    assert one_step < 1e-3  # data variance 1; 0.17 untrained, 2e-4 reached here


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9])
def test_paper_listing_agtf_rule_matches_the_production_rule(alpha, generator):
    from dynlearn.models.alrnn._minimal import gtf_alpha_update
    from dynlearn.models.alrnn._teacher_forcing import anneal_alpha, optimal_alpha, product_upper_bound

    norms = 0.5 + 2.0 * torch.rand(4, 30, generator=generator, dtype=torch.float64)
    production = anneal_alpha(torch.tensor(alpha, dtype=torch.float64),
                              optimal_alpha(product_upper_bound(norms)), 0.999)
    assert gtf_alpha_update(norms, alpha) == pytest.approx(float(production), rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------- exogenous inputs


def test_inputs_enter_each_step_as_c_u(float64, generator):
    """z_t = A z + W φ(z) + h + C u_t: the free run and the teacher-forced loss against the listing
    plus C u_t; C starts at zero, so a new forced model is the free one."""
    from dynlearn.models import IOShape

    model = ALRNN(IOShape((3,), (2,)), ALRNNConfig(latent_dim=8, n_pwl=3, noise=0.0, forcing_interval=4))
    x, u = _windows(generator, 4, 13, 3), _windows(generator, 4, 13, 2)
    free = _model(obs_dim=3, latent_dim=8, n_pwl=3, forcing_interval=4)
    torch.testing.assert_close(model.rollout(x[:, :1], 12, u), free.rollout(x[:, :1], 12), rtol=0, atol=0)
    with torch.no_grad():
        model.C.copy_(torch.randn(8, 2, generator=generator))
        model.W.copy_(0.3 * torch.randn(8, 8, generator=generator))
    model.eval()

    z, expected = model.initial_state(x[:, :1]), []
    for t in range(12):  # the paper's step, by hand, plus C u at the new state's time
        z = minimal.alrnn_step(z, model.A, model.W, model.h, 3) + u[:, 1 + t] @ model.C.T
        expected.append(z[:, :3])
    torch.testing.assert_close(model.rollout(x[:, :1], 12, u), torch.stack(expected, 1), rtol=1e-13, atol=1e-14)

    # Teacher forcing: predictions at times 1..T use u_1..u_T; sparse forcing every 4 steps.
    z, predictions = model.initial_state(x[:, :1]), []
    for t in range(1, 13):
        z = minimal.alrnn_step(z, model.A, model.W, model.h, 3) + u[:, t] @ model.C.T
        predictions.append(z[:, :3])
        if t % 4 == 0:
            z = torch.cat([x[:, t], z[:, 3:]], dim=-1)
    loss = model.loss({"x": x, "u": u})["loss"]
    torch.testing.assert_close(loss, ((torch.stack(predictions, 1) - x[:, 1:]) ** 2).mean(), rtol=1e-13, atol=0)
    (grad,) = torch.autograd.grad(loss, [model.C])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0  # the input weights learn


def test_inputs_are_required_once_trained_with_them_and_refused_otherwise(generator):
    from dynlearn.models import IOShape

    forced = ALRNN(IOShape((3,), (2,)), ALRNNConfig(latent_dim=8))
    x = _windows(generator, 2, 5, 3)
    with pytest.raises(ValueError, match="trained with 2 exogenous inputs; pass u"):
        forced.rollout(x[:, :1], 4)
    with pytest.raises(ValueError, match="takes 2 exogenous inputs, got u with 3"):
        forced.rollout(x[:, :1], 4, _windows(generator, 2, 5, 3))
    with pytest.raises(ValueError, match="forcing u must cover"):
        forced.rollout(x[:, :1], 4, _windows(generator, 2, 4, 2))
    with pytest.raises(ValueError, match="takes 0 exogenous inputs"):
        _model(obs_dim=3, latent_dim=8).rollout(x[:, :1], 4, _windows(generator, 2, 5, 2))
