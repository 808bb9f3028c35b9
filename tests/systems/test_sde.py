"""Stochastic systems: Euler–Maruyama OU moments against their exact discrete-time values,
reproducibility by seed, the noiseless limit against a hand-written Euler loop, and
observation noise scaled to each dimension's std."""

import math

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.solvers import make_step, rollout
from dynlearn.systems import (
    SDESystem,
    add_observation_noise,
    make_sde,
    make_system,
    simulate_sde,
)
from dynlearn.systems._sde import list_sdes

pytestmark = pytest.mark.usefixtures("float64")

ALL_SDES = list_sdes()


def test_ou_stationary_variance_matches_exact_euler_maruyama_value():
    """EM on OU is the AR(1) X' = ρX + σ√dt ξ, ρ = 1 − θdt, whose stationary variance is
    σ²dt/(1 − ρ²) = σ²/(2θ − θ²dt) exactly (not the continuous-time σ²/(2θ))."""
    theta, sigma, dt, dim = 1.0, 0.5, 0.05, 2
    n_traj, n_burn, n_keep = 256, 200, 4000  # ρ^200 ≈ 4e-5: x0 = 0 is forgotten
    system = make_sde("ornstein_uhlenbeck", theta=theta, sigma=sigma, dim=dim)
    x = simulate_sde(system, torch.zeros(n_traj, dim), n_burn + n_keep, dt=dt, seed=7)
    x = x[:, n_burn:]  # (B, N, D)
    exact = sigma**2 / (2 * theta - theta**2 * dt)
    estimate = x.square().mean().item()  # the mean is known to be 0

    # Standard error of a time average of X²: for a Gaussian AR(1), X² has autocorrelation
    # ρ^(2k), so N samples count as N (1 − ρ²)/(1 + ρ²) independent ones; Var X² = 2v².
    # (The brief's ESS N(1 − ρ)/(1 + ρ) is that of X itself: half as many, too loose.)
    rho = 1 - theta * dt
    ess = n_keep * (1 - rho**2) / (1 + rho**2) * n_traj * dim
    stderr = math.sqrt(2 * exact**2 / ess)
    assert abs(estimate - exact) < 4 * stderr, (estimate, exact, stderr)
    # The O(dt) bias of EM is resolved: the continuous-time value σ²/(2θ) is further away.
    assert abs(estimate - exact) < abs(estimate - sigma**2 / (2 * theta))


def test_ou_mean_decays_by_exact_discrete_factor():
    """E[X_n] = (1 − θdt)^n x0 for EM, the discrete counterpart of exp(−θt) x0."""
    theta, sigma, dt, x0 = 1.0, 0.5, 0.05, 2.0
    n_traj = 4000
    system = make_sde("ornstein_uhlenbeck", theta=theta, sigma=sigma)
    x = simulate_sde(system, torch.full((n_traj, 1), x0), 60, dt=dt, seed=3)  # (B, 60, 1)
    rho = 1 - theta * dt
    for n in (5, 20, 60):
        mean = x[:, n - 1, 0].mean().item()
        variance = sigma**2 * dt * (1 - rho ** (2 * n)) / (1 - rho**2)  # exact at step n
        stderr = math.sqrt(variance / n_traj)
        assert abs(mean - rho**n * x0) < 4 * stderr, (n, mean, rho**n * x0, stderr)
        assert abs(rho**n - math.exp(-theta * n * dt)) < 0.01  # the continuous-time law


@pytest.mark.parametrize("name", ALL_SDES)
@pytest.mark.parametrize("method", ["euler", "srk"])
def test_same_seed_same_paths_other_seed_differs(name, method):
    system = make_sde(name)
    x0 = torch.ones(4, system.dim)
    a = simulate_sde(system, x0, 40, seed=11, method=method)
    b = simulate_sde(system, x0, 40, seed=11, method=method)
    c = simulate_sde(system, x0, 40, seed=12, method=method)
    assert a.shape == (4, 40, system.dim) and a.dtype == torch.float64
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    # Different trajectories of the batch get independent noise.
    assert not torch.allclose(a[0], a[1])


def test_save_every_subsamples_the_same_path():
    system = make_sde("stochastic_lorenz63")
    x0 = torch.tensor([[1.0, 2.0, 20.0], [-3.0, 0.5, 25.0]])
    every = simulate_sde(system, x0, 120, seed=5)
    sparse = simulate_sde(system, x0, 120, seed=5, save_every=10)
    assert sparse.shape == (2, 12, 3)
    assert torch.equal(sparse, every[:, 9::10])


def test_noiseless_stochastic_lorenz_is_euler_on_the_catalogue_drift():
    system = make_sde("stochastic_lorenz63", noise=0.0)
    ode = make_system("lorenz63")
    dt, n_steps = 0.01, 300
    x = torch.tensor([[1.0, 2.0, 20.0], [-3.0, 0.5, 25.0], [8.0, -8.0, 27.0]])
    sde_path = simulate_sde(system, x, n_steps, dt=dt, seed=0)
    euler = []
    for _ in range(n_steps):
        x = x + ode.rhs(0.0, x) * dt
        euler.append(x)
    # Not bitwise: torchsde uses dt = (t + dt) − t, which differs from dt in the last bits.
    torch.testing.assert_close(sde_path, torch.stack(euler, dim=1), rtol=1e-12, atol=1e-12)


def test_stochastic_lorenz_one_step_noise_has_diffusion_std():
    """One EM step: X1 − X0 − f(X0) dt = noise · ΔW ~ N(0, noise² dt) in each coordinate."""
    noise, dt, n = 2.0, 0.01, 4000
    system = make_sde("stochastic_lorenz63", noise=noise)
    x0 = torch.tensor([1.0, 2.0, 20.0]).expand(n, 3)
    x1 = simulate_sde(system, x0, 1, dt=dt, seed=9)[:, 0]
    residual = x1 - x0 - system.drift(0.0, x0) * dt  # (n, 3)
    expected = noise * math.sqrt(dt)
    std = residual.std(dim=0)
    assert torch.all((std / expected - 1).abs() < 4 / math.sqrt(2 * n)), std
    assert torch.all(residual.mean(dim=0).abs() < 4 * expected / math.sqrt(n))


def test_observation_noise_is_relative_to_each_dimension_std(generator):
    # Lorenz coordinates have different spreads; z also has a large mean, which must not
    # enter the scale.
    x0 = torch.tensor([[1.0, 2.0, 20.0], [-3.0, 0.5, 25.0]]).repeat(4, 1)
    x0 = x0 + torch.rand(8, 3, generator=generator)
    x = rollout(make_step(make_system("lorenz63"), 0.01), x0, 1000)  # (8, 1000, 3)
    relative_std = 0.05
    y = add_observation_noise(x, relative_std=relative_std, generator=generator)
    assert y.shape == x.shape and y.dtype == x.dtype
    n = x.shape[0] * x.shape[1]
    ratio = (y - x).reshape(n, 3).std(dim=0) / x.reshape(n, 3).std(dim=0, correction=0)
    # The std of n Gaussian samples has relative standard error 1/√(2n).
    assert torch.all((ratio / relative_std - 1).abs() < 4 / math.sqrt(2 * n)), ratio


def test_observation_noise_is_deterministic_for_a_generator():
    x = torch.randn(3, 50, 2, generator=torch.Generator().manual_seed(0))
    a = add_observation_noise(x, relative_std=0.1, generator=torch.Generator().manual_seed(1))
    b = add_observation_noise(x, relative_std=0.1, generator=torch.Generator().manual_seed(1))
    c = add_observation_noise(x, relative_std=0.1, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.equal(add_observation_noise(x, relative_std=0.0, generator=torch.Generator()), x)


def test_sde_system_from_callables_and_to_dict():
    system = SDESystem(
        "drifting",
        1,
        {"c": 1.0},
        0.1,
        drift=lambda t, x: torch.ones_like(x),
        diffusion=lambda t, x: torch.zeros(x.shape[0], 1, 1, dtype=x.dtype),
    )
    x = simulate_sde(system, torch.zeros(2, 1), 10, seed=0)
    torch.testing.assert_close(x[:, -1, 0], torch.ones(2), rtol=1e-12, atol=1e-12)
    assert system.to_dict()["noise_type"] == "additive"


@pytest.mark.parametrize(
    ("call", "listed"),
    [
        (lambda: make_sde("ou"), "ornstein_uhlenbeck"),
        (lambda: make_sde("ornstein_uhlenbeck", kappa=1.0), "theta"),
        (lambda: make_sde("ornstein_uhlenbeck", dim=1.5), "dim=1"),
        (lambda: make_sde("stochastic_lorenz63", bogus=2.0), "noise"),
        (lambda: simulate_sde(make_sde("ornstein_uhlenbeck"), torch.zeros(2, 1), 5, seed=0,
                              method="rk4"), "euler"),
        (lambda: simulate_sde(make_sde("ornstein_uhlenbeck"), torch.zeros(2, 3), 5, seed=0),
         "(B, 1)"),
        (lambda: simulate_sde(make_sde("ornstein_uhlenbeck"), torch.zeros(2, 1), 5, seed=0,
                              save_every=2), "multiple"),
        (lambda: add_observation_noise(torch.zeros(4, 2), relative_std=-0.1,
                                       generator=torch.Generator()), "0.05"),
    ],
)
def test_errors_name_the_fix(call, listed):
    with pytest.raises(ConfigError) as info:
        call()
    assert listed in str(info.value)
