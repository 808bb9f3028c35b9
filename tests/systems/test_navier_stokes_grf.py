"""The "grf" initial vorticity has the law of FNO's GaussianRF, and its stores are versioned.

FNO (Li et al. 2021, data_generation/navier_stokes/random_fields.py, the generator of the
published data) is transcribed below from its formula, independently of dynlearn's filter of
white noise: complex coefficients n²√2 σ(4π²|m|² + τ²)^(−α/2)(ξ + iη), ξ, η ~ N(0, 1) each, on
the full fftn grid (m = 0 … n/2 − 1, −n/2 … −1 per axis), the m = 0 mode zeroed, ω = Re ifftn.

Closed forms used by the tests, with P_k = 2σ²(|k|² + τ²)^(−α), k = 2πm on [0, 1]²: each mode has
E|fft2(ω)_k|²/n⁴ = P_k (k ≠ 0), so the pointwise variance is Σ_k P_k. The spatial mean square
s = Σ_k |fft2(ω)_k|²/n⁴ of one draw has variance 2 Σ_k P_k² (|ω̂_k|² is exponential for a pair
±k, and a self-conjugate mode's is χ²₁), which sets the sampling error of every check; the same
holds for any set of modes closed under k -> −k (a shell |m| ≈ const).
"""

import math

import numpy as np
import pytest
import torch

from dynlearn.systems._navier_stokes import NavierStokes2D

N, DRAWS = 32, 2000
ALPHA, TAU = 2.5, 7.0
SIGMA = TAU ** (0.5 * (2 * ALPHA - 2))  # FNO's default σ for dim = 2: 7^1.5


def _modes(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.cat((torch.arange(0, n // 2), torch.arange(-n // 2, 0))).to(torch.float64)
    return m[:, None], m[None, :]  # (n, 1), (1, n)


def _fno_gaussian_rf(n: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """FNO's GaussianRF(2, n, alpha=2.5, tau=7).sample(count), transcribed: (count, n, n)."""
    my, mx = _modes(n)
    sqrt_eig = n**2 * math.sqrt(2.0) * SIGMA * (4 * math.pi**2 * (mx**2 + my**2) + TAU**2) ** (-ALPHA / 2)
    sqrt_eig[0, 0] = 0.0
    xi = torch.randn(count, n, n, 2, generator=generator, dtype=torch.float64)
    coefficients = sqrt_eig * torch.complex(xi[..., 0], xi[..., 1])
    return torch.fft.ifftn(coefficients, dim=(-2, -1)).real


def _mode_variance(n: int) -> torch.Tensor:
    """P_k = E|fft2(ω)_k|²/n⁴ on the full grid, (n, n), P_0 = 0."""
    my, mx = _modes(n)
    p = 2 * SIGMA**2 * (4 * math.pi**2 * (mx**2 + my**2) + TAU**2) ** -ALPHA
    p[0, 0] = 0.0
    return p


def _shells(n: int) -> torch.Tensor:
    my, mx = _modes(n)
    return torch.round(torch.sqrt(mx**2 + my**2)).long()  # (n, n), closed under k -> −k


@pytest.fixture(scope="module")
def draws() -> dict[str, torch.Tensor]:
    ours = NavierStokes2D.fno(1e-3, N).sample_initial_conditions(DRAWS, torch.Generator().manual_seed(11))
    fno = _fno_gaussian_rf(N, DRAWS, torch.Generator().manual_seed(12))
    return {"ours": ours, "fno": fno}


def test_pointwise_variance_matches_fno_and_the_closed_form(draws):
    """Var ω(x) = Σ_k P_k for both samplers, within 4 standard errors (≈ 3 %); half (v1) is far out."""
    p = _mode_variance(N)
    expected = p.sum().item()
    standard_error = math.sqrt(2 * p.pow(2).sum().item() / DRAWS)
    assert standard_error < 0.02 * expected  # the check resolves a few per cent
    means = {name: w.pow(2).mean().item() for name, w in draws.items()}
    for name, mean in means.items():
        assert abs(mean - expected) < 4 * standard_error, (name, mean, expected)
    assert abs(means["ours"] - means["fno"]) < 4 * math.sqrt(2) * standard_error
    assert abs(0.5 * expected - means["ours"]) > 40 * standard_error  # the v1 sampler would fail


def test_spectrum_matches_fno_shell_by_shell(draws):
    """E Σ_{k in shell} |fft2(ω)_k|²/n⁴ = Σ_{shell} P_k for every shell, within 5 standard errors."""
    p, shells = _mode_variance(N), _shells(N)
    n_shells = int(shells.max()) + 1
    expected = torch.zeros(n_shells, dtype=torch.float64).index_add_(0, shells.flatten(), p.flatten())
    variance = torch.zeros(n_shells, dtype=torch.float64).index_add_(0, shells.flatten(), 2 * p.flatten() ** 2)
    standard_error = (variance / DRAWS).sqrt()
    measured = {}
    for name, w in draws.items():
        power = torch.fft.fft2(w).abs().pow(2).mean(0) / N**4  # (n, n)
        measured[name] = torch.zeros(n_shells, dtype=torch.float64).index_add_(
            0, shells.flatten(), power.flatten())
        assert measured[name][0] < 1e-25  # zero mean field, k = 0 carries nothing
        z = (measured[name][1:] - expected[1:]) / standard_error[1:]
        assert z.abs().max() < 5, (name, z)
    z = (measured["ours"][1:] - measured["fno"][1:]) / (math.sqrt(2) * standard_error[1:])
    assert z.abs().max() < 5, z


def test_grf_draws_are_reproducible_and_zero_mean():
    system = NavierStokes2D.fno(1e-3, 16)
    w = system.sample_initial_conditions(8, torch.Generator().manual_seed(3))
    again = system.sample_initial_conditions(8, torch.Generator().manual_seed(3))
    assert torch.equal(w, again) and w.shape == (8, 16, 16)
    assert w.mean((-2, -1)).abs().max() < 1e-14


def test_stores_of_the_v1_sampler_are_not_reused(tmp_path, monkeypatch):
    """The data hash covers the sampler version: a store made under the v1 description
    (no "sampler_version") is refused, not reused, by the same generation config now."""
    from dynlearn._errors import DataError
    from dynlearn._settings import build_settings
    from dynlearn.cli import load_config
    from dynlearn.data import generate_store
    from tests.helpers import REPO

    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    tiny = ["system=ns_fno", "system.params.n=8", "data.n_steps=2", "data.chunk_steps=2",
            "data.transient_time=0", "data.n_train=1", "data.n_val=0", "data.n_test=0", "data.n_floor=0"]
    settings = build_settings(load_config(tiny), check_model=False)
    assert settings.system.to_dict()["sampler_version"] == 2
    current = settings.data_hash

    v2_to_dict = NavierStokes2D.to_dict
    with monkeypatch.context() as patch:  # the description as sampler v1 wrote it
        patch.setattr(NavierStokes2D, "to_dict",
                      lambda self: {k: v for k, v in v2_to_dict(self).items() if k != "sampler_version"})
        old = settings.data_hash
    assert old != current

    path = tmp_path / "ns_fno.zarr"
    generate_store(path, settings.system, settings.data, config_hash=old, dt=settings.dt)
    assert generate_store(path, settings.system, settings.data, config_hash=old, dt=settings.dt) == path
    with pytest.raises(DataError, match="generated from a different config"):
        generate_store(path, settings.system, settings.data, config_hash=current, dt=settings.dt)


def test_closed_form_variance_of_the_mean_square():
    """The 2 Σ P_k² formula for Var s, checked on FNO's sampler itself (small n, many draws)."""
    n, count = 8, 4000
    w = _fno_gaussian_rf(n, count, torch.Generator().manual_seed(5))
    s = w.pow(2).mean((-2, -1))  # (count,)
    p = _mode_variance(n)
    predicted = 2 * p.pow(2).sum().item()
    # s is a sum of a few χ²-like terms: the sample variance of 4000 draws is good to ~5 %.
    assert abs(s.var().item() / predicted - 1) < 0.15
    assert np.isclose(s.mean().item(), p.sum().item(), rtol=0.05)
