"""Field families in the judges: λ_max of a learned field map by Jacobian-vector products against
a closed form, free runs in the store's shapes, and the field judge's relative L2 by hand."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from dynlearn.data import EvalCases
from dynlearn.models import AbstractModel
from dynlearn.train import FieldJudge, free_run
from dynlearn.train._scoring import model_lyapunov


class CirculantField(AbstractModel):
    """u_{t+1} = c ⊛ u_t on a periodic 1-D grid (one channel): a field map whose Lyapunov exponents
    are log|ĉ_k| / dt, ĉ the kernel's DFT, with no closed-form `jacobian`, only a smooth step."""

    layout = "field"
    kinds = ("field1d",)
    differentiable_step = True

    @dataclasses.dataclass
    class Config:
        pass

    def __init__(self, kernel: torch.Tensor) -> None:
        super().__init__()
        self.kernel = torch.nn.Parameter(kernel)

    def loss(self, batch):
        raise NotImplementedError

    def initial_state(self, context, u=None):
        return context[:, -1]  # (B, 1, X)

    def step(self, state, u=None):
        spectrum = torch.fft.rfft(self.kernel.to(state.dtype))
        return torch.fft.irfft(torch.fft.rfft(state) * spectrum, n=state.shape[-1])

    def observe(self, state):
        return state


def test_lambda_max_of_a_field_map_by_jvp_is_the_log_of_its_largest_multiplier():
    # Multipliers 0.6 + 0.6 cos(2πk/8): the largest (1.2, k = 0) is simple and 17 % above the next.
    kernel = torch.tensor([0.6, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3])
    model = CirculantField(kernel)
    assert not model.has_jacobian and model.has_lyapunov
    dt = 0.5
    expected = math.log(np.abs(np.fft.fft(kernel.numpy().astype(np.float64))).max()) / dt
    context = torch.randn(3, 2, 8, generator=torch.Generator().manual_seed(0))  # (K, C, X): no channel axis
    lyap = model_lyapunov(model, context, 150, 90, dt)
    np.testing.assert_allclose(lyap, expected, rtol=1e-5)
    assert next(model.parameters()).dtype == torch.float32  # restored after the float64 estimate


def test_free_run_of_a_field_family_is_in_the_cases_shape_and_is_the_map_repeated():
    model = CirculantField(torch.tensor([0.0, 1.0, 0.0, 0.0]))  # a shift by one cell
    context = torch.arange(8.0).reshape(2, 1, 4)
    run = free_run(model, context, 5)
    assert run.shape == (2, 5, 4)
    for t in range(5):
        torch.testing.assert_close(run[:, t], torch.roll(context[:, 0], t + 1, dims=-1), atol=1e-5, rtol=0)


def test_the_field_judge_scores_relative_l2_of_the_whole_forecast_and_counts_failures_first():
    rng = np.random.default_rng(0)
    contexts = rng.normal(size=(3, 1, 6))
    truths = rng.normal(size=(3, 4, 6))
    judge = FieldJudge(EvalCases(contexts, truths, ((0, 0), (1, 0), (2, 0)), "val"))
    model = CirculantField(torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0])).double()
    score = judge.score(model)
    forecast = np.stack([np.roll(contexts[:, 0], t + 1, axis=-1) for t in range(4)], axis=1)
    by_case = [np.linalg.norm(forecast[k] - truths[k]) / np.linalg.norm(truths[k]) for k in range(3)]
    assert score.rel_l2 == pytest.approx(np.mean(by_case), rel=1e-12) and score.n_failed == 0
    assert score.row() == {"val_rel_l2": score.rel_l2, "val_failed": 0}
    exploding = CirculantField(torch.tensor([1e200, 0.0, 0.0, 0.0, 0.0, 0.0])).double()
    failed = judge.score(exploding)
    assert failed.n_failed == 3 and math.isnan(failed.rel_l2)
    assert score.key() < failed.key()
