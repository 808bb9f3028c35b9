"""Φ-ROM: gradients flow through the solvers' steps, the least-squares projection is the exact one
for a linear decoder (in span: the true latent velocity; on the full grid: the Galerkin/Fourier
projection), inversion recovers known latents from sparse points, and the loss's warm-up, physics
and DINo terms are what they claim."""

import math

import numpy as np
import pytest
import torch

from dynlearn import ConfigError
from dynlearn.models import DataFacts, IOShape, make_model
from dynlearn.models.phirom import (PDEResidual, PeriodicINR, PhiROM, PhiROMConfig, batch_jacobian, decoder_jacobian,
                                    grid_coordinates, invert_latent, least_squares)
from dynlearn.solvers import make_etdrk4_step, make_imex_cn_heun_step
from dynlearn.systems import make_system


class FourierDecoder(torch.nn.Module):
    """A linear decoder on a 1-D periodic grid: u(c) = Σ_n a_n cos 2πnc + b_n sin 2πnc, n = 1..modes,
    α = [a_1, b_1, a_2, b_2, ...]."""

    def __init__(self, modes: int) -> None:
        super().__init__()
        self.n = torch.arange(1, modes + 1, dtype=torch.float64)

    def basis(self, coords: torch.Tensor) -> torch.Tensor:  # (P, 1) -> (P, 2·modes)
        phase = 2 * math.pi * coords[:, :1] * self.n
        return torch.stack([phase.cos(), phase.sin()], dim=-1).reshape(len(coords), -1)

    def forward(self, alpha: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        return (alpha @ self.basis(coords).T)[..., None]  # (B, P, 1)


def test_gradients_flow_through_one_ks_step_and_one_ns_step(generator):
    ks = make_system("ks", L=22.0, N=8)
    ks_step = make_etdrk4_step(ks, 0.25)
    u = 0.5 * torch.randn(2, 8, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(ks_step, (u.requires_grad_(),))
    ns = make_system("navier_stokes_2d", n=8, nu=1e-2, forcing="fno", L=1.0)
    ns_step = make_imex_cn_heun_step(ns, 0.01)
    w = torch.randn(1, 8, 8, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(ns_step, (w.requires_grad_(),))
    # and through the right-hand side Φ-ROM's physics reads, in normalized units
    residual = PDEResidual(ks.to_dict(), mean=0.1, std=1.3)
    assert torch.autograd.gradcheck(residual, (u.detach()[:, None].requires_grad_(),))


def test_an_in_span_velocity_is_projected_exactly_from_any_few_points(generator):
    decoder = FourierDecoder(3)
    coords = grid_coordinates((64,), dtype=torch.float64)
    points = torch.randperm(64, generator=generator)[:7]  # 10 % of the grid, >= k = 6
    alpha = torch.randn(4, 6, generator=generator, dtype=torch.float64)
    velocity = torch.randn(4, 6, generator=generator, dtype=torch.float64)
    jac = decoder_jacobian(decoder, alpha, coords[points])
    torch.testing.assert_close(jac, decoder.basis(coords[points]).expand(4, -1, -1), rtol=0, atol=1e-14)
    du_dt = velocity @ decoder.basis(coords[points]).T  # F = J v: a velocity the decoder represents
    torch.testing.assert_close(least_squares(jac, du_dt), velocity, rtol=0, atol=1e-12)


def test_the_full_grid_projection_of_the_ks_right_hand_side_is_its_fourier_coefficients(generator):
    ks = make_system("ks", L=22.0, N=64)
    residual = PDEResidual(ks.to_dict(), mean=0.0, std=1.0)
    decoder, coords = FourierDecoder(3), grid_coordinates((64,), dtype=torch.float64)
    alpha = torch.randn(2, 6, generator=generator, dtype=torch.float64)
    u = decoder(alpha, coords)[..., 0]  # (B, 64)
    du_dt = residual(u[:, None])[:, 0]  # the nonlinear term leaves the span: modes up to 6
    projected = least_squares(decoder_jacobian(decoder, alpha, coords), du_dt)
    coefficients = torch.fft.rfft(du_dt)[:, 1:4] * 2 / 64  # orthogonal projection onto modes 1..3
    expected = torch.stack([coefficients.real, -coefficients.imag], dim=-1).reshape(2, 6)
    torch.testing.assert_close(projected, expected, rtol=0, atol=1e-12)
    # the linear part alone, k² − k⁴ per mode, is in span: on a single mode it is exact
    single = torch.zeros(1, 6, dtype=torch.float64)
    single[0, 2] = 1e-4  # a_2 small: the quadratic term is 1e-8 of it
    k = 2 * math.pi * 2 / 22.0
    one = least_squares(decoder_jacobian(decoder, single, coords), residual(decoder(single, coords)[..., 0][:, None])[:, 0])
    assert one[0, 2].item() == pytest.approx((k**2 - k**4) * 1e-4, rel=1e-3)


def test_inversion_recovers_a_known_latent_from_a_tenth_of_the_points(generator):
    coords = grid_coordinates((64,), dtype=torch.float64)
    points = coords[torch.randperm(64, generator=generator)[:7]]
    decoder = FourierDecoder(3)
    truth = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    found = invert_latent(lambda a: decoder(a, points).flatten(1), decoder(truth, points).flatten(1),
                          torch.zeros_like(truth))
    torch.testing.assert_close(found, truth, rtol=0, atol=1e-4)
    # a nonlinear INR, on a 2-D grid, from a nearby start: the Levenberg–Marquardt steps converge
    inr = PeriodicINR(2, 1, 4, width=16, depth=2, harmonics=2, seed=1).double()
    grid = grid_coordinates((16, 16), dtype=torch.float64)
    sparse = grid[torch.randperm(256, generator=generator)[:26]]
    truth = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    start = truth + 0.1 * torch.randn(3, 4, generator=generator, dtype=torch.float64)
    found = invert_latent(lambda a: inr(a, sparse).flatten(1), inr(truth, sparse).flatten(1), start, steps=30)
    torch.testing.assert_close(found, truth, rtol=0, atol=1e-4)


def test_the_first_latent_is_recovered_from_points_that_differ_at_every_time(generator):
    torch.manual_seed(0)
    model = PhiROM(IOShape((1, 64)), PhiROMConfig(latent_dim=4, width=16, depth=2, harmonics=3, node_width=16,
                                                  node_depth=1, dt=0.25, physics_weight=0.0, n_times=4)).double()
    truth = torch.randn(2, 4, generator=generator, dtype=torch.float64)
    with torch.no_grad():  # inversions start from the memory's mean latent: put it near the truth's mean
        model.memory.copy_(truth.mean(0) + 0.05 * torch.randn(1, 4, 4, generator=generator, dtype=torch.float64))
        path = model.integrate(truth, 4)
    coords = grid_coordinates((64,), dtype=torch.float64)
    observations = []
    for t, n in ((0, 2), (2, 3), (4, 3)):  # different points at every time, too few at any one for k = 4
        points = coords[torch.randperm(64, generator=generator)[:n]]
        observations.append((t, model.decoder(path[t], points), points))
    found = model.invert_observations(observations)
    torch.testing.assert_close(found, truth, rtol=0, atol=1e-4)
    # the batched Jacobian through the ODE solver is the finite-difference one
    predict = lambda a: model.decoder(model.integrate(a, 2)[-1], coords[:5]).flatten(1)  # noqa: E731
    jac = batch_jacobian(predict, truth)
    step = torch.zeros_like(truth)
    step[:, 1] = 1e-6
    torch.testing.assert_close(jac[..., 1], (predict(truth + step) - predict(truth - step)) / 2e-6, rtol=1e-6, atol=1e-8)


def test_the_decoder_is_periodic_and_reads_any_resolution(generator):
    inr = PeriodicINR(2, 1, 3, width=8, depth=2, harmonics=3).double()
    alpha = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    c = torch.rand(5, 2, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(inr(alpha, c), inr(alpha, c + torch.tensor([1.0, -2.0], dtype=torch.float64)))
    model = PhiROM(IOShape((1, 8, 8)), PhiROMConfig(latent_dim=3, width=8, depth=2, harmonics=3, physics_weight=0))
    coarse, fine = model.decode(alpha.float()), model.decode(alpha.float(), (16, 16))
    torch.testing.assert_close(fine[..., ::2, ::2], coarse)  # the 8² grid's points are the 16² grid's even ones


def _ks_model(physics_weight=1.0, **options) -> PhiROM:
    ks = make_system("ks", L=22.0, N=16)
    cfg = PhiROMConfig(latent_dim=4, width=16, depth=2, harmonics=3, node_width=16, node_depth=1, dt=0.25,
                       physics_weight=physics_weight, system=ks.to_dict(), norm_mean=[0.0], norm_std=[1.0],
                       n_slots=2, n_times=12, **options)
    torch.manual_seed(0)
    return PhiROM(IOShape((1, 16)), cfg).double()


def _batch(generator):
    return {"x": torch.randn(3, 5, 1, 16, generator=generator, dtype=torch.float64),
            "index": torch.tensor([[0, 0], [1, 4], [0, 7]])}


def test_in_the_warm_up_the_physics_teaches_the_latent_ode_only(generator):
    model = _ks_model(warmup_epochs=2)
    shared = [*model.decoder.parameters(), model.memory]

    def grads():
        model.zero_grad()
        model._physics_loss(model.memory[0, :5], model.decode(model.memory[0, :5])).backward()
        return [p.grad for p in shared], [p.grad for p in model.field.parameters()]

    model.begin_epoch(1, 10)
    shared_grads, field_grads = grads()
    assert all(g is None or not g.any() for g in shared_grads) and all(g.abs().sum() > 0 for g in field_grads)
    model.begin_epoch(2, 10)
    shared_grads, field_grads = grads()
    assert all(g.abs().sum() > 0 for g in shared_grads)  # through the solver and the projection


def test_the_dino_variant_fits_the_latent_ode_to_the_stored_latents(generator):
    model = _ks_model(physics_weight=0.0)
    batch = _batch(generator)
    out = model.loss(batch)
    assert "phys" not in out
    alpha = model.memory.detach()[batch["index"][:, :1], batch["index"][:, 1:] + torch.arange(5)]  # (3, 5, k)
    path = model.integrate(alpha[:, 0], 4)[1:].transpose(0, 1)
    expected = ((path - alpha[:, 1:]).flatten(0, 1).norm(dim=1) / alpha[:, 1:].flatten(0, 1).norm(dim=1)).mean()
    torch.testing.assert_close(out["labels"], expected)
    fields = model.decode(alpha.flatten(0, 1))
    x = batch["x"].flatten(0, 1)
    rec = ((fields - x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)).mean()
    torch.testing.assert_close(out["loss"], 0.5 * rec + 0.5 * expected)


def test_physics_without_the_system_and_windows_beyond_the_memory_are_refused():
    model = PhiROM(IOShape((1, 16)), PhiROMConfig(latent_dim=2, n_slots=1, n_times=8))
    batch = {"x": torch.zeros(1, 4, 1, 16), "index": torch.tensor([[0, 0]])}
    with pytest.raises(ConfigError, match="physics_weight=0"):
        model.loss(batch)
    with pytest.raises(Exception, match="beyond the latent memory"):
        model.loss({"x": torch.zeros(1, 4, 1, 16), "index": torch.tensor([[0, 6]])})


def test_options_left_null_come_from_the_training_data():
    ks = make_system("ks").to_dict()
    facts = DataFacts(series=lambda: np.zeros((5, 64)), system=ks, norm_mean=[0.2], norm_std=[1.5], n_slots=16,
                      n_times=600)
    options = PhiROM.resolve_options({"latent_dim": 8, "system": None, "norm_mean": None, "norm_std": None,
                                      "n_slots": None, "n_times": None}, facts)
    assert options == {"latent_dim": 8, "system": ks, "norm_mean": [0.2], "norm_std": [1.5], "n_slots": 16,
                       "n_times": 600}
    model = make_model("phirom", IOShape((1, 64)), **options)
    assert model.memory.shape == (16, 600, 8) and model.residual is not None
