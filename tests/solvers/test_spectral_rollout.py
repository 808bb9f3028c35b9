"""`rollout` and `spin_up` of a SpectralStep stay in Fourier space and agree with stepping in
physical space, where the reference below is the stepper as it was before (written out here:
the plain ETDRK4 and CN/Heun formulas, one rfft/irfft round trip per step, states stacked)."""

import functools

import pytest
import torch

from dynlearn.solvers import make_etdrk4_step, make_imex_cn_heun_step, rollout, spin_up
from dynlearn.solvers._etdrk4 import _etdrk4_coefficients
from dynlearn.solvers._spectral import SpectralStep
from dynlearn.systems import KuramotoSivashinsky
from dynlearn.systems._navier_stokes import NavierStokes2D

pytestmark = pytest.mark.usefixtures("float64")


def _reference_etdrk4_step(system):
    """Cox & Matthews' ETDRK4 (Kassam & Trefethen 2005, eqs. 26), a physical-space round trip."""
    e, e_error, e2, q, f1, f2, f3 = _etdrk4_coefficients(system.linear, system.dt, 32)
    nonlinear = functools.partial(system.explicit, 0.0)

    def step(u):
        v = torch.fft.rfft(u)
        nv = nonlinear(v)
        a = e2 * v + q * nv
        na = nonlinear(a)
        b = e2 * v + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        nc = nonlinear(c)
        return torch.fft.irfft(e * v + ((e_error * v + f1 * nv) + (2 * f2 * (na + nb) + f3 * nc)), n=u.shape[-1])

    return step


def _reference_cn_heun_step(system):
    """v* = A v + B F(v), v' = A v + (B/2)(F(v) + F(v*)), A = (1 + hL/2)/(1 − hL/2), B = h/(1 − hL/2)."""
    half = 0.5 * system.dt * system.linear
    a, b = (1 + half) / (1 - half), system.dt / (1 - half)

    def step(w):
        v = torch.fft.rfft2(w)
        f0 = system.explicit(0.0, v)
        f1 = system.explicit(0.0, a * v + b * f0)
        return torch.fft.irfft2(a * v + 0.5 * b * (f0 + f1), s=w.shape[-2:])

    return step


def _stepped(step, x, n_steps, n_transient=0, save_every=1):
    for _ in range(n_transient):
        x = step(x)
    saved = []
    for i in range(1, n_steps + 1):
        x = step(x)
        if i % save_every == 0:
            saved.append(x)
    return torch.stack(saved, -2)


@pytest.fixture(scope="module")
def ks_states():
    system = KuramotoSivashinsky(dt=0.1, transient_time=100.0)
    return system, system.sample_initial_conditions(4, torch.Generator().manual_seed(0))


def test_ks_rollout_matches_stepping_in_physical_space(ks_states):
    """300 ETDRK4 steps of 0.1 (t = 30) on the attractor: the Fourier-space rollout of the fused
    step equals the reference's step-by-step physical rollout to 1e-12 (|u| ≈ 3). Any two
    roundings part at the chaos' rate: at dt = 0.25 the gap is ~3e-13 by t = 50, 3e-12 by t = 75."""
    system, x0 = ks_states
    step = make_etdrk4_step(system)
    assert isinstance(step, SpectralStep)
    with torch.no_grad():
        fast = rollout(step, x0, 300)
        reference = _stepped(_reference_etdrk4_step(system), x0, 300)
    assert fast.shape == (4, 300, 64) and reference.abs().max() > 1
    assert (fast - reference).abs().max() < 1e-12


def test_transient_and_subsampling_index_the_same_states(ks_states):
    """n_transient, save_every and spin_up pick the same states in both spaces (calling the
    step is the physical-space path); continuing from the last state equals one long run."""
    system, x0 = ks_states
    step = make_etdrk4_step(system)
    with torch.no_grad():
        fast = rollout(step, x0, 120, n_transient=7, save_every=4)
        slow = _stepped(step, x0, 120, n_transient=7, save_every=4)
        assert fast.shape == slow.shape == (4, 30, 64)
        assert (fast - slow).abs().max() < 1e-13
        first = rollout(step, x0, 60, n_transient=7, save_every=4)
        second = rollout(step, first[:, -1], 60, save_every=4)
        assert (torch.cat([first, second], 1) - fast).abs().max() < 1e-13
    assert (spin_up(step, x0, 50) - _stepped(step, x0, 50)[:, -1]).abs().max() < 1e-13
    assert torch.equal(spin_up(step, x0, 0), x0)
    assert rollout(step, x0, 0).shape == (4, 0, 64)


def test_ns_rollout_matches_stepping_in_physical_space():
    """300 CN/Heun steps of the FNO configuration at 32² (saving every 50th): the Fourier-space
    rollout of the flattened step equals the reference's physical-space steps to 1e-12."""
    system = NavierStokes2D.fno(1e-3, 32, dt=1e-3)
    w0 = system.sample_initial_conditions(3, torch.Generator().manual_seed(1))
    step = make_imex_cn_heun_step(system)
    with torch.no_grad():
        fast = rollout(step.flattened(), w0.flatten(-2), 300, save_every=50).unflatten(-1, (32, 32))
        reference_step = _reference_cn_heun_step(system)
        reference = _stepped(lambda w: reference_step(w.unflatten(-1, (32, 32))).flatten(-2),
                             w0.flatten(-2), 300, save_every=50).unflatten(-1, (32, 32))
    assert fast.shape == (3, 6, 32, 32) and reference.abs().max() > 0.5
    assert (fast - reference).abs().max() < 1e-12
    torch.testing.assert_close(step.flattened()(w0.flatten(-2)), step(w0).flatten(-2), rtol=0, atol=0)


def test_gradients_through_the_fourier_rollout_match_the_physical_ones(ks_states):
    """d/dx0 of a loss on the saved states: Fourier-space rollout vs stepping, to 1e-10."""
    system, x0 = ks_states
    step = make_etdrk4_step(system)
    weights = torch.randn(4, 5, 64, generator=torch.Generator().manual_seed(2))
    grads = []
    for run in (lambda x: rollout(step, x, 20, save_every=4), lambda x: _stepped(step, x, 20, save_every=4)):
        x = x0.clone().requires_grad_()
        (grad,) = torch.autograd.grad((weights * run(x)).sum(), x)
        grads.append(grad)
    assert grads[0].abs().max() > 1e-3
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-10 * grads[1].abs().max().item())
