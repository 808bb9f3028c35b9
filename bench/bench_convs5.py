"""ConvS5 against its ConvLSTM baseline on one store: training throughput, generation speed, error at 2x the training horizon.

Smith et al. (2023, NeurIPS, arXiv 2310.19694, abstract) report ConvS5 training 3x faster than
ConvLSTM: the parallel scan over time replaces the LSTM's sequential loop. This bench measures, in
one process, for both families on the same store (a KS 1-D store by default, or NS 2-D), with the
same encoder/decoder (conf/model/convs5.yaml and convlstm.yaml; ConvLSTM stacks half the layers,
so the parameter counts agree within ±10 %, checked and printed):

1. training throughput: frames per second of one loss + backward + AdamW step on identical batches
   of windows of L frames (full teacher forcing), for several L (the scan's advantage should grow
   with L); repeats interleaved (ConvS5, ConvLSTM, ConvLSTM, ConvS5, ...) after warm-up, median, ratio;
2. generation speed: frames per second of `rollout` (free-running generation from a context),
   interleaved, median, ratio;
3. error at 2x the training horizon H = --train-len: each family trains for the same wall-clock
   --budget per learning rate of the same grid, on the same sequence of batches, with AdamW
   (0.9, 0.95), weight decay 1e-5 and a warmup-cosine schedule (the reference's optimizer,
   models.md §2.2; here over wall-clock time, so a faster family takes more steps of the same
   schedule); its best lr on the validation split (mean relative L2 over the 2H leads) is judged
   on the test split: from --context frames, free-run 2H frames; relative L2 (physical units) at
   leads 1, H and 2H and over all leads, mean over test windows, beside persistence.

Speed is measured here, never asserted in tests; the load (os.getloadavg()) is printed before and
after each section, and the exact command at the end. Make a KS store with

    DYNLEARN_CONF=conf .venv/bin/python -m dynlearn generate +exp=ks paths.data=<dir>

then

    .venv/bin/python bench/bench_convs5.py --store <dir>/ks22.zarr --budget 600
    .venv/bin/python bench/bench_convs5.py --store <dir>/ks22.zarr --exp ks --sections 3  # +exp=ks's model options
    .venv/bin/python bench/bench_convs5.py --store <dir>/ks22.zarr --budget 30 --lrs 1e-3 --lengths 16 64  # smoke
    .venv/bin/python bench/bench_convs5.py --store <dir>/ns_fno.zarr --train-len 12 --context 10 --lengths 8 16 32
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import yaml

from dynlearn.data import WindowDataset
from dynlearn.metrics import relative_l2_by_lead
from dynlearn.models import AbstractModel, IOShape, make_model

REPO = Path(__file__).resolve().parents[1]
FAMILIES = ("convs5", "convlstm")
# Keys of conf/model/<family>.yaml that are not model options (sizes are picked with --size).
NOT_OPTIONS = ("name", "seed", "small", "gpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="a field store (KS 1-D, NS 2-D); read only")
    parser.add_argument("--size", choices=("cpu", "small", "gpu"), default="cpu",
                        help="model size: the configs' defaults, or their small / gpu sections")
    parser.add_argument("--padding", choices=("circular", "zeros"), default="circular",
                        help="circular for periodic fields (KS, NS), as conf/exp_model/*_conv*.yaml")
    parser.add_argument("--exp", default=None,
                        help="also apply the model options of conf/exp_model/<exp>_<family>.yaml (e.g. ks: "
                             "ConvS5's step range and input noise, as `+exp=ks` trains it)")
    parser.add_argument("--train-len", type=int, default=32, help="H: frames per training window")
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 256], help="window lengths timed in §1")
    parser.add_argument("--batch", type=int, default=16, help="windows per batch (§1-§3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds before the timed ones (§1, §2)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per family (§1, §2)")
    parser.add_argument("--context", type=int, default=16, help="frames read before a free run (§2, §3)")
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per family and lr (§3)")
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3], help="the lr grid of both families")
    parser.add_argument("--warmup-frac", type=float, default=0.05, help="fraction of the budget spent warming the lr up")
    parser.add_argument("--cases", type=int, default=32, help="validation and test windows (§3)")
    parser.add_argument("--sections", type=int, nargs="+", default=[1, 2, 3], choices=(1, 2, 3))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    train = WindowDataset(args.store, "train", args.train_len, layout="field")
    if train.forcing_names:
        parser.error(f"{args.store} has forcing {train.forcing_names}; this bench runs free (KS, NS)")
    io = IOShape(train.item_shape)
    options = {family: model_options(family, args.size, args.padding, args.exp) for family in FAMILIES}
    print(f"store {args.store}: train windows of {args.train_len} frames, fields {train.item_shape}; "
          f"torch {torch.__version__}, {args.threads} thread(s), {device}, {os.cpu_count()} cores", flush=True)
    counts = {}
    for family in FAMILIES:
        counts[family] = sum(p.numel() for p in build(family, io, options[family], args.seed).parameters())
        print(f"  {family}: {counts[family]:,} parameters, options {options[family]}")
    gap = counts["convlstm"] / counts["convs5"] - 1
    print(f"  ConvLSTM/ConvS5 parameters: {1 + gap:.3f} ({'within' if abs(gap) <= 0.10 else 'OUTSIDE'} ±10 %)")

    if 1 in args.sections:
        section_throughput(args, io, options, device)
    if 2 in args.sections:
        section_generation(args, io, options, device)
    if 3 in args.sections:
        section_error(args, train, io, options, device)
    print(f"\ncommand: {shlex.join([sys.executable, *sys.argv])}")


def model_options(family: str, size: str, padding: str, exp: str | None = None) -> dict:
    """The options of conf/model/<family>.yaml at `size` ("cpu": its defaults), with `padding`, then
    the `model:` section of conf/exp_model/<exp>_<family>.yaml when `exp` is given."""
    config = yaml.safe_load((REPO / "conf" / "model" / f"{family}.yaml").read_text())
    sized = config.get(size, {}) if size != "cpu" else {}
    options = {k: v for k, v in config.items() if k not in NOT_OPTIONS}
    from_exp = {}
    if exp is not None:
        path = REPO / "conf" / "exp_model" / f"{exp}_{family}.yaml"
        if not path.is_file():
            sys.exit(f"bench_convs5: no {path.relative_to(REPO)}; --exp names an experiment with both families (ks, ns)")
        from_exp = (yaml.safe_load(path.read_text()) or {}).get("model", {})
    return {**options, **sized, "padding": padding, **from_exp}


def build(family: str, io: IOShape, options: dict, seed: int, device: torch.device | None = None) -> AbstractModel:
    return make_model(family, io, **options, seed=seed).to(device or "cpu")


def load(label: str) -> None:
    print(f"load {label}: {tuple(round(x, 2) for x in os.getloadavg())}", flush=True)


def interleaved(calls: dict[str, Callable[[], None]], warmup: int, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each call over `repeats` rounds (each round runs every call once, in turn,
    the order reversed every other round: A B, B A, ...), after `warmup` untimed rounds."""
    times = {name: [] for name in calls}
    for round_ in range(warmup + repeats):
        for name in list(calls)[::1 if round_ % 2 == 0 else -1]:
            synchronize(device)
            start = time.perf_counter()
            calls[name]()
            synchronize(device)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evenly(n_items: int, n: int) -> np.ndarray:
    """`n` indices spread evenly over `n_items` (every trajectory of a split gets its share)."""
    return np.unique(np.linspace(0, n_items - 1, min(n, n_items)).round().astype(np.int64))


def on(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def optimizer(model: AbstractModel, lr: float) -> torch.optim.Optimizer:
    """The reference's optimizer (NVlabs/ConvSSM, models.md §2.2): AdamW (0.9, 0.95), weight decay 1e-5."""
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=1e-5)


def train_step(model: AbstractModel, opt: torch.optim.Optimizer, batch: dict[str, torch.Tensor]) -> float:
    """One loss + backward + optimizer step; the loss (a host sync, as any training loop logs it)."""
    opt.zero_grad(set_to_none=True)
    loss = model.loss(batch)["loss"]
    loss.backward()
    opt.step()
    return float(loss.detach())


# -- §1 training throughput -----------------------------------------------------------------------


def section_throughput(args, io: IOShape, options: dict, device: torch.device) -> None:
    print(f"\n§1 training throughput: frames/s of loss + backward + AdamW step, batch {args.batch}, "
          f"median of {args.repeats} interleaved repeats after {args.warmup} warm-up rounds")
    load("before")
    models = {f: build(f, io, options[f], args.seed, device) for f in FAMILIES}
    opts = {f: optimizer(m, 1e-4) for f, m in models.items()}  # small lr: the weights barely move
    rows = []
    for length in args.lengths:
        data = WindowDataset(args.store, "train", length, layout="field")
        batch = on(data.batch(evenly(len(data), args.batch)), device)
        frames = batch["x"].shape[0] * length
        seconds = interleaved({f: (lambda f=f: train_step(models[f], opts[f], batch)) for f in FAMILIES},
                              args.warmup, args.repeats, device)
        rate = {f: frames / s for f, s in seconds.items()}
        rows.append([length, *(f"{rate[f]:,.0f}" for f in FAMILIES), f"{rate['convs5'] / rate['convlstm']:.2f}"])
        print(f"  L = {length}: " + ", ".join(f"{f} {seconds[f] * 1e3:.0f} ms/step" for f in FAMILIES), flush=True)
    table(["window L", "ConvS5 frames/s", "ConvLSTM frames/s", "ConvS5/ConvLSTM"], rows)
    load("after")


# -- §2 generation speed --------------------------------------------------------------------------


def section_generation(args, io: IOShape, options: dict, device: torch.device) -> None:
    steps = 2 * args.train_len
    print(f"\n§2 generation: frames/s of rollout, {args.context} context frames then {steps} generated, "
          f"batch {args.batch}, median of {args.repeats} interleaved repeats after {args.warmup} warm-up rounds")
    load("before")
    data = WindowDataset(args.store, "test", args.context, layout="field")
    context = data.batch(evenly(len(data), args.batch))["x"].to(device)
    models = {f: build(f, io, options[f], args.seed, device).eval() for f in FAMILIES}
    seconds = interleaved({f: (lambda f=f: models[f].rollout(context, steps)) for f in FAMILIES},
                          args.warmup, args.repeats, device)
    frames = context.shape[0] * steps
    rate = {f: frames / s for f, s in seconds.items()}
    table(["generated", "ConvS5 frames/s", "ConvLSTM frames/s", "ConvS5/ConvLSTM"],
          [[steps, *(f"{rate[f]:,.0f}" for f in FAMILIES), f"{rate['convs5'] / rate['convlstm']:.2f}"]])
    load("after")


# -- §3 error at 2x the training horizon ----------------------------------------------------------


def scheduled_lr(lr: float, fraction: float, warmup: float) -> float:
    """Warmup-cosine at `fraction` of the budget: linear from 0 over `warmup`, then a half cosine
    to 0 (the reference's warmup-cosine, models.md §2.2, over time instead of steps)."""
    if fraction < warmup:
        return lr * fraction / warmup
    return 0.5 * lr * (1 + math.cos(math.pi * min(1.0, (fraction - warmup) / (1 - warmup))))


def fit(model: AbstractModel, data: WindowDataset, lr: float, args, device: torch.device) -> dict:
    """Trains for `args.budget` wall seconds on batches drawn by a generator seeded with `args.seed`
    (the same sequence for every family and lr). Returns steps, seconds, last loss, diverged."""
    opt, draws = optimizer(model, lr), torch.Generator().manual_seed(args.seed)
    model.train()
    start, steps, loss = time.perf_counter(), 0, math.nan
    while (elapsed := time.perf_counter() - start) < args.budget:
        for group in opt.param_groups:
            group["lr"] = scheduled_lr(lr, elapsed / args.budget, args.warmup_frac)
        indices = torch.randint(len(data), (args.batch,), generator=draws).numpy()
        loss = train_step(model, opt, on(data.batch(indices), device))
        steps += 1
        if not math.isfinite(loss):
            break
    model.eval()
    return {"steps": steps, "seconds": time.perf_counter() - start, "loss": loss, "diverged": not math.isfinite(loss)}


def free_run_error(model: AbstractModel | None, data: WindowDataset, indices: np.ndarray, context: int,
                   device: torch.device) -> np.ndarray:
    """Relative L2 by lead (physical units), mean over windows `indices` of `data` (each `context`
    frames read, the rest generated): ``(leads,)``. `model` None: persistence (the last context frame)."""
    windows = data.batch(indices)["x"]  # (n, context + leads, C, *s), standardized
    leads = windows.shape[1] - context
    if model is None:
        pred = windows[:, context - 1:context].expand(-1, leads, *windows.shape[2:])
    else:
        with torch.no_grad():
            pred = model.rollout(windows[:, :context].to(device), leads).cpu()

    def physical(x: torch.Tensor) -> np.ndarray:
        x = x.double()
        return (x if data.normalizer is None else data.normalizer.denormalize(x, axis=2)).numpy()

    return relative_l2_by_lead(physical(pred), physical(windows[:, context:]))


def section_error(args, train: WindowDataset, io: IOShape, options: dict, device: torch.device) -> None:
    H = args.train_len
    print(f"\n§3 error at 2x the training horizon H = {H}: {args.budget:.0f} s of training per family and lr "
          f"(lrs {args.lrs}), best lr on validation, free runs of {2 * H} frames from {args.context} on test")
    load("before")
    window = args.context + 2 * H
    val, test = (WindowDataset(args.store, split, window, layout="field") for split in ("val", "test"))
    val_cases, test_cases = evenly(len(val), args.cases), evenly(len(test), args.cases)
    best: dict[str, tuple[float, float, dict]] = {}  # family -> (val score, lr, state_dict)
    rows = []
    for lr in args.lrs:  # families interleaved per lr, so a drifting load hits both alike
        for family in FAMILIES:
            model = build(family, io, options[family], args.seed, device)
            run = fit(model, train, lr, args, device)
            score = math.nan if run["diverged"] else float(np.mean(free_run_error(model, val, val_cases, args.context, device)))
            score = score if math.isfinite(score) else math.inf  # a diverged run or free run ranks last
            rows.append([family, f"{lr:g}", run["steps"], f"{run['steps'] * args.batch * H / run['seconds']:,.0f}",
                         f"{run['loss']:.4g}", f"{score:.4f}"])
            print(f"  {family} lr {lr:g}: {run['steps']} steps in {run['seconds']:.0f} s, last loss {run['loss']:.4g}, "
                  f"val rel L2 {score:.4f} (load {os.getloadavg()[0]:.2f})", flush=True)
            if family not in best or score < best[family][0]:
                best[family] = (score, lr, {k: v.detach().clone() for k, v in model.state_dict().items()})
    print("\nlearning-rate sweep (validation: mean relative L2 over leads 1..2H):")
    table(["family", "lr", "steps", "train frames/s", "last loss", "val rel L2"], rows)

    print(f"\ntest: {len(test_cases)} windows, {args.context} frames read, relative L2 (physical units), mean over windows:")
    results = [("persistence", None, free_run_error(None, test, test_cases, args.context, device))]
    for family in FAMILIES:
        _, lr, state = best[family]
        model = build(family, io, options[family], args.seed, device)
        model.load_state_dict(state)
        results.append((family, lr, free_run_error(model.eval(), test, test_cases, args.context, device)))
    table(["model", "best lr", "lead 1", f"lead H = {H}", f"lead 2H = {2 * H}", "leads 1..H", "leads H+1..2H"],
          [[name, "-" if lr is None else f"{lr:g}", *(f"{e:.4f}" for e in
           (err[0], err[H - 1], err[2 * H - 1], err[:H].mean(), err[H:].mean()))] for name, lr, err in results])
    load("after")


def table(header: list[str], rows: list[list]) -> None:
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
