"""The Koopman autoencoder: Tustin is second order, re-encoding every k steps is what the paper
describes (k = 1: encode, advance, decode at every step), the step Jacobian is the step's
derivative, a linear system's generator is recovered, and debug=fast runs end to end."""

import json
import math

import numpy as np
import pytest
import torch

import dynlearn
from dynlearn import ConfigError
from dynlearn.metrics import horizon_mse
from dynlearn.models import IOShape, Koopman, KoopmanConfig
from dynlearn.models.koopman import tustin
from tests.helpers import randomized

# A damped rotation and a decaying mode: eigenvalues -0.1 ± 2i and -0.5.
A = torch.tensor([[-0.1, 2.0, 0.0], [-2.0, -0.1, 0.0], [0.0, 0.0, -0.5]], dtype=torch.float64)


def test_tustin_matches_the_matrix_exponential_to_second_order(float64, generator):
    k = torch.randn(4, 4, generator=generator)
    steps = torch.tensor([0.04, 0.02, 0.01, 0.005])
    errors = torch.stack([torch.linalg.matrix_norm(tustin(k, h) - torch.linalg.matrix_exp(h * k)) for h in steps])
    # Local error O(h³) (a second-order method): slope 3 on a log-log plot ...
    slope = np.polyfit(np.log(steps.numpy()), np.log(errors.numpy()), 1)[0]
    assert slope == pytest.approx(3.0, abs=0.05)
    # ... with the leading term h³ K³ / 12 ((1 + x/2)/(1 − x/2) = 1 + x + x²/2 + x³/4 + …; e^x has x³/6).
    leading = torch.linalg.matrix_norm(torch.linalg.matrix_power(k, 3)) / 12
    assert float(errors[-1] / steps[-1] ** 3) == pytest.approx(float(leading), rel=0.02)
    # A neutral generator (skew-symmetric) stays exactly neutral: K̄ is orthogonal for any step.
    skew = k - k.T
    bar = tustin(skew, 0.7)
    torch.testing.assert_close(bar @ bar.T, torch.eye(4), rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [0, 1, 3])
def test_rollout_reencodes_every_k_steps(float64, generator, k):
    model = randomized(Koopman(2, KoopmanConfig(latent_dim=6, width=8, depth=1, decoder="mlp", reencode_every=k)),
                       generator, 0.3)
    context = torch.randn(3, 2, 2, generator=generator)
    bar = model.transition()
    # The paper's procedure written out: z = φ(x0); advance; every k steps z ← φ(ψ(z)).
    z, expected = model.encode(context[:, -1]), []
    with torch.no_grad():
        for t in range(7):
            if k and t > 0 and t % k == 0:
                z = model.encode(model.decode(z))
            z = z @ bar.T
            expected.append(model.decode(z))
        got = model.rollout(context, 7)
    torch.testing.assert_close(got, torch.stack(expected, dim=1), rtol=0, atol=1e-12)
    if k == 1:  # encode -> advance -> decode at every step, from the previous prediction
        x, chain = context[:, -1], []
        with torch.no_grad():
            for _ in range(7):
                x = model.decode(model.encode(x) @ bar.T)
                chain.append(x)
        torch.testing.assert_close(got, torch.stack(chain, dim=1), rtol=0, atol=1e-12)
    if k == 0:  # the plain linear rollout: ψ(K̄^t φ(x0))
        power = torch.linalg.matrix_power(bar, 7)
        torch.testing.assert_close(got[:, -1], model.decode(model.encode(context[:, -1]) @ power.T),
                                   rtol=0, atol=1e-12)


def test_jacobian_is_the_derivative_of_step(float64, generator):
    model = randomized(Koopman(3, KoopmanConfig(latent_dim=5, width=8, depth=2, decoder="mlp",
                                                activation="tanh", reencode_every=2)), generator, 0.3)
    z = torch.randn(4, 5, generator=generator)
    counts = torch.tensor([[0.0], [1.0], [2.0], [2.0]])  # rows 2 and 3 re-encode in this step
    state = torch.cat([z, counts], dim=1)
    with torch.no_grad():
        jacobian = model.jacobian(state)
    for b in range(4):
        expected = torch.autograd.functional.jacobian(lambda s: model.step(s[None])[0], state[b])
        expected[:, -1] = 0  # the counter is discrete
        torch.testing.assert_close(jacobian[b], expected, rtol=0, atol=1e-12)
    assert not torch.allclose(jacobian[2], jacobian[0])  # the re-encoding step has its own map


def test_loss_terms_are_the_papers(float64, generator):
    cfg = KoopmanConfig(latent_dim=4, width=8, depth=1, prediction=0.5, sparsity=0.01)
    model = randomized(Koopman(2, cfg), generator, 0.3)
    x = torch.randn(3, 6, 2, generator=generator)
    bar, z = model.transition(), model.encode(x)
    unrolled = [z[:, 0]]
    for _ in range(5):
        unrolled.append(unrolled[-1] @ bar.T)
    unrolled = torch.stack(unrolled, dim=1)
    align = (unrolled[:, 1:] - z[:, 1:]).pow(2).mean()
    rec = (model.decode(z) - x).pow(2).mean()
    pred = (model.decode(unrolled[:, 1:]) - x[:, 1:]).pow(2).mean()
    out = model.loss({"x": x})
    torch.testing.assert_close(out["loss"], align + rec + 0.5 * pred + 0.01 * z.abs().mean(), rtol=1e-12, atol=0)
    torch.testing.assert_close(out["align"], align.detach(), rtol=1e-12, atol=0)


def test_a_linear_system_gives_its_generators_eigenvalues_within_two_percent(float64, generator, tmp_path):
    dt = 0.05
    # Latent dimension = state dimension, linear encoder and decoder: K̄ can equal P expm(A dt) P⁻¹.
    # K at the networks' learning rate (ratio 1) so that 800 Adam steps converge (loss ~1e-10 or less).
    model = Koopman(3, KoopmanConfig(latent_dim=3, depth=0, dt=dt, sparsity=0.0, prediction=1.0,
                                     dynamics_lr_ratio=1.0, reencode_every=0))
    x0 = torch.randn(16, 3, generator=generator)
    propagators = torch.linalg.matrix_exp(dt * torch.arange(21.0)[:, None, None] * A)  # (T, 3, 3)
    x = torch.einsum("tij,bj->bti", propagators, x0)  # exact trajectories (B, T, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 800, eta_min=2e-5)
    for _ in range(800):
        optimizer.zero_grad()
        model.loss({"x": x})["loss"].backward()
        optimizer.step()
        schedule.step()
    true = torch.linalg.eigvals(A)
    spectrum = model.eigenvalues()
    for key in ("continuous", "generator"):  # log(μ)/dt, and δK/dt (Tustin's bias: < 1e-3 here)
        learned = spectrum[key]
        for lam in true:
            nearest = learned[torch.argmin((learned - lam).abs())]
            assert abs(nearest - lam) / abs(lam) < 0.02, (key, lam, learned)  # measured: < 0.05 % over 4 seeds
    # The report: the table holds the same spectrum, the figure is a PNG.
    table, figure = model.write_report(tmp_path)
    rows = np.genfromtxt(table, delimiter=",", names=True)
    assert len(rows) == 3
    np.testing.assert_allclose(np.sort(rows["lambda_real"]), np.sort(spectrum["continuous"].real.numpy()), rtol=1e-8)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_exogenous_inputs_and_bad_options_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="Koopman learns autonomous vectors.*2 exogenous inputs"):
        Koopman(IOShape((3,), (2,)))
    with pytest.raises(ConfigError, match="Koopman: reencode_every must be >= 0"):
        KoopmanConfig(reencode_every=-1)
    with pytest.raises(ConfigError, match="latent collapses"):
        KoopmanConfig(reconstruction=0.0)


def test_debug_fast_trains_evaluates_and_rolls_out(workdir):
    settings = dynlearn.load_settings(["+exp=lorenz", "model=koopman", "debug=fast", "data.save_every=2"])
    run_dir = dynlearn.train(settings)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["dt"] == pytest.approx(0.02) and metrics["lyap_max_available"] is True
    assert math.isfinite(metrics["lyap_max"])
    rows = np.genfromtxt(run_dir / "koopman_eigenvalues.csv", delimiter=",", names=True)
    assert len(rows) == settings.config["model"]["small"]["latent_dim"]
    assert (run_dir / "koopman_eigenvalues.png").stat().st_size > 0
    run = dynlearn.load_run(run_dir)
    assert isinstance(run.model, Koopman) and run.model.config.dt == pytest.approx(0.02)
    context = torch.zeros(1, 1, 3, dtype=next(run.model.parameters()).dtype)
    assert torch.isfinite(run.model.rollout(context, 50)).all()


def test_horizon_mse_of_a_known_error():
    truth = np.zeros((2, 5, 2))
    predicted = truth.copy()
    predicted[0, :, :] = 0.1  # case 0: off by 0.1 in both dimensions: ‖e‖² = 0.02 per step
    predicted[1, 3:, 0] = 1.0  # case 1: exact for 3 steps, then off by 1 in one dimension
    assert horizon_mse(predicted, truth, 3) == pytest.approx((0.02 + 0.0) / 2)
    assert horizon_mse(predicted, truth, 5) == pytest.approx((0.02 + 2 / 5) / 2)
    predicted[1, 4, 1] = np.inf
    assert math.isnan(horizon_mse(predicted, truth, 5)) and math.isfinite(horizon_mse(predicted, truth, 4))
    with pytest.raises(ValueError, match="T >= 6"):
        horizon_mse(predicted, truth, 6)
