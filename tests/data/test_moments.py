"""Block-by-block moments equal one pass over everything, masks and JSON round trips included."""

import json

import numpy as np

from dynlearn.data._moments import Moments


def test_blocks_of_any_size_give_the_one_pass_mean_and_std(rng):
    x = rng.normal(3.0, 2.0, size=(1000, 3)) * [1.0, 1e3, 1e-3]
    valid = rng.random(x.shape) > 0.2
    moments = Moments.empty(3)
    for a, b in [(0, 1), (1, 7), (7, 500), (500, 1000)]:
        # Through JSON between blocks, as a resumed generation carries them.
        moments = Moments.from_dict(json.loads(json.dumps(moments.to_dict())))
        moments = moments.add(x[a:b], valid[a:b])
    masked = np.where(valid, x, np.nan)
    np.testing.assert_allclose(moments.mean, np.nanmean(masked, axis=0), rtol=1e-13)
    np.testing.assert_allclose(moments.std, np.nanstd(masked, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(moments.count, valid.sum(axis=0))


def test_a_block_with_nothing_valid_changes_nothing(rng):
    moments = Moments.empty(2).add(rng.normal(size=(5, 2)))
    assert moments.add(np.full((3, 2), np.nan), np.zeros((3, 2), bool)) is moments
