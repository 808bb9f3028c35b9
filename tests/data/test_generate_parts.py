"""One store written by parts side by side equals the store one process writes, bit for bit,
also when a part is killed between its chunk and its counter and run again."""

import numpy as np
import pytest
import zarr

from dynlearn import DataError
from dynlearn.data import (
    GenerationSpec,
    finish_parts,
    generate_part,
    generate_store,
    prepare_parts,
    validate,
)
from dynlearn.data._generate_parts import PARTS, part_slices
from dynlearn.systems import make_system

SPEC = GenerationSpec(n_train=5, n_val=2, n_test=3, n_floor=3, n_steps=600, chunk_steps=200, transient_time=2.0,
                      observation_noise=0.05, seed=4)


def _same(a, b):
    a, b = validate(a), validate(b)
    for name in a.variables:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    assert {k for k in a.attrs if a.attrs[k] != b.attrs.get(k)} <= {"created"}  # the time, to the second


def test_slices_are_whole_trajectory_chunks():
    assert part_slices(13, 4, 3) == [slice(0, 4), slice(4, 12), slice(12, 13)]
    assert part_slices(3, 1, 5) == [slice(0, 1), slice(1, 2), slice(2, 3)]  # never more parts than chunks


@pytest.mark.parametrize("name", ["lorenz63", "ks", "stochastic_lorenz63"])
def test_parts_write_the_store_one_process_writes(tmp_path, name):
    system = make_system(name)
    one = generate_store(tmp_path / "one.zarr", system, SPEC, config_hash="h")
    parts = tmp_path / "parts.zarr"
    slices = prepare_parts(parts, system, SPEC, config_hash="h", parts=3)
    with pytest.raises(DataError, match=r"parts \[0, 1, 2\] of .* are not finished; rerun them"):
        finish_parts(parts, system, SPEC)
    for part in reversed(range(len(slices))):  # any order
        generate_part(parts, system, SPEC, part=part, parts=3)
    finish_parts(parts, system, SPEC)
    _same(parts, one)
    assert prepare_parts(parts, system, SPEC, config_hash="h", parts=3) == []  # complete: nothing to do


def test_a_part_killed_between_its_chunk_and_its_counter_redoes_that_chunk(tmp_path, monkeypatch):
    system = make_system("lorenz63")
    one = generate_store(tmp_path / "one.zarr", system, SPEC, config_hash="h")
    parts = tmp_path / "parts.zarr"
    prepare_parts(parts, system, SPEC, config_hash="h", parts=2)
    original = zarr.Array.__setitem__

    class Killed(Exception):
        pass

    def dying(self, key, value):
        if self.path == PARTS:  # the chunk and its state are written; the counter would be next
            raise Killed()
        original(self, key, value)

    monkeypatch.setattr(zarr.Array, "__setitem__", dying)
    with pytest.raises(Killed):
        generate_part(parts, system, SPEC, part=1, parts=2)
    monkeypatch.undo()
    assert zarr.open_group(str(parts), mode="r")[PARTS][:].tolist() == [1, 1]
    with pytest.raises(DataError, match="was started with 2 parts; resume it with that many"):
        prepare_parts(parts, system, SPEC, config_hash="h", parts=3)
    for part in range(2):
        generate_part(parts, system, SPEC, part=part, parts=2)
    finish_parts(parts, system, SPEC)
    _same(parts, one)
