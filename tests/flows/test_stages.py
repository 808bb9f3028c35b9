"""The flow of every stage on the embedded Prefect server: what each writes and publishes."""

import json

import numpy as np
import pytest

from tests.flows.support import FAST, read_artifact
from tests.helpers import TINY_DATA


def test_generate_fans_out_over_slices_of_initial_conditions_into_one_store(prefect_server, workdir):
    """Parts in parallel processes write the store one process writes, bit for bit."""
    import dynlearn
    from flows.generate import generate

    overrides = [*TINY_DATA, "data.n_steps=1200", "data.seed=5", "data.observation_noise=0.05"]
    store = generate(overrides=overrides, parts=3)
    assert store.endswith("data/lorenz63.zarr")
    single = dynlearn.load_settings([*overrides, "paths.data=single"], check_model=False)
    fanned, alone = dynlearn.validate(store), dynlearn.validate(dynlearn.generate(single, progress=False))
    for name in fanned.variables:
        np.testing.assert_array_equal(fanned[name].values, alone[name].values)
    assert fanned.attrs["norm_mean"] == alone.attrs["norm_mean"] and fanned.attrs["norm_std"] == alone.attrs["norm_std"]
    assert fanned.attrs["noise_scale"] == alone.attrs["noise_scale"]


def test_train_then_evaluate_then_evaluate_again_then_forecast(prefect_server, workdir):
    """train leaves a trained run; evaluate completes it; another protocol goes to eval-<time>/;
    forecast writes a forecast store into the run directory."""
    from prefect.client.orchestration import get_client

    import dynlearn
    from flows.evaluate import evaluate
    from flows.forecast import forecast
    from flows.train import train

    run_dir = workdir / train(overrides=[*FAST, "name=stages"])
    assert run_dir.parent == workdir / "runs" / "stages"
    assert json.loads((run_dir / "status.json").read_text())["state"] == "trained"
    assert not (run_dir / "metrics.json").exists()

    protocol = [o for o in FAST if o.startswith("eval.")]
    first = evaluate(overrides=[f"run={run_dir}", *protocol])
    assert first["evaluation"] == str(run_dir)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
    assert sorted(p.name for p in run_dir.glob("*.png")) == ["attractor.png", "power_spectra.png"]
    with get_client(sync_client=True) as client:
        artifact = read_artifact(client, first["artifact_id"])
    assert artifact["key"] == "metrics-stages"
    assert artifact["data"][0]["model"] == pytest.approx(first["metrics"]["d_stsp"], abs=1e-4)

    assert evaluate(overrides=[f"run={run_dir}", *protocol])["evaluation"] == str(run_dir)  # cached: same protocol
    again = evaluate(overrides=[f"run={run_dir}", *protocol, "eval.n_steps=400"])
    assert again["evaluation"].startswith(str(run_dir / "eval-"))
    assert json.loads((run_dir / "metrics.json").read_text()) == first["metrics"]  # the run's own, unchanged

    store = forecast(overrides=[f"run={run_dir}", "input=data/lorenz63.zarr", "forecast.lead=10",
                                "forecast.stride=200", "forecast.progress=false"])
    assert store.startswith(str(run_dir / "forecast-")) and store.endswith("forecast.zarr")
    skill = dynlearn.data.open_forecast(store)
    assert skill.sizes["lead"] == 10 and float(skill.rmse[0]) < float(skill.rmse[-1])  # errors grow with lead


def test_ingest_reads_a_file_into_a_store(prefect_server, workdir):
    import dynlearn
    from flows.ingest import ingest

    series = np.cumsum(np.random.default_rng(0).normal(size=(600, 2)), axis=0)
    np.save(workdir / "walk.npy", series)
    store = ingest(overrides=[f"source={workdir / 'walk.npy'}", "ingest.dt=0.1"])
    assert store == "data/walk.zarr"
    np.testing.assert_array_equal(dynlearn.open_store(store).state.values.reshape(series.shape), series)
