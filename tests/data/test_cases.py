"""Evaluation cases and their floor partners, on stores whose split is known by hand.

An ensemble gives one case per test trajectory (context = its first state) and a floor from
the floor split (or, without one, the validation split); a single series gives consecutive
chunks of its test period and the same number of equally long chunks of its validation period.
"""

import numpy as np
import pytest

from dynlearn._errors import DataError
from dynlearn.cli import main
from dynlearn.data import GenerationSpec, generate_store, validate
from dynlearn.data._cases import MIN_CASE_STEPS, evaluation_cases, floor_cases
from dynlearn.systems import make_system
from tests.helpers import REPO


def _store(tmp_path, name, **spec):
    options = dict(n_train=1, n_val=2, n_test=3, n_floor=3, n_steps=700, chunk_steps=350, transient_time=1.0)
    options.update(spec)
    return validate(generate_store(tmp_path / f"{name}.zarr", make_system("lorenz63"), GenerationSpec(**options),
                                   config_hash=name))


def test_an_ensemble_gives_one_case_per_test_trajectory_and_its_floor_split(tmp_path):
    ds = _store(tmp_path, "with_floor")
    assert list(ds["split"].values) == [0, 1, 1, 2, 2, 2, 3, 3, 3]
    test = evaluation_cases(ds, "test", n_cases=10, n_steps=10_000)
    assert test.origins == ((3, 0), (4, 0), (5, 0)) and test.n_steps == 699
    np.testing.assert_array_equal(test.contexts, ds["state"].values[3:6, :1])
    np.testing.assert_array_equal(test.truths, ds["state"].values[3:6, 1:])
    floor = floor_cases(ds, test)
    assert floor.split == "floor" and floor.origins == ((6, 0), (7, 0), (8, 0)) and floor.n_steps == 699
    fewer = evaluation_cases(ds, "test", n_cases=2, n_steps=600)
    assert fewer.origins == ((3, 0), (4, 0)) and fewer.truths.shape == (2, 600, 3)
    assert floor_cases(ds, fewer).origins == ((6, 0), (7, 0))


def test_without_a_floor_split_the_validation_trajectories_pair_with_the_first_test_cases(tmp_path):
    ds = _store(tmp_path, "no_floor", n_floor=0)
    test = evaluation_cases(ds, "test", n_cases=10, n_steps=10_000)
    floor = floor_cases(ds, test)
    # Two validation trajectories for three test cases: evaluate pairs test[:2] with them.
    assert floor.split == "val" and floor.origins == ((1, 0), (2, 0)) and floor.n_steps == test.n_steps


def test_a_store_too_short_for_a_case_is_refused_naming_the_minimum(tmp_path):
    ds = _store(tmp_path, "short", n_steps=400, chunk_steps=200)
    with pytest.raises(DataError, match=f"at least {1 + MIN_CASE_STEPS}"):
        evaluation_cases(ds, "test", n_cases=10, n_steps=10_000)


def test_a_series_gives_consecutive_chunks_of_its_test_period_and_as_many_of_val(tmp_path, monkeypatch):
    """8,000 steps split 0.5 / 0.25 / 0.25: val [4000, 6000), test [6000, 8000). Each case is a
    1-step context and its truth, 2000 // 3 = 666 steps in all (3 chunks of at least 501 fit)."""
    monkeypatch.setenv("DYNLEARN_CONF", str(REPO / "conf"))
    series = np.cumsum(np.random.default_rng(0).normal(size=(8000, 2)), axis=0)
    np.save(tmp_path / "walk.npy", series)
    assert main(["ingest", f"source={tmp_path / 'walk.npy'}", "ingest.dt=0.1", "ingest.split=[0.5,0.25,0.25]",
                 f"paths.data={tmp_path / 'data'}"]) == 0
    ds = validate(tmp_path / "data" / "walk.zarr")
    test = evaluation_cases(ds, "test", n_cases=10, n_steps=10_000)
    assert test.origins == ((-1, 6000), (-1, 6666), (-1, 7332)) and test.n_steps == 665
    for (_, start), context, truth in zip(test.origins, test.contexts, test.truths):
        np.testing.assert_array_equal(context, series[start:start + 1])
        np.testing.assert_array_equal(truth, series[start + 1:start + 666])
    floor = floor_cases(ds, test)
    assert floor.split == "val" and floor.origins == ((-1, 4000), (-1, 4666), (-1, 5332))
    assert floor.n_steps == 665
