"""DynaMix zero-shot on the systems held out of its pretraining corpus, beside AL-RNNs trained on each.

For every held-out system (Lorenz-63, Chen, Rössler, Chua, Sprott S) a test store is generated,
sampled like the corpus (`dynlearn.data.sampling`: about 100 stored steps per mean period; conf/exp/
dynamix_heldout.yaml), and the pretrained DynaMix forecasts 10,000 steps from each of its 10
2,000-step test contexts with no gradient step (`python -m dynlearn evaluate run=<run> input=<store>`,
each context standardized by its own statistics). Reported: the pooled invariants of evaluation
protocol v2 (D_stsp, D_H, collapsed / diverged free runs, the true-vs-true floor), the authors'
per-forecast protocol (median over forecasts of each forecast's D_stsp and D_H), and the valid
prediction time and the MASE of the first 10 steps (the authors' short-term error). With --alrnn, AL-RNNs trained on each held-out store itself (+exp=lorenz settings,
`train +exp=lorenz data.path=data/heldout_<system>.zarr`) are read from their metrics.json beside.

    python bench/bench_dynamix_zero_shot.py [--run dynamix] [--alrnn runs/heldout_alrnn] [--systems ...]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch

from dynlearn import generate
from dynlearn._compose import load_settings
from dynlearn._settings import EvalSpec
from dynlearn._workflow import evaluate_run
from dynlearn.data import HELD_OUT, sampling

PROTOCOL = EvalSpec(context=2000, n_steps=10_000, transient=1000, n_ics=10)


def heldout_store(name: str) -> Path:
    """The held-out test store of `name` (generated, or reused when there)."""
    how = sampling(name)
    settings = load_settings(["+exp=dynamix_heldout", f"system={name}", f"system.dt={how.dt_simulated!r}",
                              f"data.save_every={how.save_every}"], check_model=False)
    return generate(settings, progress=False)


def row(metrics: dict) -> dict:
    per = metrics["per_ic"]
    ok = [p for p in per if p["status"] == "ok"]
    median = lambda key: statistics.median(p[key] for p in ok) if ok else math.nan  # noqa: E731
    return {"d_stsp": metrics["d_stsp"], "d_h": metrics["d_h"], "floor": metrics["d_stsp_floor"],
            "failed": metrics["n_collapsed"] + metrics["n_diverged"],
            "per_forecast_d_stsp": median("d_stsp"), "per_forecast_d_h": median("d_h"), "vpt": metrics["vpt"], "mase": metrics.get("mase", math.nan)}


def latest_metrics(folder: Path) -> dict | None:
    """The newest run's newest metrics under `folder`: its latest re-evaluation, else its own."""
    runs = sorted(p.parent for p in folder.glob("*/metrics.json"))
    if not runs:
        return None
    found = sorted(runs[-1].glob("eval-*/metrics.json")) or [runs[-1] / "metrics.json"]
    return json.loads(found[-1].read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="dynamix", help="the pretrained DynaMix run (default: the shipped one)")
    parser.add_argument("--alrnn", type=Path, default=None,
                        help="folder of AL-RNN runs, <folder>/heldout_<system>/<time>/metrics.json")
    parser.add_argument("--systems", nargs="+", default=list(HELD_OUT))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"protocol: {PROTOCOL.n_ics} forecasts of {PROTOCOL.n_steps} steps from {PROTOCOL.context}-step contexts, "
          f"first {PROTOCOL.transient} dropped for the invariants; threads {args.threads}")
    print("| system | model | D_stsp pooled | D_H pooled | failed | D_stsp per forecast (median) | "
          "D_H per forecast (median) | MASE(10) | VPT [Lyapunov times] | floor D_stsp |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.systems:
        store = heldout_store(name)
        started = time.perf_counter()
        out = evaluate_run(args.run, PROTOCOL, input_store=store)
        seconds = time.perf_counter() - started
        results = [("DynaMix zero-shot", row(json.loads((out / "metrics.json").read_text())))]
        alrnn = latest_metrics(args.alrnn / f"heldout_{name}") if args.alrnn else None
        if alrnn is not None:
            results.append(("AL-RNN trained on it", row(alrnn)))
        for model, r in results:
            print(f"| {name} | {model} | {r['d_stsp']:.3f} | {r['d_h']:.4f} | {r['failed']} | "
                  f"{r['per_forecast_d_stsp']:.3f} | {r['per_forecast_d_h']:.4f} | {r['mase']:.3f} | {r['vpt']:.2f} | "
                  f"{r['floor']:.3f} |")
        print(f"<!-- {name}: {store}, zero-shot evaluation {seconds:.0f} s -> {out} -->")


if __name__ == "__main__":
    main()
