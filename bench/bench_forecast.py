"""Forecast throughput of an AL-RNN: the batched forecast job against one forecast at a time.

Trains ``+exp=lorenz debug=fast`` (an AL-RNN with 50 latent units on Lorenz-63; seconds) into
a temporary folder, or takes ``--run``, then times in one process, interleaved, ``--repeats``
times each:

(a) batched: the whole job ``dynlearn.forecast(run, store, spec)`` from every ``--stride``-th
    step of the store's test trajectories, ``--members`` perturbed members, ``--lead`` steps,
    ``--chunk-inits`` inits per chunk (one `rollout` of chunk x members forecasts each): reading
    the inits, the rollouts, the Zarr writes with their progress records and the skill pass,
    into a fresh folder each time;
(b) one at a time: the same library function that computes a chunk (`forecast_chunk`:
    standardize, perturb, `rollout`, back to physical units) called for one init and one member
    at a time, on the first ``--single`` inits; compute only, nothing read or written;
(c) for reference, `forecast_chunk` on the chunks of (a) (compute only: what (a) spends beyond
    it is reading, writing and scoring).

Throughput is forecast steps per second (inits x members x leads / seconds); the ratio is (a)
over (b), both medians. The load average is printed before and after (the machine is shared).

Run from the repository root:
    .venv/bin/python bench/bench_forecast.py
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

import dynlearn
from dynlearn._forecast import forecast_chunk
from dynlearn.data import chunk_generator, forecast_inits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a trained run (default: train +exp=lorenz debug=fast)")
    parser.add_argument("--lead", type=int, default=200)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--chunk-inits", type=int, default=256)
    parser.add_argument("--single", type=int, default=20, help="inits forecast one member at a time in (b)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_forecast_"))
    try:
        run_dir = args.run or _train(work)
        run = dynlearn.load_run(run_dir)
        store = run.data_store
        torch.set_num_threads(args.threads)
        spec = dynlearn.ForecastSpec(lead=args.lead, members=args.members, perturbation=0.01, stride=args.stride,
                                     chunk_inits=args.chunk_inits, progress=False)
        ds = dynlearn.open_store(store)
        inits = forecast_inits(ds, spec.split, context=spec.context, stride=spec.stride, lead=spec.lead)
        contexts, _, _ = inits.read(ds, slice(0, args.single))
        one = dataclasses.replace(spec, members=1)

        def batched() -> float:
            for old in run_dir.glob("forecast-*"):
                shutil.rmtree(old)
            start = time.perf_counter()
            dynlearn.forecast(run_dir, store, spec)
            return len(inits) * spec.members * spec.lead / (time.perf_counter() - start)

        chunks = [(k, inits.read(ds, slice(k * spec.chunk_inits, (k + 1) * spec.chunk_inits))[0])
                  for k in range(-(-len(inits) // spec.chunk_inits))]

        def compute_only() -> float:
            start = time.perf_counter()
            for k, block in chunks:
                forecast_chunk(run, block, None, spec, chunk_generator(spec.seed, k))
            return len(inits) * spec.members * spec.lead / (time.perf_counter() - start)

        def single() -> float:
            start = time.perf_counter()
            for i in range(len(contexts)):
                for m in range(spec.members):
                    forecast_chunk(run, contexts[i:i + 1], None, one, chunk_generator(spec.seed, i * spec.members + m))
            return len(contexts) * spec.members * spec.lead / (time.perf_counter() - start)

        print(f"host: {platform.node()}, {platform.processor() or platform.machine()}, torch threads {args.threads}")
        print(f"run: {run_dir} ({run.meta['model_name']}, latent {run.meta['model_options'].get('latent_dim')}, "
              f"{run.meta['dtype']})")
        print(f"(a) batched job: {len(inits)} inits x {spec.members} members x {spec.lead} leads, "
              f"chunks of {spec.chunk_inits} inits; (b) one at a time: {len(contexts)} inits x {spec.members} members")
        print(f"load average before: {_load()}")
        batched(), single(), compute_only()  # warm-up: imports, allocator, first Zarr writes
        rates = {"batched": [], "single": [], "compute": []}
        for repeat in range(args.repeats):
            rates["batched"].append(batched())
            rates["single"].append(single())
            rates["compute"].append(compute_only())
            print(f"  repeat {repeat + 1}: (a) batched job {rates['batched'][-1]:,.0f} steps/s, (b) one at a time "
                  f"{rates['single'][-1]:,.0f} steps/s, (c) batched compute only {rates['compute'][-1]:,.0f} steps/s")
        a, b, c = (statistics.median(rates[k]) for k in ("batched", "single", "compute"))
        print(f"load average after: {_load()}")
        print(f"median: (a) batched job {a:,.0f} forecast steps/s, (b) one at a time {b:,.0f} forecast steps/s, "
              f"(c) batched compute only {c:,.0f}; ratio (a)/(b) {a / b:.1f}x, (c)/(b) {c / b:.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _train(work: Path) -> Path:
    settings = dynlearn.load_settings(["+exp=lorenz", "debug=fast", f"paths.data={work}/data",
                                       f"paths.runs={work}/runs"])
    return dynlearn.train(settings)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" (1, 5, 15 min; {os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
