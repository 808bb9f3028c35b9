"""Φ-ROM on the paper's Navier–Stokes setting through the CLI: `train +exp=ns_decaying debug=fast`
trains and is judged by the field protocol, `forecast` writes what the kept model's own rollout
gives from each init (latent inversion of the init's field, the latent ODE, decoding), and the
ns_decaying initial fields have JAX-CFD's filtered-velocity law."""

import math

import numpy as np
import pytest
import torch

import dynlearn
from dynlearn.cli import main
from dynlearn.data import open_forecast
from dynlearn.systems import make_system
from tests.helpers import REPO


def test_phirom_trains_is_judged_and_forecasts_its_own_rollout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    assert main(["train", "+exp=ns_decaying", "debug=fast", "paths.data=data"]) == 0
    (run_dir,) = (tmp_path / "runs").glob("*/*")
    run = dynlearn.load_run(run_dir)
    assert run.meta["model_name"] == "phirom" and run.meta["model_options"]["system"]["name"] == "navier_stokes_2d"
    store = tmp_path / "data" / "ns_decaying-debug.zarr"
    assert main(["forecast", f"run={run_dir}", f"input={store}", "forecast.lead=3", "forecast.stride=5"]) == 0
    (path,) = run_dir.glob("forecast-*/forecast.zarr")
    out = open_forecast(path)
    ds = dynlearn.open_store(store)
    mean, std = float(np.ravel(run.meta["norm_mean"])[0]), float(np.ravel(run.meta["norm_std"])[0])
    for i in (0, len(out.init) - 1):
        j, t0 = int(out.init_traj[i]), int(out.init_step[i])
        field = torch.from_numpy((ds.vorticity.values[j, t0] - mean) / std).float()[None, None, None]
        with torch.no_grad():
            expected = run.model.rollout(field, 3)[0, :, 0].double().numpy() * std + mean
        # batched and alone, the float32 inversion settles on latents a rounding apart
        np.testing.assert_allclose(out.forecast.values[i, 0], expected, rtol=0, atol=1e-3 * std)


def _jax_cfd_spectrum_fractions(n: int, length: float, draws: int, rng: np.random.Generator) -> np.ndarray:
    """An independent transcription of JAX-CFD's `filtered_velocity_field` law (numpy, full fft2):
    each velocity component white noise times the log-normal density of |k| (mode 3, log variance
    0.25) over |k|; the vorticity's power per mode, as a fraction of each draw's total, averaged."""
    k1 = 2 * np.pi * np.fft.fftfreq(n, d=length / n)
    kx, ky = np.meshgrid(k1, k1)
    k = np.hypot(kx, ky)
    safe = np.where(k > 0, k, 1.0)
    mean = np.log(3.0) + 0.25
    density = np.where(k > 0, np.exp(-(mean - np.log(safe)) ** 2 / 2 / 0.25 - np.log(safe)) / safe, 0.0)
    fractions = np.zeros((n, n))
    for _ in range(draws):
        u_hat, v_hat = (np.fft.fft2(rng.standard_normal((n, n))) * density for _ in range(2))
        w_hat = 1j * kx * v_hat - 1j * ky * u_hat
        power = np.abs(w_hat) ** 2
        fractions += power / power.sum()
    return fractions / draws, k


def test_decaying_turbulence_starts_have_jax_cfds_filtered_velocity_law(rng):
    ns = make_system("navier_stokes_2d", n=32, L=math.pi, nu=1e-2, forcing="none",
                     initial_condition="filtered_velocity", dt=0.01)
    w = ns.sample_initial_conditions(2000, torch.Generator().manual_seed(0))
    speed = ns.velocity(w).pow(2).sum(-3).sqrt().amax(dim=(-2, -1))
    torch.testing.assert_close(speed, torch.ones(2000, dtype=torch.float64), rtol=0, atol=1e-12)  # peak speed 1
    power = np.abs(np.fft.fft2(w.numpy())) ** 2
    measured = (power / power.sum(axis=(-2, -1), keepdims=True)).mean(0)
    expected, k = _jax_cfd_spectrum_fractions(32, math.pi, 2000, rng)
    shells = np.round(k / 2)  # k0 = 2 on [0, π]
    # each draw's shares scatter widely (a few modes hold most of the energy): 2,000 draws each
    for s in range(1, 7):  # 99.9 % of the enstrophy (velocity peaks at |k| ≈ 3, vorticity above)
        inside = shells == s
        assert measured[inside].sum() == pytest.approx(expected[inside].sum(), rel=0.05 if s <= 4 else 0.1), s
