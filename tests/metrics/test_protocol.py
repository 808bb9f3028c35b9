"""Evaluation protocol v2 checked on models whose answers are known in closed form.

The judge (`dynlearn.train._scoring.Judge`) is what both model selection and `evaluate` use;
here it scores hand-made maps wrapped as models: the true Lorenz flow map (must score at the
floor and never be flagged), a Lorenz map with ρ 10 % off (must score clearly above it),
linear maps with known eigenvalues (λ_max = ln|μ|/dt, VPT in closed form), and three ways to
collapse: decay to a fixed point, a slow spiral decay and a stable period-3 cycle.
"""

import math

import numpy as np
import pytest
import torch

from dynlearn.data._cases import EvalCases
from dynlearn.metrics import d_h, vpt
from dynlearn.metrics._protocol import (
    COLLAPSED,
    DIVERGED,
    OK,
    TruthStats,
    free_run_status,
    pooled_d_stsp,
    shortest_period,
    stsp_bins,
)
from dynlearn.models._base import AbstractModel
from dynlearn.solvers import make_step, make_step_jacobian, rollout
from dynlearn.systems import make_system
from dynlearn.train._scoring import Judge, model_lyapunov

DT = 0.01
LORENZ_LAMBDA1 = 0.9056  # Sprott (2003); the catalogue's value
K, N, TRANSIENT = 10, 3000, 500


class MapModel(AbstractModel):
    """A fixed map x -> step(x) on observed states, wrapped as a model (no parameters to learn)."""

    def __init__(self, step, jacobian=None, offset: float = 0.0, skip: int = 0):
        super().__init__()
        self._step, self._jacobian, self.offset, self.skip = step, jacobian, offset, skip
        self.anchor = torch.nn.Parameter(torch.zeros((), dtype=torch.float64), requires_grad=False)  # the dtype

    def loss(self, batch):
        raise NotImplementedError("a fixed map is not trained")

    def initial_state(self, context, u=None):
        state = context[:, -1].clone()
        state[:, 0] += self.offset  # a mis-read initial condition, for the VPT test
        for _ in range(self.skip):  # start further along the orbit: a run independent of the truth
            state = self._step(state)
        return state

    def step(self, state, u=None):
        return self._step(state)

    def observe(self, state):
        return state

    def jacobian(self, state):
        return self._jacobian(state)

    @property
    def has_jacobian(self):
        return self._jacobian is not None


def standardized_lorenz(rho: float = 28.0):
    """The RK4 map of Lorenz-63 (parameter ρ) acting on states standardized by the ρ=28 attractor."""
    system = make_system("lorenz63", rho=rho) if rho != 28.0 else make_system("lorenz63")
    step, jac = make_step(system, DT), make_step_jacobian(system, DT)
    mean = torch.tensor([0.0, 0.0, 23.5], dtype=torch.float64)
    std = torch.tensor([7.9, 9.0, 8.6], dtype=torch.float64)
    return (lambda z: (step(z * std + mean) - mean) / std,
            lambda z: jac(z * std + mean) * std[None, None, :] / std[None, :, None])


@pytest.fixture(scope="module")
def lorenz_cases():
    """Test and floor cases: 2·K standardized true Lorenz runs of N + 1 steps from random ICs."""
    step, _ = standardized_lorenz()
    x0 = torch.randn(2 * K, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        runs = rollout(step, x0, N + 1, n_transient=2000).numpy()
    test = EvalCases(runs[:K, :1], runs[:K, 1:], tuple((k, 0) for k in range(K)), "test")
    floor = runs[K:, 1:]
    return test, floor


def judge_for(cases, lyap_reference=LORENZ_LAMBDA1, **options):
    truth = TruthStats.of(cases.truths, chaotic=lyap_reference is not None and lyap_reference > 0,
                          lyap_reference=lyap_reference)
    return Judge(cases, DT, truth, n_bins=stsp_bins(3), transient=TRANSIENT, lyap_steps=2000,
                 lyap_transient=200, **options)


def test_the_true_flow_map_scores_at_the_floor_and_is_never_flagged(lorenz_cases):
    cases, floor = lorenz_cases
    floor_stsp, floor_dh = pooled_d_stsp(cases.truths, floor, n_bins=30), d_h(cases.truths, floor)
    # From the true initial conditions the true map retraces the truth: at most the floor.
    exact = judge_for(cases).score(MapModel(*standardized_lorenz()))
    assert exact.status == (OK,) * K
    assert exact.d_stsp < floor_stsp and exact.d_h < floor_dh
    # Started N steps further along each orbit, its runs are independent of the truth, as the
    # floor's are, with the same number and length: the two are draws of the same statistic.
    independent = judge_for(cases).score(MapModel(*standardized_lorenz(), skip=N))
    assert independent.status == (OK,) * K
    assert 0.5 * floor_stsp < independent.d_stsp < 2.0 * floor_stsp
    assert 0.25 * floor_dh < independent.d_h < 4.0 * floor_dh
    np.testing.assert_allclose(np.median(independent.lyap), LORENZ_LAMBDA1, rtol=0.15)


def test_a_lorenz_map_with_rho_ten_percent_off_scores_well_above_the_floor(lorenz_cases):
    cases, floor = lorenz_cases
    score = judge_for(cases).score(MapModel(*standardized_lorenz(rho=31.0)))
    assert score.status == (OK,) * K  # still chaotic: a worse model, not a failed one
    assert score.d_stsp > 3 * pooled_d_stsp(cases.truths, floor, n_bins=30)


@pytest.mark.parametrize("dt", [0.01, 0.1])
def test_a_linear_map_has_lambda_max_ln_mu_over_dt(dt):
    mu = torch.tensor([1.02, 0.5, -0.9], dtype=torch.float64)
    model = MapModel(lambda x: x * mu, jacobian=lambda x: torch.diag_embed(mu.expand_as(x)))
    context = torch.randn(4, 1, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lyap = model_lyapunov(model, context, n_steps=300, n_transient=200, dt=dt)
    np.testing.assert_allclose(lyap, math.log(1.02) / dt, rtol=1e-9)


def test_the_vpt_of_a_perturbed_linear_map_is_ln_threshold_over_delta_lyapunov_times():
    """Truth x_t = μ^t x0, forecast from x0 + δ e1 in 2-D: the normalized RMSE δ μ^t / √2 crosses
    0.5 after ⌈ln(0.5√2/δ) / ln μ⌉ steps, i.e. ln(0.5√2/δ) Lyapunov times (up to one step),
    whatever μ and dt."""
    mu, delta, dt = 1.05, 1e-4, 0.02
    mus = torch.tensor([mu, 0.9], dtype=torch.float64)
    truth_map = MapModel(lambda x: x * mus, jacobian=lambda x: torch.diag_embed(mus.expand_as(x)))
    forecast_map = MapModel(truth_map._step, jacobian=truth_map._jacobian, offset=delta)
    context = torch.tensor([[[0.0, 1.0]]], dtype=torch.float64)
    truth = truth_map.rollout(context, 400).numpy()
    forecast = forecast_map.rollout(context, 400).numpy()
    lam = float(model_lyapunov(forecast_map, context, n_steps=100, n_transient=300, dt=dt)[0])
    result = vpt(forecast, truth, dt=dt, lyapunov_time=1 / lam, std=np.ones(2))
    crossing = 0.5 * math.sqrt(2)
    steps = math.ceil(math.log(crossing / delta) / math.log(mu))  # first t with δ μ^t >= 0.5√2
    assert result.steps[0] == steps - 1  # forecast[0] is step 1
    assert result.lyapunov_times[0] == pytest.approx((steps - 1) * math.log(mu), rel=1e-9)
    assert abs(result.lyapunov_times[0] - math.log(crossing / delta)) <= math.log(mu)


def _spiral(radius_factor: float, angle: float):
    """A map rotating (x, y) by `angle` and scaling it by `radius_factor`; z is copied."""
    c, s = math.cos(angle), math.sin(angle)
    rotation = radius_factor * torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    rotation[2, 2] = 1.0
    return lambda x: x @ rotation.T, lambda x: rotation.expand(x.shape[0], 3, 3)


def _period_three_cycle():
    """Rotation by 120° with the radius pulled halfway towards 1: every orbit lands on a cycle of
    period 3 (in z, a contraction to 0.5)."""

    def step(x):
        r = torch.linalg.vector_norm(x[:, :2], dim=1, keepdim=True).clamp_min(1e-12)
        c, s = math.cos(2 * math.pi / 3), math.sin(2 * math.pi / 3)
        xy = torch.stack([c * x[:, 0] - s * x[:, 1], s * x[:, 0] + c * x[:, 1]], dim=1)
        xy = xy * (1 + 0.5 * (1 - r)) / r * 1.0
        return torch.cat([xy, 0.5 + 0.5 * (x[:, 2:] - 0.5)], dim=1)

    jacobian = torch.func.vmap(torch.func.jacrev(lambda v: step(v[None])[0]))
    return step, jacobian


@pytest.mark.parametrize("name, maker", [
    ("decay to a fixed point", lambda: _spiral(0.99, 0.3)),
    ("slow spiral decay", lambda: _spiral(0.99995, 0.3)),
    ("stable period-3 cycle", _period_three_cycle),
])
def test_models_that_stop_being_chaotic_are_collapsed_on_every_ic(lorenz_cases, name, maker):
    cases, _ = lorenz_cases
    score = judge_for(cases).score(MapModel(*maker()))
    assert score.status == (COLLAPSED,) * K, name
    assert score.n_collapsed == K and score.n_diverged == 0
    assert score.key()[0] == K  # selection ranks it below any model with fewer failed runs


def test_each_collapse_rule_fires_on_its_own():
    truth = TruthStats(low=-np.ones(2), high=np.ones(2), std=np.ones(2), chaotic=True, lyap_reference=1.0)
    t = np.arange(3000)[:, None]
    chaotic_like = np.random.default_rng(0).normal(size=(3000, 2))
    assert free_run_status(chaotic_like, truth) == OK
    assert free_run_status(chaotic_like * 0.05, truth) == COLLAPSED  # std < 10 % in every dim
    assert free_run_status(np.hstack([chaotic_like[:, :1] * 0.05, chaotic_like[:, 1:]]), truth) == OK
    cycle = np.cos(2 * np.pi * t / 7) * np.ones((1, 2))
    assert shortest_period(cycle[-2000:], truth.std) == 7
    assert free_run_status(cycle, truth) == COLLAPSED  # period 7 <= 100 steps
    slow = np.cos(2 * np.pi * t / 101.5) * np.ones((1, 2))
    assert shortest_period(slow, truth.std) is None and free_run_status(slow, truth) == OK
    assert free_run_status(chaotic_like, truth, lyap_max=0.04) == COLLAPSED  # <= 5 % of λ1
    assert free_run_status(chaotic_like, truth, lyap_max=0.06) == OK
    # Not chaotic (e.g. a limit-cycle system): only divergence is judged.
    periodic_truth = TruthStats(truth.low, truth.high, truth.std, chaotic=False)
    assert free_run_status(cycle, periodic_truth) == OK


def test_divergence_is_non_finite_or_ten_widths_outside_the_data_range():
    truth = TruthStats(low=np.zeros(2), high=np.ones(2), std=np.ones(2), chaotic=True, lyap_reference=1.0)
    run = np.random.default_rng(1).uniform(size=(3000, 2))
    assert free_run_status(run, truth) == OK
    for value, expected in [(math.nan, DIVERGED), (math.inf, DIVERGED), (11.01, DIVERGED), (-10.01, DIVERGED),
                            (10.99, OK)]:
        bad = run.copy()
        bad[10, 1] = value
        assert free_run_status(bad, truth) == expected, value


def test_stsp_bins_keep_30_cubed_cells_then_switch_to_the_mixture():
    assert [stsp_bins(d) for d in range(1, 8)] == [30, 30, 30, 12, 7, None, None]
    assert 12 ** 4 <= 30 ** 3 < 13 ** 4 and 7 ** 5 <= 30 ** 3 < 8 ** 5


def test_pooled_d_stsp_is_the_kl_of_the_pooled_histograms():
    """Two runs each, hand-counted on a 2-bin grid: p = (3/4, 1/4), q = (1/4, 3/4) after pooling."""
    truths = np.array([[[0.0], [0.0]], [[0.0], [1.0]]])
    generated = np.array([[[1.0], [1.0]], [[0.0], [1.0]]])
    got = pooled_d_stsp(truths, generated, n_bins=2)
    expected = 0.75 * math.log(0.75 / 0.25) + 0.25 * math.log(0.25 / 0.75)
    assert got == pytest.approx(expected, rel=1e-3)


class TrappedLorenz(MapModel):
    """The true Lorenz map, except from starts with x above `trap`: those decay to a fixed point.
    Two coexisting attractors whose basins are set by the start, as in a badly trained model."""

    def __init__(self, trap: float):
        super().__init__(standardized_lorenz()[0])
        self.trap = trap

    def initial_state(self, context, u=None):
        x = context[:, -1]
        return torch.cat([x, (x[:, :1] > self.trap).to(x.dtype)], dim=1)

    def step(self, state, u=None):
        x, trapped = state[:, :3], state[:, 3:]
        return torch.cat([torch.where(trapped > 0, 0.9 * x, self._step(x)), trapped], dim=1)

    def observe(self, state):
        return state[:, :3]


def test_inner_contexts_are_the_truth_at_evenly_spaced_times(lorenz_cases):
    cases, _ = lorenz_cases
    inner = cases.inner_contexts(3)
    assert inner.shape == (3 * K, 1, 3)
    for j, end in enumerate((N // 4, N // 2, 3 * N // 4)):
        np.testing.assert_array_equal(inner[j * K:(j + 1) * K, 0], cases.truths[:, end - 1])
    assert cases.inner_contexts(0) is None


def test_probes_count_a_coexisting_attractor_that_the_case_starts_miss(lorenz_cases):
    cases, _ = lorenz_cases
    probes = cases.inner_contexts(3)
    trap = float(cases.contexts[:, -1, 0].max())  # no case starts in the trap ...
    n_trapped = int((probes[:, -1, 0] > trap).sum())
    assert n_trapped >= 1  # ... but some probes do (a property of these fixed cases)
    model = TrappedLorenz(trap)
    plain = judge_for(cases).score(model)
    assert plain.status == (OK,) * K and plain.n_collapsed == 0
    probed = judge_for(cases, probes=probes, probe_steps=2000).score(model)
    assert probed.probe_status.count(COLLAPSED) == n_trapped == probed.n_collapsed
    assert probed.key()[0] == n_trapped and probed.d_stsp == plain.d_stsp  # D_stsp: the cases' runs only


def test_a_stochastic_model_is_judged_the_same_way_twice_and_the_callers_rng_is_untouched(lorenz_cases):
    cases, _ = lorenz_cases
    model = MapModel(lambda x: 0.9 * x + 0.3 * torch.randn_like(x))  # an AR(1) process
    judge = judge_for(cases)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, second = judge.score(model), judge.score(model)
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(first.generated, second.generated)
    other = judge_for(cases, seed=1).score(model)
    assert not np.array_equal(first.generated, other.generated)  # the noise does come from the judge's seed
