"""Stores that concurrent jobs and damaged disks cannot break: one writer at a time (a lock), chunk
checksums, and a corrupt chunk named in one line."""

import subprocess
import sys
import threading
import time

import pytest
import zarr

from dynlearn import DataError
from dynlearn.cli import main
from dynlearn.data import validate, verify_chunks
from dynlearn.data._store import store_lock
from tests.helpers import TINY_DATA, cli_env


def _lines(process: subprocess.Popen) -> list[str]:
    """stderr lines of `process`, collected by a thread as they come."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()
    return lines


def test_two_jobs_generating_one_store_give_one_valid_store(workdir):
    store = workdir / "data" / "lorenz63.zarr"
    args = [sys.executable, "-m", "dynlearn", "generate", *TINY_DATA]
    with store_lock(store):  # both jobs start while the store is held: they must wait, not collide
        jobs = [subprocess.Popen(args, cwd=workdir, env=cli_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
        errs = [_lines(job) for job in jobs]
        deadline = time.monotonic() + 120
        while not all(any("waiting for another job" in line for line in err) for err in errs):
            assert time.monotonic() < deadline, errs
            time.sleep(0.1)
    for job in jobs:
        assert job.wait(timeout=300) == 0
    for err in errs:
        assert not any("Traceback" in line for line in err), err
    ds = validate(store)  # complete, schema and values
    assert ds["state"].shape == (15, 1200, 3)  # 2 + 1 + 2 + 10 floor trajectories
    assert sorted(p.name for p in (workdir / "data").iterdir()) == ["lorenz63", "lorenz63.zarr"]  # no lock left


def test_new_stores_carry_chunk_checksums(workdir):
    assert main(["generate", *TINY_DATA, "data.name=c"]) == 0
    array = zarr.open_group(str(workdir / "data" / "c.zarr"), mode="r")["state"]
    assert [type(c).__name__ for c in array.compressors] == ["ZstdCodec", "Crc32cCodec"]


def test_a_flipped_byte_is_named_in_one_line(workdir, capsys):
    assert main(["generate", *TINY_DATA, "data.name=bad"]) == 0
    store = workdir / "data" / "bad.zarr"
    chunk = store / "state" / "c" / "1" / "2" / "0"  # trajectories 4-7, steps 800-1199
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    chunk.write_bytes(bytes(raw))
    capsys.readouterr()

    with pytest.raises(DataError, match=r"chunk 1\.2\.0 of array 'state' cannot be read .*checksum"):
        verify_chunks(store)
    with pytest.raises(DataError, match=r"chunk 1\.2\.0 of array 'state'"):
        validate(store)  # reading the values for the NaN scan meets the chunk too
    assert main(["validate", f"store={store}", "deep=true"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.zarr: chunk 1.2.0 of array 'state'" in err, err
    assert main(["train", *TINY_DATA, "data.name=bad", "trainer.epochs=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "chunk 1.2.0" in err, err
    assert not (workdir / "runs").exists()
