"""SDE stores: an Ornstein–Uhlenbeck store's stored transitions follow the closed-form law; a
generation killed between a chunk and its progress record resumes bit for bit; the seed alone
decides the noise."""

import dataclasses
import math

import numpy as np
import pytest

import dynlearn
from dynlearn.data import GenerationSpec, generate_store, validate
from dynlearn.data import _generate
from dynlearn.data._store import read_progress
from dynlearn.systems import make_system

THETA, SIGMA, DT, SAVE_EVERY = 1.0, 0.5, 0.002, 50  # stored Δ = 0.1
OU_SPEC = GenerationSpec(n_train=256, n_val=0, n_test=0, n_floor=0, n_steps=200, save_every=SAVE_EVERY,
                         chunk_steps=100, transient_time=0.0)


def _ou_store(path, spec=OU_SPEC, dim=8):
    system = make_system("ornstein_uhlenbeck", dt=DT, theta=THETA, sigma=SIGMA, dim=dim)
    return validate(generate_store(path, system, spec, config_hash="ou"))["state"].values  # (B, T, dim)


@pytest.fixture(scope="module")
def ou(tmp_path_factory):
    return _ou_store(tmp_path_factory.mktemp("ou") / "ou.zarr")


def test_ou_store_transitions_follow_the_closed_form(ou):
    """X(t+Δ) | X(t) = x ~ N(e^{−θΔ} x, σ²(1 − e^{−2θΔ})/(2θ)). Euler–Maruyama at dt = Δ/50 is
    off by 1e-4 in the factor and 0.2 % in the variance, well inside the sampling error here."""
    delta = DT * SAVE_EVERY
    x, after = ou[:, :-1].ravel(), ou[:, 1:].ravel()  # consecutive stored states, across chunk borders too
    n = x.size
    decay, variance = math.exp(-THETA * delta), SIGMA**2 * (1 - math.exp(-2 * THETA * delta)) / (2 * THETA)
    slope = (x * after).sum() / (x * x).sum()  # least squares through the origin: E[X' | x] = a x
    # The slope's standard error is sqrt(v / Σx²) (v the transition variance); the variance of n
    # Gaussian residuals has relative standard error sqrt(2 / n). The increments are independent.
    assert abs(slope - decay) < 4 * math.sqrt(variance / (x * x).sum()), (slope, decay)
    residual = after - decay * x
    assert abs(residual.mean()) < 4 * math.sqrt(variance / n)
    assert abs(residual.var() / variance - 1) < 4 * math.sqrt(2 / n), (residual.var(), variance)
    # The store starts in the stationary law N(0, σ²/(2θ)) and stays there.
    stationary = SIGMA**2 / (2 * THETA)
    assert abs(ou[:, 0].var() / stationary - 1) < 4 * math.sqrt(2 / ou[:, 0].size)
    assert abs(ou[:, -1].var() / stationary - 1) < 4 * math.sqrt(2 / ou[:, -1].size)


def test_same_seed_same_store_other_seed_other_noise(tmp_path):
    spec = dataclasses.replace(OU_SPEC, n_train=16, n_steps=100)
    first, again = _ou_store(tmp_path / "first.zarr", spec, 2), _ou_store(tmp_path / "again.zarr", spec, 2)
    other = _ou_store(tmp_path / "other.zarr", dataclasses.replace(spec, seed=1), 2)
    np.testing.assert_array_equal(again, first)

    # What Euler–Maruyama adds to ρ^50 x over a stored step is the noise alone (ρ = 1 − θ dt), so
    # comparing residuals compares the Brownian increments, whatever the initial states.
    def noise(states):
        return (states[:, 1:] - (1 - THETA * DT) ** SAVE_EVERY * states[:, :-1]).ravel()

    a, b = noise(first), noise(other)
    limit = 4 / math.sqrt(a.size)  # the standard error of a correlation of independent samples
    assert abs(np.corrcoef(a, b)[0, 1]) < limit
    by_traj = noise(first[:2]).reshape(2, -1)  # and trajectories of one store get independent noise
    assert abs(np.corrcoef(by_traj)[0, 1]) < 4 / math.sqrt(by_traj.shape[1])


def test_a_generation_killed_between_chunk_and_record_resumes_bitwise(tmp_path, monkeypatch):
    """Chunk 1 and its next state are written, its progress record is not: the resumed run redoes
    chunk 1 with the same Brownian increments and ends equal to an uninterrupted one."""
    system = make_system("stochastic_lorenz63", dt=0.002)
    spec = GenerationSpec(n_train=3, n_val=1, n_test=1, n_floor=1, n_steps=300, save_every=5, chunk_steps=100,
                          transient_time=0.5, observation_noise=0.1, seed=3)
    clean = generate_store(tmp_path / "clean.zarr", system, spec, config_hash="h")
    killed = tmp_path / "killed.zarr"

    class Killed(Exception):
        pass

    original = _generate.write_progress

    def dying(path, *, chunks_done, **extra):
        if chunks_done == 2:
            raise Killed()
        original(path, chunks_done=chunks_done, **extra)

    monkeypatch.setattr(_generate, "write_progress", dying)
    with pytest.raises(Killed):
        generate_store(killed, system, spec, config_hash="h")
    monkeypatch.undo()
    assert read_progress(killed)["chunks_done"] == 1 and not read_progress(killed)["complete"]
    with pytest.raises(dynlearn.DataError, match="partial"):
        validate(killed)
    generate_store(killed, system, spec, config_hash="h")
    a, b = validate(killed), validate(clean)
    for name in b.variables:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    assert {k for k in a.attrs if a.attrs[k] != b.attrs.get(k)} <= {"created"}
    assert a.attrs["lyapunov_time"] is None and a.attrs["solver"] == "euler_maruyama"
    assert a.attrs["dt"] == pytest.approx(0.01) and a.attrs["dt_simulated"] == 0.002
