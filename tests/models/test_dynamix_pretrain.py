"""DynaMix pretraining end to end at debug size: the corpus (labels, held-out systems, per-sequence
standardization, the sampling rule), `train +exp=dynamix_pretrain debug=fast`, and zero-shot
forecasts and evaluation through the CLI, with one-line refusals."""

import json

import numpy as np
import pytest

from dynlearn import ConfigError, open_store
from dynlearn._compose import load_settings
from dynlearn._workflow import generate
from dynlearn.data import HELD_OUT, CorpusSpec, corpus_labels, sampling
from dynlearn.systems import load_catalog
from tests.helpers import run_cli

DEBUG = ["+exp=dynamix_pretrain", "debug=fast"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("pretrain")


@pytest.fixture(scope="module")
def corpus(workdir):
    settings = load_settings([*DEBUG, f"paths.data={workdir / 'data'}"], check_model=False)
    return generate(settings, progress=False)


@pytest.fixture(scope="module")
def pretrained(workdir, corpus):
    done = run_cli(["train", *DEBUG, f"paths.data={workdir / 'data'}", f"paths.runs={workdir / 'runs'}"], cwd=workdir)
    assert done.returncode == 0, done.stderr
    return next((workdir / "runs" / "dynamix_pretrain-debug").iterdir())


def test_every_sequence_is_labelled_with_its_system_and_none_is_held_out(corpus):
    ds = open_store(corpus)
    labels = corpus_labels(ds)
    assert set(labels) == {"thomas", "dadras"} and not set(labels) & set(HELD_OUT)
    assert (labels == "thomas").sum() == (labels == "dadras").sum() == 2 * 3  # draws x per_draw
    catalog = load_catalog()
    for name, about in ds.attrs["corpus_systems"].items():
        nominal = catalog[name].params
        assert about["draws"][0] == dict(nominal)  # the published parameters, then draws near them
        for draw in about["draws"][1:]:
            ratios = [draw[k] / v for k, v in nominal.items()]
            assert all(0.5 < r < 2 for r in ratios) and any(r != 1 for r in ratios)
    for k in range(ds.sizes["traj"]):  # each draw index points at a parameter set of its own system
        assert int(ds["draw"].values[k]) < len(ds.attrs["corpus_systems"][labels[k]]["draws"])


def test_each_sequence_is_standardized_by_its_own_statistics(corpus):
    x = open_store(corpus)["state"].values.astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=1), 1, atol=1e-5)


def test_a_held_out_system_cannot_enter_the_corpus():
    with pytest.raises(ConfigError, match="held-out lorenz63"):
        CorpusSpec(systems=("thomas", "lorenz63"))
    defaults = CorpusSpec().system_names()
    assert len(defaults) == 11 and not set(defaults) & set(HELD_OUT)
    configured = load_settings(["+exp=dynamix_pretrain"], check_model=False).corpus.systems
    assert sorted(defaults) == sorted(configured)  # conf/data/corpus.yaml lists the default set


def test_the_sampling_rule_stores_about_100_steps_per_mean_period():
    # Lorenz-63's spectral centroid is ~105 steps at dt 0.01: stored as simulated. Rössler's is ~410
    # steps: every 4th step is kept.
    lorenz, rossler = sampling("lorenz63"), sampling("rossler")
    assert (lorenz.save_every, lorenz.dt_simulated) == (1, 0.01) and 95 < lorenz.mean_period_steps < 115
    assert rossler.save_every == 4 and 380 < rossler.mean_period_steps < 440


def test_a_debug_pretraining_runs_end_to_end_and_its_checkpoint_loads_with_weights_only(pretrained):
    import torch

    state = torch.load(pretrained / "checkpoints" / "best.pt", weights_only=True)
    assert any(k.startswith("gate.") for k in state)
    metrics = json.loads((pretrained / "metrics.json").read_text())
    assert metrics["n_ics"] >= 1 and np.isfinite(metrics["d_stsp"])


def test_a_zero_shot_forecast_of_a_csv_series_through_the_cli(pretrained, workdir):
    t = np.arange(600) * 0.05
    series = np.stack([np.sin(t), np.cos(1.7 * t)], -1)  # two channels into a 3-channel model: delay-filled
    lines = ["a,b"] + [f"{a:.17g},{b:.17g}" for a, b in series]
    (workdir / "series.csv").write_text("\n".join(lines) + "\n")
    done = run_cli(["forecast", f"run={pretrained}", "context=series.csv", "n_steps=80", "output=out/f.csv"], cwd=workdir)
    assert done.returncode == 0, done.stderr
    table = np.loadtxt(workdir / "out" / "f.csv", delimiter=",", skiprows=1)
    assert table.shape == (80, 2) and np.isfinite(table).all()


def test_more_channels_than_the_model_reads_need_channels_independent(pretrained, workdir):
    from dynlearn import DataError
    from dynlearn._context_forecast import forecast_context

    wide = np.random.default_rng(0).standard_normal((300, 5)).cumsum(0)
    with pytest.raises(DataError, match="forecast.channels=independent") as refused:
        forecast_context(pretrained, wide[None], 30)
    assert "\n" not in str(refused.value)
    np.save(workdir / "wide.npy", wide)
    done = run_cli(["forecast", f"run={pretrained}", "context=wide.npy", "n_steps=30", "output=wide_out.npy",
                    "forecast.channels=independent"], cwd=workdir)
    assert done.returncode == 0, done.stderr
    out = np.load(workdir / "wide_out.npy")
    assert out.shape == (30, 5) and np.isfinite(out).all()


def test_a_context_with_nan_is_one_line_exit_2_and_writes_nothing(pretrained, workdir):
    x = np.random.default_rng(1).standard_normal((300, 3)).cumsum(0)
    x[100, 1] = np.nan
    np.save(workdir / "nan.npy", x)
    done = run_cli(["forecast", f"run={pretrained}", "context=nan.npy", "n_steps=10", "output=nan_out.npy"], cwd=workdir)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "NaN" in done.stderr
    assert not (workdir / "nan_out.npy").exists()


def test_a_context_too_short_or_of_another_rank_is_refused(pretrained, workdir):
    # (The CLI turns these DataErrors into one line and exit 2, as for NaN above.)
    from dynlearn import DataError
    from dynlearn._context_forecast import forecast_context, read_context

    with pytest.raises(DataError, match="at least"):
        forecast_context(pretrained, np.ones((1, 5, 3)) * np.arange(5)[None, :, None], 10)
    np.save(workdir / "rank4.npy", np.zeros((2, 2, 2, 2)))
    with pytest.raises(DataError, match=r"give \(T,\), \(T, D\) or \(B, T, D\)"):
        read_context(workdir / "rank4.npy")


def test_a_store_context_is_every_test_trajectory_of_it(corpus):
    from dynlearn._context_forecast import read_context
    from dynlearn.data import split_indices

    ds = open_store(corpus)
    contexts = read_context(corpus)
    test = split_indices(ds, "test")
    assert contexts.shape == (len(test), 700, 3)
    np.testing.assert_array_equal(contexts, ds["state"].values[test])
