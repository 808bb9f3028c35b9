"""Store write speed: dynlearn's chunked Zarr writer against `numpy.save` of the same array.

Generates one Lorenz-63 ensemble (`--n-traj` x `--n-steps` x 3, float64: the store always
holds float64) with `dynlearn.data.generate_store`, reads the array back, and then times
only the write path, `--repeats` times each, into fresh directories of one temporary folder
(one filesystem for both):

(a) ours, exactly as the generator writes (its own helpers, called in its order): the
    template store built by `create_store_atomically`, then per chunk of `chunk_steps` steps
    `ChunkWriter.write` (NaN check, running train statistics, the slab write, the resume state
    and the progress record), then `_finish` (`finalize_store` with the statistics from the
    progress record: drop the resume array, attrs, consolidated metadata) and the datasheet
    (`write_datasheet`, which reopens the finished store with xarray);
(b) ``numpy.save`` of the same array to a ``.npy`` file.

Rates are uncompressed MB/s (array nbytes / seconds, 1 MB = 1e6 bytes), best and median.
Neither path calls fsync: both measure writes into the page cache, as a generation job sees them.

Run from the repository root:
    .venv/bin/python bench/bench_zarr_write.py
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zarr

from dynlearn.data import GenerationSpec, generate_store
from dynlearn.data._datasheet import write_datasheet
from dynlearn.data._generate import Chunk, ChunkWriter, _create_template, _finish
from dynlearn.data._schema import LAYOUTS
from dynlearn.data._store import read_progress
from dynlearn.systems import make_system


def write_like_generator(path: Path, system, spec: GenerationSpec, data: np.ndarray) -> dict:
    """Write `data` (B, T, D) into a new store the way `generate_store` does; seconds per phase."""
    times = {}
    start = time.perf_counter()
    _create_template(path, system, spec, "bench", system.dt)
    writer = ChunkWriter(path, zarr.open_group(str(path), mode="r+", use_consolidated=False), system.kind, spec)
    writer.start(data[:, 0])
    times["create"] = time.perf_counter() - start

    start = time.perf_counter()
    record = read_progress(path)
    n_chunks = -(-spec.n_steps // spec.chunk_steps)
    for k in range(n_chunks):
        lo = k * spec.chunk_steps
        hi = min(lo + spec.chunk_steps, spec.n_steps)
        # The generator's own chunk writer: NaN check, train statistics, slab, resume state, progress.
        record = writer.write(Chunk(k, lo, data[:, lo:hi], data[:, hi - 1]), record)
    times["chunks"] = time.perf_counter() - start

    start = time.perf_counter()
    _finish(path)
    times["finish"] = time.perf_counter() - start

    start = time.perf_counter()
    write_datasheet(path, system, seconds=1.0)
    times["datasheet"] = time.perf_counter() - start
    assert read_progress(path)["complete"]
    return times


def plain_zarr_write(path: Path, data: np.ndarray, chunks: tuple[int, ...], compressors) -> float:
    """Seconds to write `data` as one Zarr array with `compressors` and no dynlearn bookkeeping."""
    start = time.perf_counter()
    array = zarr.create_array(str(path), shape=data.shape, chunks=chunks, dtype=data.dtype,
                              compressors=compressors, zarr_format=3)
    array[:] = data
    return time.perf_counter() - start


def disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def summary(name: str, nbytes: int, seconds: list[float]) -> str:
    best, median = min(seconds), statistics.median(seconds)
    return (f"  {name:36s} {best:8.3f} {median:8.3f} {nbytes / best / 1e6:9.0f} {nbytes / median / 1e6:9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traj", type=int, default=256)
    parser.add_argument("--n-steps", type=int, default=10_000)
    parser.add_argument("--chunk-steps", type=int, default=2_000, help="GenerationSpec.chunk_steps")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=None, help="parent of the temporary folder (default: system tmp)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--codecs", action="store_true",
                        help="also time bare Zarr writes of the same chunks with other compressors")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    system = make_system("lorenz63")
    spec = GenerationSpec(n_train=args.n_traj, n_val=0, n_test=0, n_steps=args.n_steps,
                          chunk_steps=args.chunk_steps, transient_time=10.0)
    print(f"# store write, lorenz63 {args.n_traj} x {args.n_steps} x {system.dim}, float64, "
          f"{args.repeats} repeats")
    print(f"# zarr {zarr.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, torch threads {torch.get_num_threads()}, "
          f"zarr async concurrency {zarr.config.get('async.concurrency')}, "
          f"load average {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        print(f"# temporary folder {tmp} (same filesystem for both writers)")
        start = time.perf_counter()
        source = generate_store(tmp / "generated.zarr", system, spec, config_hash="bench")
        t_generate = time.perf_counter() - start
        group = zarr.open_group(str(source), mode="r")
        variable = LAYOUTS[system.kind].variable
        array = group[variable]
        data = array[:]
        nbytes = data.nbytes
        print(f"generate_store (simulate + write, for context): {t_generate:.2f} s")
        print(f"array {data.shape} {data.dtype}, {nbytes / 1e6:.1f} MB; store chunks {array.chunks} "
              f"({np.prod(array.chunks) * data.itemsize / 1e3:.0f} kB each, "
              f"{np.prod([-(-s // c) for s, c in zip(data.shape, array.chunks)])} chunks), "
              f"serializer {array.serializer}, compressors {array.compressors}")
        stored = disk_bytes(source / variable)
        print(f"compression: state array {nbytes / 1e6:.1f} MB -> {stored / 1e6:.1f} MB on disk, "
              f"ratio {nbytes / stored:.3f}; whole store {disk_bytes(source) / 1e6:.1f} MB")

        ours: list[dict] = []
        saved: list[float] = []
        for r in range(args.repeats):  # interleaved, so load changes hit both alike
            path = tmp / f"ours-{r}.zarr"
            ours.append(write_like_generator(path, system, spec, data))
            if r == 0:
                written = zarr.open_group(str(path), mode="r")[variable][:]
                assert np.array_equal(written, data), "the rewritten store differs from the generated one"
            npy = tmp / f"numpy-{r}.npy"
            start = time.perf_counter()
            np.save(npy, data)
            saved.append(time.perf_counter() - start)
            assert disk_bytes(npy) >= nbytes

        print(f"uncompressed rates ({nbytes / 1e6:.1f} MB), {args.repeats} repeats:")
        print(f"  {'writer':36s} {'best s':>8s} {'median s':>8s} {'best MB/s':>9s} {'med MB/s':>9s}")
        total = [sum(t.values()) for t in ours]
        print(summary("dynlearn store, whole write path", nbytes, total))
        for phase in ("create", "chunks", "finish", "datasheet"):
            print(summary(f"  of which {phase}", nbytes, [t[phase] for t in ours]))
        print(summary("numpy.save", nbytes, saved))
        print(f"numpy.save / dynlearn store (median): {statistics.median(total) / statistics.median(saved):.1f}x")

        if args.codecs:  # what the codec alone costs and saves, without progress records or stats
            options = {
                "none": None,
                "zstd level 0 (the store's)": zarr.codecs.ZstdCodec(level=0),
                "blosc zstd 5 + byte shuffle": zarr.codecs.BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"),
                "blosc lz4 5 + byte shuffle": zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
            }
            print(f"bare zarr.create_array + one slab write, chunks {array.chunks}, {args.repeats} repeats:")
            print(f"  {'compressor':36s} {'best s':>8s} {'median s':>8s} {'best MB/s':>9s} {'med MB/s':>9s} {'ratio':>6s}")
            for i, (name, codec) in enumerate(options.items()):
                paths = [tmp / f"codec-{i}-{r}.zarr" for r in range(args.repeats)]
                seconds = [plain_zarr_write(p, data, array.chunks, codec) for p in paths]
                print(summary(name, nbytes, seconds) + f" {nbytes / disk_bytes(paths[0]):6.3f}")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
