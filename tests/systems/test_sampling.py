"""Parameter sampling near the catalogue values: batched parameters reproduce each system,
screening tells chaos from fixed points, cycles and escape (Lorenz-63's known bifurcations),
accepted draws are really chaotic (recomputed independently), draws are deterministic."""

import functools
import math

import pytest
import torch

from dynlearn._errors import ConfigError
from dynlearn.metrics import system_lyapunov_spectrum
from dynlearn.systems import list_ode_systems, make_system
from dynlearn.systems._sampling import sample_systems
from dynlearn.systems._screening import _batched_field, screen_systems

pytestmark = pytest.mark.usefixtures("float64")

# Lorenz-63 at σ = 10, β = 8/3: the fixed points C± are stable for
# ρ < ρ_H = σ(σ+β+3)/(σ−β−1) ≈ 24.74; the strange attractor exists for ρ > ≈ 24.06 (both
# coexist in between).
RHO_ATTRACTOR = 24.06
SCREEN = {"screen_time": 5.0, "screen_transient": 10.0}  # Lorenz-63: ~5 Lyapunov times
N_DRAWS, SEED = 4, 4  # seed 4's first draw is ρ = 17.3 (a case built to be rejected)


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # batched 3x3 QR gains nothing from threads
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("name", list_ode_systems())
def test_batched_parameters_reproduce_each_system(name, generator):
    """One vector field with a tensor per parameter = the systems evaluated one by one."""
    base = make_system(name, n=6) if name == "lorenz96" else make_system(name)
    real = [k for k, v in base.params.items() if not isinstance(v, int)]
    group = [
        make_system(name, **{**base.params, **{k: base.params[k] * (1 + 0.1 * i) for k in real}})
        for i in range(3)
    ]
    ics = 2
    field = _batched_field(group, ics, torch.randn(3 * ics, base.dim, generator=generator))
    assert field is not None  # every catalogue system screens in one batch
    x = 3 * torch.randn(3 * ics, base.dim, generator=generator)  # fresh states
    rows = x.view(3, ics, base.dim)
    for i, system in enumerate(group):
        batch = slice(i * ics, (i + 1) * ics)
        torch.testing.assert_close(field.rhs(0.0, x)[batch], system.rhs(0.0, rows[i]))
        torch.testing.assert_close(field.jacobian(x)[batch], system.jacobian(rows[i]))


def test_screening_follows_the_lorenz_bifurcations():
    """ρ = 10, 20: stable fixed points (λ1 < 0); 28, 40: chaos; 160: the periodic window
    145 < ρ < 166 (λ1 = 0); β = −0.5: z grows without bound (escape)."""
    rhos = [10.0, 20.0, 28.0, 40.0, 160.0]
    systems = [make_system("lorenz63", rho=r) for r in rhos] + [make_system("lorenz63", beta=-0.5)]
    screening = screen_systems(
        systems, torch.Generator().manual_seed(0), time=10.0, transient_time=10.0
    )
    assert screening.accepted.tolist() == [False, False, True, True, False, False]
    assert (screening.lambda1[:2] < 0).all() and screening.lambda1[4] < screening.threshold
    assert screening.peak[-1].item() == math.inf
    # The attractor grows with ρ, and the bound leaves room for that.
    assert screening.peak[2] < screening.peak[3] < screening.peak[4] < screening.bound


@functools.cache
def _rho_draws() -> tuple[list[float], list]:
    """ρ = 28·exp(0.3 z) only: the first round's draws, and the systems kept from them."""
    accepted = sample_systems(
        "lorenz63",
        N_DRAWS,
        torch.Generator().manual_seed(SEED),
        spread=0.3,
        vary=["rho"],
        **SCREEN,
    )
    # The first round draws 2n + 2 normals from the generator before anything else.
    z = torch.randn(2 * N_DRAWS + 2, 1, generator=torch.Generator().manual_seed(SEED))
    return (28.0 * torch.exp(0.3 * z.squeeze(1))).tolist(), accepted


def test_sampling_rejects_draws_below_the_chaotic_threshold():
    """About a third of the draws fall below ρ ≈ 24 (no strange attractor): all rejected."""
    drawn, accepted = _rho_draws()
    kept = [s.params["rho"] for s in accepted]
    assert len(accepted) == N_DRAWS and all(rho in drawn for rho in kept)
    low = [rho for rho in drawn[: drawn.index(kept[-1])] if rho < RHO_ATTRACTOR]
    assert low and not set(low) & set(kept)  # there were low draws, and none survived
    assert all(rho > RHO_ATTRACTOR for rho in kept)
    assert all(s.params["sigma"] == 10.0 and s.params["beta"] == 8 / 3 for s in accepted)


@pytest.mark.slow
def test_accepted_draws_are_chaotic_by_an_independent_estimate():
    """λ1 > 0.01 for each kept draw, through the scalar-parameter path (no batching)."""
    for system in _rho_draws()[1]:
        result = system_lyapunov_spectrum(
            system,
            8,
            50.0,
            generator=torch.Generator().manual_seed(11),
            transient_time=5.0,
            qr_every=5,
            n_exponents=1,
        )
        assert result.exponents[0].item() > max(0.01, 3 * result.stderr[0].item())


def test_sampling_is_deterministic_and_perturbs_every_real_parameter():
    def draw() -> list[dict]:
        generator = torch.Generator().manual_seed(5)
        systems = sample_systems("lorenz63", 2, generator, spread=0.05, **SCREEN)
        return [dict(s.params) for s in systems]

    first = draw()
    assert first == draw() and first[0] != first[1]
    nominal = make_system("lorenz63").params
    for params in first:
        ratios = [params[k] / nominal[k] for k in nominal]
        # lognormal at spread 0.05: every factor moved, and by much less than 5σ = 28 %
        assert all(r != 1.0 and abs(math.log(r)) < 0.25 for r in ratios)


def test_too_many_rejections_is_a_one_line_error():
    # ρ = 28·exp(3 z): most draws land below ρ ≈ 24 or beyond the bound (10x the attractor).
    with pytest.raises(ConfigError, match=r"^only \d of 4 draws of 'lorenz63' .* lower spread$"):
        sample_systems(
            "lorenz63",
            3,
            torch.Generator().manual_seed(0),
            spread=3.0,
            vary=["rho"],
            max_draws=4,
            **SCREEN,
        )


def test_a_screening_the_nominal_system_fails_is_a_config_error():
    # λ1 ≈ 0.9 < 5: the threshold, not the draw, is wrong, and the message says so.
    message = r"^the nominal lorenz63 fails its own screening .* set min_exponent below its λ1$"
    with pytest.raises(ConfigError, match=message):
        sample_systems(
            "lorenz63", 1, torch.Generator().manual_seed(0), min_exponent=5.0, **SCREEN
        )


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("lorenz_63", {}, r"unknown system 'lorenz_63'; did you mean 'lorenz63'\?"),
        ("lorenz63", {"spread": 0.0}, r"spread must be > 0, got 0.0; use e.g. spread=0.1"),
        ("lorenz63", {"spread": -0.1}, r"spread must be > 0, got -0.1"),
        ("lorenz63", {"spread": 1.5, "distribution": "uniform"}, r"and < 1 for uniform"),
        ("lorenz63", {"distribution": "normal"}, r"unknown distribution 'normal'"),
        ("lorenz96", {"vary": ["n"]}, r"cannot vary parameter 'n' .* integer \(fixed\)"),
        ("lorenz63", {"vary": ["r"]}, r"'r' of 'lorenz63': it does not exist; vary some of"),
    ],
)
def test_bad_inputs_are_one_line_config_errors(name, kwargs, message):
    with pytest.raises(ConfigError, match=message) as error:
        sample_systems(name, 2, torch.Generator().manual_seed(0), **kwargs)
    assert "\n" not in str(error.value)


def test_zero_draws_is_a_config_error():
    with pytest.raises(ConfigError, match="needs n >= 1, got 0"):
        sample_systems("lorenz63", 0, torch.Generator().manual_seed(0))
