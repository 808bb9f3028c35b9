"""ConvS5 and the frame it shares with ConvLSTM: ZOH against closed forms and the continuous system,
the parallel scan against the recurrence, 1×1 kernels against S5 at every pixel, rollout = step,
masks that hide off-mask cells completely, the free-run loss, the tangent map, seeded init, and
learning a one-cell advection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from dynlearn import ConfigError
from dynlearn.layers import S5
from dynlearn.models import IOShape
from dynlearn.models.convlstm import ConvLSTM, ConvLSTMConfig
from dynlearn.models.convs5 import ConvS5, ConvS5Config, ConvS5SSM

FAMILIES = [ConvS5, ConvLSTM]


@pytest.fixture(autouse=True)
def one_thread():
    """Small convolutions gain nothing from a thread team on a shared machine (and lose a lot)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
GRID = IOShape((1, 6, 5), (2, 6, 5))  # odd sizes: the encoder's padding and cropping take part


def tiny(family, io=GRID, **options):
    """A small model of `family` with one pooling level (depths 4 → 8)."""
    base = dict(depths=(4, 8), d_model=8, n_layers=2, seed=0) | options
    if family is ConvS5:
        return ConvS5(io, ConvS5Config(ssm_size=8, **base))
    return ConvLSTM(io, ConvLSTMConfig(**base))


def data(generator, T=8, io=GRID, batch=2, dtype=torch.float32):
    x = torch.randn(batch, T, *io.state, generator=generator, dtype=dtype)
    u = torch.rand(batch, T, *io.forcing, generator=generator, dtype=dtype)
    return x, u


def with_frame(state, frame):
    """`state` with its frame (the last C·pixels numbers) replaced by `frame` (B, C, *s)."""
    return torch.cat([state[:, :-frame[0].numel()], frame.flatten(1)], 1)


# -- the SSM core --------------------------------------------------------------------------------

def test_zoh_is_the_closed_form_and_the_exact_one_step_solution(float64, generator):
    core = ConvS5SSM(2, 8, 1, 3, 3, None, 1e-3, 1e-1, "zeros", generator)
    with torch.no_grad():
        core.lambda_re[1] = 0.3  # clipped to −1e-4
    with torch.no_grad():
        lam_bar, b_bar = core.discretize()
        lam = torch.complex(core.lambda_re.clamp(max=-1e-4), core.lambda_im)
        dt, b = core.log_dt.exp(), torch.view_as_complex(core.B)
    torch.testing.assert_close(lam_bar, torch.exp(lam * dt), rtol=1e-15, atol=0)
    torch.testing.assert_close(b_bar, ((torch.exp(lam * dt) - 1) / lam)[:, None, None] * b, rtol=1e-14, atol=0)
    assert lam_bar[1].abs() > math.exp(-1e-4 * dt[1].item()) - 1e-12  # the clipped mode barely decays
    # x' = λx + b̃ (a unit input on each kernel entry) from x(0) = 0 for one step Δ: x(Δ) = B̄.
    # expm of [[λΔ, Δ], [0, 0]] holds ∫₀^Δ e^{λs} ds top right (scipy's expm: torch.linalg.matrix_exp
    # loses 8 digits on some of these 2×2 matrices).
    phi = [scipy.linalg.expm(np.array([[complex(z), float(h)], [0, 0]]))[0, 1] for z, h in zip(lam * dt, dt)]
    torch.testing.assert_close(b_bar, torch.tensor(phi)[:, None, None] * b, rtol=1e-12, atol=0)
    n, x = 400, torch.zeros_like(b)  # RK4 over all modes at once; error ~ (|λ|Δ / n)^4 |λ|Δ
    lam_, h = lam[:, None, None], (dt / n)[:, None, None]
    f = lambda x: lam_ * x + b  # noqa: E731
    for _ in range(n):
        k1 = f(x)
        k2 = f(x + h / 2 * k1)
        k3 = f(x + h / 2 * k2)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + f(x + h * k3))
    torch.testing.assert_close(b_bar, x, rtol=1e-10, atol=0)


def test_one_by_one_kernels_are_s5_at_every_pixel(float64, generator):
    H, P = 3, 4
    core = ConvS5SSM(H, 2 * P, 2, 1, 1, 1, 1e-3, 1e-1, "zeros", generator)
    s5 = S5(H, P, generator=generator).double()
    with torch.no_grad():  # S5's parameters into the conv layer; S5's diagonal D as a 1×1 conv
        s5.lambda_re.copy_(core.lambda_re)
        s5.lambda_im.copy_(core.lambda_im)
        s5.log_dt.copy_(core.log_dt)
        s5.B.copy_(core.B[:, :, 0, 0])
        s5.C.copy_(core.C[:, :, 0, 0])
        core.D.weight.copy_(torch.diag(s5.D)[:, :, None, None])
        core.D.bias.zero_()
    u = torch.randn(2, 7, H, 4, 5, generator=generator)
    y, last = core(u)
    pixels = u.permute(0, 3, 4, 1, 2).reshape(-1, 7, H)  # (B·pixels, T, H)
    y_s5, last_s5 = s5(pixels)
    torch.testing.assert_close(y.permute(0, 3, 4, 1, 2).reshape(-1, 7, H), y_s5, rtol=1e-12, atol=1e-12)
    last = torch.complex(last[:, :P], last[:, P:]).permute(0, 2, 3, 1).reshape(-1, P)
    torch.testing.assert_close(last, last_s5, rtol=1e-12, atol=1e-12)


# -- the frame model (both families) -------------------------------------------------------------

@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("family", FAMILIES)
def test_parallel_mode_is_the_recurrence(family, dtype, tol, generator):
    """initial_state (parallel over 19 frames) = 19 recurrent steps on the same frames; the
    parallel loss = the loss of the recurrent predictions."""
    model = tiny(family).to(dtype)
    x, u = data(generator, T=20, dtype=dtype)
    state = model.initial_state(x[:, :1], u[:, :1])
    predictions = []
    for k in range(19):
        state = model.step(with_frame(state, x[:, k]), u[:, k + 1])
        predictions.append(model.observe(state))
    torch.testing.assert_close(with_frame(state, x[:, -1]), model.initial_state(x, u), rtol=tol, atol=tol)
    error = torch.stack(predictions, 1) - x[:, 1:]
    expected = 0.5 * error.square().mean() + 0.5 * error.abs().mean()
    torch.testing.assert_close(model.loss({"x": x, "u": u})["loss"], expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("family", FAMILIES)
def test_rollout_is_repeated_step_and_observe(family, generator):
    model = tiny(family)
    x, u = data(generator, T=10)
    x[:, :, 0, 1, 2] = math.nan
    out = model.rollout(x[:, :4], 6, u)
    state = model.initial_state(x[:, :4], u[:, :4])
    for t in range(6):
        state = model.step(state, u[:, 4 + t])
        assert torch.equal(out[:, t].nan_to_num(7.0), model.observe(state).nan_to_num(7.0))
    assert torch.isnan(out[:, :, 0, 1, 2]).all() and torch.isfinite(out).sum() == out.numel() - 2 * 6


@pytest.mark.parametrize("family", FAMILIES)
def test_off_mask_cells_change_neither_loss_gradients_nor_outputs(family, generator):
    """Off-mask cells as NaN or as ±inf: the same loss and gradients bit for bit, the same
    forecasts on the mask, NaN off it."""
    model = tiny(family, free_run_steps=2)
    x, u = data(generator, T=8)
    off = torch.zeros(GRID.state, dtype=torch.bool)
    off[0, 0, :2] = off[0, 5, 4] = True
    results = []
    for fill in (math.nan, math.inf, -math.inf):
        xm = x.masked_fill(off, fill)
        model.zero_grad()
        loss = model.loss({"x": xm, "u": u})["loss"]
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        results.append((loss.detach(), grads, model.rollout(xm[:, :5], 3, u[:, :8])))
    (loss0, grads0, out0) = results[0]
    assert torch.isfinite(loss0) and all(torch.isfinite(g).all() for g in grads0)
    assert torch.isnan(out0[..., off]).all() and torch.isfinite(out0[..., ~off]).all()
    for loss, grads, out in results[1:]:
        assert torch.equal(loss, loss0) and all(torch.equal(g, g0) for g, g0 in zip(grads, grads0))
        assert torch.equal(out[..., ~off], out0[..., ~off])


def test_loss_counts_only_finite_target_cells(generator):
    model = tiny(ConvS5)
    x, u = data(generator, T=6)
    x[:, 3, 0, 2, 2] = math.nan  # one missing value in one frame: no target there, a 0 input
    filled = x.nan_to_num(0.0)
    pred = torch.cat([model.observe(model.step(with_frame(model.initial_state(filled[:, :k + 1], u[:, :k + 1]),
                                                          filled[:, k]), u[:, k + 1]))[:, None] for k in range(5)], 1)
    valid = torch.isfinite(x[:, 1:])
    error = (pred - x[:, 1:])[valid]
    expected = 0.5 * error.square().mean() + 0.5 * error.abs().mean()
    torch.testing.assert_close(model.loss({"x": x, "u": u})["loss"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_input_noise_perturbs_the_frames_read_in_training_only(family, generator):
    """Training: the next-frame loss of frames + σ·ε read (ε the next draws of torch's generator)
    against clean targets, by the step API; evaluation mode: exactly the noiseless loss."""
    noisy, clean = tiny(family, input_noise=0.1), tiny(family)
    x, u = data(generator, T=5)
    noisy.eval()
    assert torch.equal(noisy.loss({"x": x, "u": u})["loss"], clean.loss({"x": x, "u": u})["loss"])
    noisy.train()
    torch.manual_seed(5)
    loss = noisy.loss({"x": x, "u": u})["loss"]
    torch.manual_seed(5)
    read = x[:, :4] + 0.1 * torch.randn_like(x[:, :4])
    pred = torch.cat([clean.observe(clean.step(with_frame(clean.initial_state(read[:, :k + 1], u[:, :k + 1]),
                                                          read[:, k]), u[:, k + 1]))[:, None] for k in range(4)], 1)
    error = pred - x[:, 1:]
    torch.testing.assert_close(loss, 0.5 * error.square().mean() + 0.5 * error.abs().mean(), rtol=1e-5, atol=1e-6)
    assert not torch.isclose(loss, clean.loss({"x": x, "u": u})["loss"])


@pytest.mark.parametrize("family", FAMILIES)
def test_free_run_loss_continues_with_the_models_own_forecast(family, float64, generator):
    """With n free-run steps the last n + 1 predictions are the rollout from the first T − n − 1 frames."""
    n, T = 3, 8
    model = tiny(family, free_run_steps=n)
    x, u = data(generator, T=T, dtype=torch.float64)
    head = T - 1 - n
    state = model.initial_state(x[:, :1], u[:, :1])
    predictions = []
    for k in range(head - 1):  # teacher-forced predictions of frames 1..head−1
        state = model.step(with_frame(state, x[:, k]), u[:, k + 1])
        predictions.append(model.observe(state))
    free = model.rollout(x[:, :head], n + 1, u)  # frames head..T−1
    error = torch.cat([torch.stack(predictions, 1), free], 1) - x[:, 1:]
    expected = 0.5 * error.square().mean() + 0.5 * error.abs().mean()
    torch.testing.assert_close(model.loss({"x": x, "u": u})["loss"], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_step_tangent_is_the_derivative(family, float64, generator):
    """torch.func.jvp of `step` (the Lyapunov code's tangent map) against central differences."""
    io = IOShape((1, 12), (0, 12))
    model = tiny(family, io=io, padding="circular")
    x, _ = data(generator, T=4, io=io, dtype=torch.float64)
    state = model.initial_state(x)
    v = torch.randn(state.shape, generator=generator)
    _, jv = torch.func.jvp(model.step, (state,), (v,))
    eps = 1e-6
    fd = (model.step(state + eps * v) - model.step(state - eps * v)) / (2 * eps)
    torch.testing.assert_close(jv, fd, rtol=1e-6, atol=1e-6 * jv.abs().max().item())


@pytest.mark.parametrize("family", FAMILIES)
def test_initialization_is_seeded_and_leaves_the_global_rng_alone(family):
    before = torch.random.get_rng_state()
    a, b, c = tiny(family), tiny(family), tiny(family, seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_bad_options_and_shapes_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="ConvS5: ssm_size must be even"):
        ConvS5Config(ssm_size=7)
    with pytest.raises(ConfigError, match="ConvLSTM: kernel_size must be odd"):
        ConvLSTMConfig(kernel_size=2)
    with pytest.raises(ConfigError, match="ConvS5 reads 1-D or 2-D fields"):
        ConvS5(3)


# -- learning ------------------------------------------------------------------------------------

def advection_windows(generator, n, X=32, T=4):
    """Smooth random periodic fields (5 Fourier modes, amplitude 1/k), unit variance, moved one
    cell per step: x_{k+1} = roll(x_k, 1). (n, T, 1, X)."""
    k = torch.arange(1, 6, dtype=torch.float32)
    a, b = torch.randn(2, n, 5, 1, generator=generator) / k[:, None]
    grid = 2 * math.pi * torch.arange(X) / X
    u0 = (a * torch.cos(k[:, None] * grid) + b * torch.sin(k[:, None] * grid)).sum(1)
    u0 = u0 / u0.std(-1, keepdim=True)
    return torch.stack([u0.roll(t, -1) for t in range(T)], 1)[:, :, None]


def advection_error(model, steps=300, lr=0.02) -> float:
    """Trains `model` on advection windows with Adam (cosine lr) and returns the one-step
    relative L2 error of its first forecast on fresh fields."""
    g = torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 20)
    for _ in range(steps):
        loss = model.loss({"x": advection_windows(g, 8)})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    x = advection_windows(torch.Generator().manual_seed(99), 64)
    with torch.no_grad():
        forecast = model.rollout(x[:, :1], 1)[:, 0]
    return ((forecast - x[:, 1]).norm() / x[:, 1].norm()).item()


def test_convs5_learns_a_one_cell_advection():
    io = IOShape((1, 32), (0, 32))
    model = ConvS5(io, ConvS5Config(depths=(8,), d_model=8, ssm_size=8, n_layers=1, padding="circular"))
    assert advection_error(model) < 0.05
