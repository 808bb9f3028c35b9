"""Lyapunov spectra against exact values: linear maps and flows, the logistic map, Lorenz-63."""

import math

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.metrics._lyapunov import lyapunov_spectrum, system_lyapunov_spectrum
from dynlearn.solvers import make_step, make_tangent_step, rollout
from dynlearn.systems import make_system

pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny batched LAPACK calls (QR of (16, 3, 3)) gain nothing from threads, and on a shared
    2-core machine a 2-thread pool waiting for a busy core turns 11 µs into ~8 ms per call."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

# Non-normal upper-triangular map: eigenvalues on the diagonal, |2| > |-0.5| > |0.1|.
_A = torch.tensor([[2.0, 1.0, -0.7], [0.0, -0.5, 3.0], [0.0, 0.0, 0.1]], dtype=torch.float64)


def _linear_map(x):
    return x @ _A.T


@pytest.mark.parametrize("use_jacobian", [True, False], ids=["closed_form", "autograd"])
@pytest.mark.parametrize("qr_every", [1, 3])
def test_linear_map_is_exact(use_jacobian, qr_every, generator):
    """λ_i = log|eig_i| / dt to round-off once the tangent transient has aligned Q."""
    x0 = torch.randn(4, 3, generator=generator)
    jacobian = (lambda x: _A.expand(x.shape[0], 3, 3)) if use_jacobian else None
    result = lyapunov_spectrum(
        _linear_map, x0, 60, dt=0.1, n_transient=90, jacobian=jacobian, qr_every=qr_every
    )
    expected = torch.log(torch.tensor([2.0, 0.5, 0.1])) / 0.1
    torch.testing.assert_close(result.exponents, expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(result.per_ic, expected.expand(4, 3), rtol=0, atol=1e-10)
    assert result.stderr.shape == (3,) and result.stderr.max() < 1e-10


def test_leading_exponents_only(generator):
    x0 = torch.randn(3, 3, generator=generator)
    result = lyapunov_spectrum(_linear_map, x0, 40, dt=1.0, n_exponents=2, n_transient=90)
    expected = torch.log(torch.tensor([2.0, 0.5]))
    torch.testing.assert_close(result.exponents, expected, atol=1e-10, rtol=0)
    assert result.per_ic.shape == (3, 2)


class _LinearSystem:
    """x' = B x with eigenvalues 0.5, −1, −3 (non-normal)."""

    dt = 0.01
    b = torch.tensor([[0.5, 2.0, 0.0], [0.0, -1.0, 1.0], [0.0, 0.0, -3.0]], dtype=torch.float64)

    def rhs(self, t, x):
        return x @ self.b.T

    def jacobian(self, x):
        return self.b.expand(*x.shape, 3)


def test_linear_flow_through_rk4_is_exact(generator):
    """The RK4 map of x' = Bx is R(dt·B), R(z) = 1 + z + z²/2 + z³/6 + z⁴/24: exponents
    log|R(dt·λ)|/dt exactly, and within O(dt⁴) of the flow's λ."""
    system = _LinearSystem()
    x0 = torch.randn(2, 3, generator=generator)
    tangent = make_tangent_step(system)
    result = lyapunov_spectrum(
        make_step(system), x0, 300, dt=system.dt, n_transient=2000, tangent=tangent
    )
    lam = torch.tensor([0.5, -1.0, -3.0])
    z = system.dt * lam
    stability = 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24
    torch.testing.assert_close(result.exponents, stability.log() / system.dt, rtol=0, atol=1e-10)
    torch.testing.assert_close(result.exponents, lam, rtol=0, atol=1e-6)


def test_logistic_map_gives_ln2(generator):
    """r = 4: λ = ln 2 exactly; float64 orbits of 2,000 steps stay chaotic (checked below)."""
    r = 4.0

    def logistic(x):
        return r * x * (1 - x)

    def derivative(x):
        return (r * (1 - 2 * x))[..., None]  # f'(x) as a (B, 1, 1) Jacobian

    x0 = 0.05 + 0.9 * torch.rand(256, 1, generator=generator)
    orbit = rollout(logistic, x0, 2100)  # (256, 2100, 1): no collapse onto 0 or a short cycle
    assert ((orbit > 0) & (orbit < 1)).all()
    assert torch.unique(orbit).numel() > 0.999 * orbit.numel()

    result = lyapunov_spectrum(logistic, x0, 2000, dt=1.0, n_transient=100, jacobian=derivative)
    assert result.exponents.item() == pytest.approx(math.log(2), rel=0.01)
    assert result.stderr.item() < 0.003

    short = {"dt": 1.0, "n_transient": 20}
    by_autograd = lyapunov_spectrum(logistic, x0, 300, **short)
    closed_form = lyapunov_spectrum(logistic, x0, 300, jacobian=derivative, **short)
    torch.testing.assert_close(by_autograd.per_ic, closed_form.per_ic, rtol=1e-10, atol=1e-10)


def test_lorenz63_spectrum(generator):
    """16 orbits × 200 time units at dt = 0.01 after a 10-unit tangent transient."""
    system = make_system("lorenz63")
    result = system_lyapunov_spectrum(
        system, 16, 200.0, transient_time=10.0, qr_every=5, generator=generator
    )
    l1, l2, l3 = result.exponents.tolist()
    assert l1 == pytest.approx(0.9056, rel=0.03)
    assert abs(l2) < 0.01
    assert l3 == pytest.approx(-14.5723, rel=0.01)
    # The sum is the time-averaged divergence of the flow, −(σ + 1 + β), up to O(dt⁴).
    assert sum(result.exponents.tolist()) == pytest.approx(-(10 + 1 + 8 / 3), abs=1e-3)


@pytest.mark.slow
def test_lorenz63_spectrum_long_runs(generator):
    """16 orbits × 1,000 time units (and Rössler, 16 × 2,000): tighter bounds (make bench)."""
    lorenz = system_lyapunov_spectrum(make_system("lorenz63"), 16, 1000.0, transient_time=10.0,
                                      qr_every=5, generator=generator)
    assert lorenz.exponents[0].item() == pytest.approx(0.9056, rel=0.01)
    assert abs(lorenz.exponents[1].item()) < 0.003
    rossler = system_lyapunov_spectrum(make_system("rossler"), 16, 2000.0, transient_time=100.0,
                                       qr_every=5, generator=generator)
    assert rossler.exponents[0].item() == pytest.approx(0.0714, rel=0.03)
    assert sum(rossler.exponents.tolist()) == pytest.approx(
        rossler_mean_divergence(make_system("rossler"), generator), rel=1e-2)


def rossler_mean_divergence(system, generator) -> float:
    """Time average of the divergence a + x - c along an orbit (the sum of the exponents)."""
    x = rollout(make_step(system), system.sample_initial_conditions(16, generator), 200_000)
    return float((0.2 + x[..., 0] - 5.7).mean())


def test_lorenz63_autograd_path_matches_closed_form(generator):
    system = make_system("lorenz63")
    x0 = torch.tensor([0.0, 0.0, 25.0]) + 5 * torch.randn(3, 3, generator=generator)
    step = make_step(system)
    tangent = make_tangent_step(system)
    fast = lyapunov_spectrum(step, x0, 100, dt=0.01, n_transient=20, tangent=tangent)
    slow = lyapunov_spectrum(step, x0, 100, dt=0.01, n_transient=20)
    torch.testing.assert_close(slow.per_ic, fast.per_ic, rtol=1e-9, atol=1e-9)


def test_single_orbit_has_no_stderr(generator):
    result = lyapunov_spectrum(_linear_map, torch.randn(1, 3, generator=generator), 10, dt=1.0)
    assert result.per_ic.shape == (1, 3) and torch.isnan(result.stderr).all()


@pytest.mark.parametrize(
    "kwargs", [{"n_exponents": 4}, {"n_exponents": 0}, {"qr_every": 0}, {"n_transient": -1}]
)
def test_invalid_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError, match="n_exponents"):
        lyapunov_spectrum(_linear_map, torch.ones(2, 3), 10, dt=1.0, **kwargs)
