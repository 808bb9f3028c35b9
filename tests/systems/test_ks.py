"""Kuramoto–Sivashinsky and ETDRK4: convergence order, Kassam–Trefethen, exact linear modes."""

import math

import numpy as np
import pytest
import torch

from dynlearn.metrics import lyapunov_spectrum
from dynlearn.solvers import make_etdrk4_step, make_etdrk4_step_from_terms, rollout
from dynlearn.systems import KuramotoSivashinsky

pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Small FFTs gain nothing from threads, and a 2-thread team on a busy CPU is ~50× slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def attractor_states() -> torch.Tensor:
    """Four L = 22 states after the default transient, (4, 64)."""
    return KuramotoSivashinsky().sample_initial_conditions(4, torch.Generator().manual_seed(7))


def _fourier_solve(system, u0, dt, t_end):
    # Stepping û directly: the physical-space wrapper's rfft/irfft round trip adds ~1e-16 per
    # step coherently (~1e-12 over 10⁴ steps), which would floor the finest errors.
    step = make_etdrk4_step_from_terms(system.linear, system.nonlinear, dt)
    v = torch.fft.rfft(u0)
    for _ in range(round(t_end / dt)):
        v = step(v)
    return torch.fft.irfft(v, n=system.dim)


def _slope(dts, errors):
    return np.polyfit(np.log(dts), np.log(errors), 1)[0]


def test_etdrk4_order(attractor_states):
    """Fourth order on KS L = 22, N = 64: log-error slope in [3.7, 4.3] for dt 0.01 … 0.00125.

    The reference uses dt_min/8: its O(h⁴) error (4096× below the finest run's) is already
    under the float64 round-off floor (~5e-14 here), which finer references only raise.
    """
    ks = KuramotoSivashinsky()
    u0, t_end = attractor_states[0], 2.0
    reference = _fourier_solve(ks, u0, 0.00125 / 8, t_end)

    def errors(dts):
        return [(_fourier_solve(ks, u0, dt, t_end) - reference).abs().max().item() for dt in dts]

    fine = [0.01, 0.005, 0.0025, 0.00125]
    assert 3.7 <= _slope(fine, errors(fine)) <= 4.3  # measured 3.84
    # Pre-asymptotic for larger dt, where h·k⁴ of the top modes passes through O(1): the
    # literature's ≈ 3.3.
    coarse = [0.1, 0.05, 0.025, 0.0125]
    assert 3.0 <= _slope(coarse, errors(coarse)) <= 3.6  # measured 3.22


def test_kassam_trefethen_problem():
    """Domain 32π, N = 128, h = 1/4: within 1e-4 of h/64 at t = 30; bounded up to t = 150."""
    ks = KuramotoSivashinsky(L=32 * math.pi, N=128)
    x = 32 * math.pi * torch.arange(1, 129) / 128
    u0 = torch.cos(x / 16) * (1 + torch.sin(x / 16))
    with torch.no_grad():
        trajectory = rollout(make_etdrk4_step(ks, 0.25), u0, 600)  # (600, 128), t = 0.25 … 150
        reference = rollout(make_etdrk4_step(ks, 0.25 / 64), u0, 30 * 256)[-1]
    assert (trajectory[119] - reference).abs().max() < 1e-4  # measured 5.3e-5
    assert trajectory.isfinite().all() and trajectory.abs().max() < 10


def test_pure_linear_modes_are_exact():
    """With N = 0 every mode evolves as exp((k² − k⁴) t) to round-off."""
    ks = KuramotoSivashinsky()
    generator = torch.Generator().manual_seed(0)
    v0 = torch.randn(ks.linear.shape[0], dtype=torch.complex128, generator=generator)
    step = make_etdrk4_step_from_terms(ks.linear, torch.zeros_like, dt=0.25)
    v = v0
    for _ in range(40):
        v = step(v)
    exact = v0 * torch.exp(ks.linear * 10.0)
    representable = ks.linear * 10.0 > -600  # the rest underflow to 0 in both
    relative = ((v - exact).abs() / exact.abs())[representable]
    assert representable.sum() >= 10 and relative.max() < 1e-12
    assert (v[~representable] == 0).all()


@pytest.mark.parametrize("mode", [1, 2, 4])
def test_small_single_mode_grows_at_linear_rate(mode):
    """A tiny sine wave through the full KS step: its Fourier mode follows exp((k² − k⁴) t).

    The nonlinearity feeds mode n back only at third order in the amplitude (via mode 2n),
    so with amplitude 1e-6 the deviation is ~1e-12 relative.
    """
    ks = KuramotoSivashinsky()
    x = 22.0 * torch.arange(64) / 64
    u0 = 1e-6 * torch.sin(2 * math.pi * mode * x / 22.0)
    u = rollout(make_etdrk4_step(ks), u0, 40)[-1]  # t = 10
    growth = torch.fft.rfft(u)[mode] / torch.fft.rfft(u0)[mode]
    exact = math.exp(ks.linear[mode].item() * 10.0)
    assert abs(growth.item() - exact) < 1e-10 * exact


def test_gradcheck_through_two_steps():
    """Autograd through two ETDRK4 steps (N = 16) matches finite differences."""
    ks = KuramotoSivashinsky(L=22.0, N=16)
    step = make_etdrk4_step(ks)
    x = 22.0 * torch.arange(16) / 16
    u0 = torch.stack([torch.sin(2 * math.pi * x / 22.0), torch.cos(4 * math.pi * x / 22.0)])
    u0.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda u: step(step(u)), (u0,))


def test_long_run_stays_real_and_conserves_mean(attractor_states):
    """Real FFTs keep the field real; the k = 0 mode (spatial mean) is conserved to round-off."""
    ks = KuramotoSivashinsky()
    u0 = attractor_states + torch.tensor([0.0, 0.3, -1.0, 2.0])[:, None]  # non-zero means
    with torch.no_grad():
        u = rollout(make_etdrk4_step(ks), u0, 2000)[..., -1, :]  # t = 500
    assert u.dtype == torch.float64 and u.isfinite().all() and u.abs().max() < 20
    assert (u.mean(-1) - u0.mean(-1)).abs().max() < 1e-12


def test_rhs_and_jvp_match_closed_forms():
    """rhs of u = sin(kx): −k sin cos + k² sin − k⁴ sin; J(u) v = −∂x(u v) − v_xx − v_xxxx."""
    ks = KuramotoSivashinsky()
    x = 22.0 * torch.arange(64) / 64
    k = 2 * math.pi * 3 / 22.0
    u = torch.sin(k * x)
    expected = -k * torch.sin(k * x) * torch.cos(k * x) + (k**2 - k**4) * torch.sin(k * x)
    torch.testing.assert_close(ks.rhs(0.0, u), expected, rtol=0, atol=1e-11)
    # v = cos 2kx: u v = (sin 3kx − sin kx)/2, so −∂x(u v) = −(3k cos 3kx − k cos kx)/2.
    v = torch.cos(2 * k * x)
    advection = -0.5 * (3 * k * torch.cos(3 * k * x) - k * torch.cos(k * x))
    expected = advection + (4 * k**2 - 16 * k**4) * v
    torch.testing.assert_close(ks.jvp(u, v), expected, rtol=0, atol=1e-10)


def test_dealiasing_truncates_the_nonlinear_term():
    """With the 2/3 rule N(û) vanishes for n ≥ N/3; without it, it does not."""
    u_hat = torch.fft.rfft(torch.randn(64, generator=torch.Generator().manual_seed(0)))
    dealiased = KuramotoSivashinsky(dealias=True).nonlinear(u_hat)
    assert (dealiased[22:] == 0).all() and dealiased[:22].abs().max() > 0.1
    assert KuramotoSivashinsky().nonlinear(u_hat)[22:].abs().max() > 1e-8


def test_sample_initial_conditions(attractor_states):
    """Deterministic given the generator, zero mean, and on the attractor (rms ≈ 1.1–1.4)."""
    ks = KuramotoSivashinsky()
    again = ks.sample_initial_conditions(4, torch.Generator().manual_seed(7))
    torch.testing.assert_close(again, attractor_states, rtol=0, atol=0)
    assert attractor_states.shape == (4, 64)
    assert attractor_states.mean(-1).abs().max() < 1e-12
    rms = attractor_states.pow(2).mean(-1).sqrt()
    assert ((rms > 0.8) & (rms < 2.0)).all()
    assert ks.to_dict()["params"] == {"L": 22.0, "N": 64}


@pytest.mark.slow
def test_lyapunov_spectrum_l22():
    """L = 22: λ1 ∈ [0.040, 0.055], two zero exponents (time and space translation), λ4 < 0."""
    ks = KuramotoSivashinsky()
    x0 = ks.sample_initial_conditions(16, torch.Generator().manual_seed(0))
    result = lyapunov_spectrum(
        make_etdrk4_step(ks), x0, 4000, dt=ks.dt, n_exponents=4, n_transient=400, qr_every=4
    )
    exponents = result.exponents
    assert 0.040 <= exponents[0] <= 0.055
    assert exponents[1:3].abs().max() <= 0.005
    assert exponents[3] < 0
