"""Zero-shot forecasting with DynaMix: per-context standardization, the delay fill of missing
channels, inference mode with every parameter unchanged, and one-line refusals."""

import numpy as np
import pytest
import torch

from dynlearn import DataError
from dynlearn.models import DynaMix, DynaMixConfig
from dynlearn.models.dynamix import zero_shot_forecast
from dynlearn.models.dynamix._zero_shot import MIN_CONTEXT, delay_lag, fill_channels


@pytest.fixture
def model():
    return DynaMix(3, DynaMixConfig(n_experts=3, latent_dim=8, seed=1)).eval()


def lorenz_like(steps=300, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(steps) * 0.05
    return np.stack([np.sin(t), np.cos(1.3 * t), np.sin(0.7 * t) ** 2], -1)[None] + 0.01 * rng.standard_normal((1, steps, 3))


def test_a_forecast_is_affine_equivariant_in_the_contexts_units(model):
    # Each context is standardized by its own mean and std per channel: rescaling and shifting a
    # channel of the context rescales and shifts its forecast the same way (same gating noise).
    x = lorenz_like()
    scale, shift = np.array([3.0, 0.5, 20.0]), np.array([-4.0, 100.0, 7.0])
    base = zero_shot_forecast(model, x, 50, seed=3)
    moved = zero_shot_forecast(model, x * scale + shift, 50, seed=3)
    np.testing.assert_allclose((moved - shift) / scale, base, atol=1e-4)  # float32 rounding


def test_the_same_seed_gives_the_same_forecast_and_another_seed_another(model):
    x = lorenz_like()
    a, b, c = (zero_shot_forecast(model, x, 40, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_a_forecast_runs_in_inference_mode_and_changes_no_parameter(model, monkeypatch):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []
    rollout = model.rollout
    monkeypatch.setattr(model, "rollout", lambda *a, **k: (seen.append(torch.is_inference_mode_enabled()),
                                                           rollout(*a, **k))[1])
    out = zero_shot_forecast(model, lorenz_like(), 30)
    assert seen == [True] and out.shape == (1, 30, 3) and np.isfinite(out).all()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_delay_lag_of_a_sine_is_where_its_autocorrelation_falls_below_one_over_e():
    # The autocorrelation estimate of a long sine of period P is ~cos(2πk/P)(1 - k/n): below 1/e
    # from k = ceil(P·acos(1/e)/(2π)) (the taper moves it by at most one step at n = 100 P).
    period = 40
    x = np.sin(2 * np.pi * np.arange(100 * period) / period)
    expected = np.ceil(period * np.arccos(1 / np.e) / (2 * np.pi))
    assert expected - 1 <= delay_lag(x) <= expected


def test_missing_channels_are_delayed_copies_of_the_given_ones():
    t = np.arange(400)
    x = np.stack([np.sin(2 * np.pi * t / 40)], -1)[None]
    tau = delay_lag(x[0, :, 0])
    filled = fill_channels(x, 3)
    assert filled.shape == (1, 400 - 2 * tau, 3)
    np.testing.assert_array_equal(filled[0, :, 0], x[0, 2 * tau:, 0])
    np.testing.assert_array_equal(filled[0, :, 1], x[0, tau:400 - tau, 0])
    np.testing.assert_array_equal(filled[0, :, 2], x[0, :400 - 2 * tau, 0])


def test_a_series_of_fewer_channels_is_forecast_in_its_own_channels(model):
    for d in (1, 2):  # one channel: its delayed copies only; two: one delayed copy
        out = zero_shot_forecast(model, lorenz_like()[..., :d], 25)
        assert out.shape == (1, 25, d) and np.isfinite(out).all()


@pytest.mark.parametrize("bad, words", [
    ("nan", "NaN"),
    ("short", f"at least {MIN_CONTEXT}"),
    ("wide", "forecast.channels=independent"),
    ("flat", "constant"),
])
def test_a_context_the_model_cannot_read_is_refused_in_one_line(model, bad, words):
    x = lorenz_like()
    x = {"nan": np.where(np.arange(300)[None, :, None] == 7, np.nan, x), "short": x[:, :MIN_CONTEXT - 1],
         "wide": np.concatenate([x, x], -1), "flat": np.concatenate([x[..., :2], np.ones_like(x[..., :1])], -1)}[bad]
    with pytest.raises(DataError, match=words) as error:
        zero_shot_forecast(model, x, 10)
    assert "\n" not in str(error.value)
