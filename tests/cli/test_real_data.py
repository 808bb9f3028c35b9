"""Real-like data end to end: a noisy, partially observed chaotic system as a measurement would
give it, ingested, trained with `+exp=real` and evaluated on its test period, all through
`python -m dynlearn`; stores the protocol cannot evaluate refused before any run directory; and
(slow) Lorenz x alone, delay-embedded, trained until its free runs have Lorenz's λ1 and spectrum.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from dynlearn._settings import sized_model_options
from dynlearn.cli import main
from dynlearn.data import split_indices, validate
from dynlearn.solvers import make_step, rollout
from dynlearn.systems import make_system
from tests.helpers import REPO, TINY_TRAIN, run_cli, tree

DT = 0.01
LORENZ_LAMBDA1 = 0.9056
SPLIT = "ingest.split=[0.6,0.2,0.2]"
# Two test cases of 1,000 steps (10 time units, 9 Lyapunov times): enough for Rosenstein to see
# the chaos through 5 % noise (500 steps are not).
EVAL = ["eval.n_steps=1000", "eval.n_ics=2"]
TRAIN = [o for o in TINY_TRAIN if not o.startswith("model.latent_dim")]  # sized by the data here


def lorenz(steps: int, dt: float = DT) -> np.ndarray:
    """(steps, 3) of Lorenz-63 on its attractor, by the project's own simulator."""
    step = make_step(make_system("lorenz63"), dt)
    with torch.no_grad():
        states = rollout(step, torch.tensor([[1.0, 1.0, 20.0]], dtype=torch.float64), steps, n_transient=1000)
    return states[0].numpy()


@pytest.fixture(scope="module")
def measured():
    """x and z of Lorenz-63 (y unobserved), 12,000 steps, each with Gaussian noise of 5 % of its std."""
    xz = lorenz(12_000)[:, [0, 2]]
    return xz + 0.05 * xz.std(axis=0) * np.random.default_rng(3).normal(size=xz.shape)


@pytest.fixture
def workdir(tmp_path, monkeypatch, measured):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    np.save(tmp_path / "xz.npy", measured)
    pd.DataFrame({"time": np.arange(len(measured)) * DT, "x": measured[:, 0], "z": measured[:, 1]}).to_csv(
        tmp_path / "xz.csv", index=False)
    return tmp_path


@pytest.mark.parametrize("source, options, embedding", [
    ("xz.npy", [f"ingest.dt={DT}"], None),
    ("xz.csv", ["ingest.kind=ode"], [2, 8]),
])
def test_measured_series_ingested_trained_and_evaluated_on_its_test_period(workdir, source, options, embedding):
    assert main(["ingest", f"source={source}", SPLIT, *options]) == 0  # in process: one interpreter start less
    store = workdir / "data" / "xz.zarr"
    ds = validate(store)
    assert ds.attrs["kind"] == "series" and ds.attrs["dt"] == pytest.approx(DT)
    assert list(np.bincount(ds["split"].values)) == [7200, 2400, 2400]  # contiguous periods in order
    assert (np.diff(ds["split"].values) >= 0).all()

    overrides = ["+exp=real", "data.path=data/xz.zarr", *TRAIN, *EVAL]
    if embedding:
        overrides.append(f"data.delay_embedding=[{embedding[0]},{embedding[1]}]")
    trained = run_cli(["train", *overrides], workdir)
    assert trained.returncode == 0, trained.stderr
    (run_dir,) = (workdir / "runs" / "xz").iterdir()  # named after the store
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    meta = json.loads((run_dir / "checkpoints" / "best.json").read_text())

    evaluated = validate(metrics["test_data"]["store"])
    m = embedding[0] if embedding else 1
    assert meta["obs_dim"] == 2 * m and meta["model_options"]["latent_dim"] == 50  # sized by the data dimension
    if embedding:
        assert metrics["test_data"]["store"].endswith("xz-delay2x8.zarr")
        assert meta["delay_embedding"] | {"source_store": None} == {
            "m": 2, "tau": 8, "chosen": "given", "source_store": None, "source_hash": ds.attrs["config_hash"]}
        assert evaluated.attrs["state_names"] == ["x(t-8)", "z(t-8)", "x", "z"]
    else:
        assert metrics["test_data"]["store"] == str(store.resolve()) and meta["delay_embedding"] is None

    assert metrics["protocol_version"] == 2
    test_steps = split_indices(evaluated, "test")
    n, context = metrics["n_steps"], metrics["test_data"]["context"]
    assert metrics["n_ics"] == 2 and n == 1000
    for trajectory, start in metrics["test_data"]["cases"]:  # cases inside the single test period
        assert trajectory == -1 and test_steps[0] <= start and start + context + n <= test_steps[-1] + 1
    assert metrics["floor_split"] == "val" and metrics["floor_n_ics"] == 2
    assert metrics["lyap_max_reference_kind"].startswith("Rosenstein on 2 true case(s)")
    assert 0.4 < metrics["lyap_max_reference"] < 1.2  # Lorenz's 0.91, biased low by the noise
    assert metrics["vpt_unit"] == "lyapunov_times"
    assert metrics["lyapunov_time"] == pytest.approx(1 / metrics["lyap_max_reference"])
    assert metrics["dh_cutoff"] == 0.5 and np.isfinite(metrics["d_h_floor"])


def test_store_too_short_to_evaluate_is_refused_before_a_run_dir(workdir, measured, capsys):
    np.save(workdir / "short.npy", measured[:2000])  # a 300-step test period: under 1 + 500
    assert main(["ingest", "source=short.npy", f"ingest.dt={DT}"]) == 0
    # 3,600 steps give a 540-step test period, which an embedding [3, 20] shortens by 40 to 500.
    np.save(workdir / "embedded.npy", measured[:3600])
    assert main(["ingest", "source=embedded.npy", f"ingest.dt={DT}"]) == 0
    before = tree(workdir)
    capsys.readouterr()
    for overrides in (["data.path=data/short.zarr"], ["data.path=data/embedded.zarr", "data.delay_embedding=[3,20]"]):
        code = main(["train", "+exp=real", *overrides, *TRAIN])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert "test split has" in err and "evaluation needs at least 501" in err, err
    assert tree(workdir) == before  # no runs/, no embedded store


@pytest.mark.parametrize("value", ["[1,5]", "[3]", "[3,0]", "[3,2.5]", "often"])
def test_bad_delay_embedding_is_one_line_exit_2(value, workdir, capsys):
    before = tree(workdir)
    assert main(["train", f"data.delay_embedding={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.delay_embedding must be null, auto or [m,tau]" in err, err
    assert tree(workdir) == before


@pytest.mark.parametrize("dim, latent", [(1, 50), (3, 50), (5, 50), (6, 60), (12, 100), (40, 100), (80, 160)])
def test_latent_dim_null_is_sized_by_the_data_dimension(dim, latent):
    assert sized_model_options({"latent_dim": None, "n_pwl": 20}, dim) == {"latent_dim": latent, "n_pwl": 20}
    assert sized_model_options({"latent_dim": 7}, dim) == {"latent_dim": 7}  # a given size stays


@pytest.mark.slow
def test_lorenz_x_alone_delay_embedded_has_lorenz_lyapunov_exponent_and_spectrum(tmp_path, monkeypatch):
    """x of Lorenz-63 only, sampled at dt 0.02 for 1,000 time units; `auto` embeds it in 3 delays
    10 steps (0.2 time units) apart; `+exp=real` as configured (300 epochs, ~4 min on one core).

    The model's λ_max, from its own Jacobians along its free runs, must be Lorenz's λ1 within 20 %;
    its pooled D_H within twice the true-vs-true floor (val vs test period). (Sampled at dt 0.01,
    the same settings settled on periodic orbits; see conf/exp/real.yaml.)
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    step = make_step(make_system("lorenz63"), DT)
    with torch.no_grad():
        x = rollout(step, torch.tensor([[1.0, 1.0, 20.0]], dtype=torch.float64), 100_000, n_transient=1000,
                    save_every=2)[0, :, :1].numpy()  # (50000, 1)
    np.save(tmp_path / "x.npy", x)
    assert main(["ingest", "source=x.npy", f"ingest.dt={2 * DT}"]) == 0
    trained = run_cli(["train", "+exp=real", "data.path=data/x.zarr", "data.delay_embedding=auto",
                       "threads=1", "trainer.progress=false"], tmp_path, timeout=1200)
    assert trained.returncode == 0, trained.stderr
    (run_dir,) = (tmp_path / "runs" / "x").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    embedding = json.loads((run_dir / "checkpoints" / "best.json").read_text())["delay_embedding"]
    print({k: metrics[k] for k in ("lyap_max", "d_h", "d_h_floor", "d_stsp", "d_stsp_floor", "n_collapsed")},
          embedding)
    assert embedding["chosen"] == "auto" and embedding["m"] == 3 and 9 <= embedding["tau"] <= 11
    assert metrics["n_collapsed"] == metrics["n_diverged"] == 0
    assert abs(metrics["lyap_max"] - LORENZ_LAMBDA1) <= 0.2 * LORENZ_LAMBDA1
    assert metrics["d_h"] <= 2 * metrics["d_h_floor"]
