"""Our FNO against the `neuraloperator` package's FNO on the same NS store, training loop and budget.

Issue: "Our FNO vs the `neuraloperator` package's FNO on the same data and budget: relative L2 and
training time in the same run." neuraloperator is a bench-only extra, never installed by `make test`:
`make bench-extras` installs the pinned package (see the Makefile's note on what it installs).

Protocol (`+exp=ns`, the FNO benchmark: Li et al. 2021, ICLR, arXiv 2010.08895, ν = 1e-3, T = 50):
both networks read the last `history` = 10 standardized frames and predict the next (FNO-2D's
autoregressive setup, one-step teacher forcing), as x_{t+1} = x_t + f(x_{t-9..t}) when residual (our
config's default; neuraloperator's output is wrapped the same way, so that only the network differs).
Everything around the network is shared: windows of 11 frames drawn from the training trajectories
by the same seeded generator (so both see the same batches in the same order), batch size 16, Adam,
per-sample relative L2 loss (neuraloperator's ``LpLoss``, unsquared, mean over the batch; ours computes
it in ``FNO.loss``, theirs here by the same formula), and a cosine learning rate from 1e-3 to 1e-5 over
the *budget* (lr at elapsed training time s: lr_end + ½(lr_start - lr_end)(1 + cos πs/budget)), the
schedule of conf/exp/ns.yaml stretched over wall seconds instead of epochs. The two models train in
alternating slices of `--slice` seconds until each has spent `--budget` seconds (so a change in the
machine's load hits both alike; the load is printed before each slice).

Sizes: modes m, width w, n_layers L are ours (FNOConfig); neuraloperator gets hidden_channels = w,
n_layers = L, projection_channel_ratio = our projection_ratio, lifting ratio 2 (both), channel-MLP
expansion 0.5 with soft-gating skip and a linear Fourier skip (both defaults), and n_modes = (2m, 2m):
its ``SpectralConv`` counts both signs (neuralop/layers/spectral_convolution.py, 2.0.0: after an
fftshift it keeps n//2 ± n_modes//2 on the leading axes, k = -m .. m-1 as ours, and n_modes[-1]//2 + 1
rfft modes on the last, k = 0 .. m, one more than our 0 .. m-1). `--same-wavenumbers` passes
(2m, 2m - 1) instead: k = 0 .. m-1 on the last axis, exactly our set. Their positional embedding is
the grid ramp (x, y ∈ [0, 1), 2 channels); ours is `--positional` (default periodic: sin, cos per
axis, 4 channels; ``grid`` matches theirs). Ours also reads a mask channel (all ones on NS) and puts
the bias on the linear skip where theirs puts it on the spectral convolution. Parameter counts of
both are printed.

Evaluation on the store's test trajectories (split 2): each model reads frames 0 .. 9 and rolls out 40
steps (ours through ``FNO.rollout``, theirs through the same loop written here); relative L2 in
physical units (``dynlearn.metrics.relative_l2``) of the whole forecast per case (norms over the 40
frames and the grid), its mean over cases, and the mean over cases at leads 1, 10 and 40.

Cost: about 2 x budget plus the store read and the evaluation (seconds). The load of other jobs slows
both; the ratio of seconds per step is the robust timing figure.

    make bench-extras
    .venv/bin/python bench/bench_fno_vs_neuralop.py --store /work/bench/data/ns_fno.zarr --budget 1800 --threads 2
    .venv/bin/python bench/bench_fno_vs_neuralop.py --store /tmp/ns/ns_fno.zarr --budget 60 --threads 1 --slice 15
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

import dynlearn
from dynlearn.data import Normalizer
from dynlearn.metrics import relative_l2
from dynlearn.models import IOShape, make_model

TRAIN, TEST = 0, 2  # the store's split codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="an NS store (vorticity(traj, time, y, x) with splits)")
    parser.add_argument("--budget", type=float, default=1800.0, help="training wall seconds per model")
    parser.add_argument("--slice", type=float, default=30.0, help="seconds per model before the other trains")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--history", type=int, default=10, help="frames read per step (FNO-2D: 10)")
    parser.add_argument("--lead", type=int, default=40, help="forecast steps evaluated (FNO benchmark: 40)")
    parser.add_argument("--modes", type=int, default=12, help="ours: k = -m..m-1 (0..m-1 on the last axis)")
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--projection-ratio", type=float, default=2.0)
    parser.add_argument("--positional", choices=("periodic", "grid", "none"), default="periodic", help="ours")
    parser.add_argument("--residual", action=argparse.BooleanOptionalAction, default=True, help="both")
    parser.add_argument("--same-wavenumbers", action="store_true", help="theirs: n_modes (2m, 2m-1)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, nargs=2, default=(1e-3, 1e-5), metavar=("START", "END"))
    parser.add_argument("--seed", type=int, default=0, help="initializations and the batch order")
    args = parser.parse_args()
    try:
        from neuralop.models import FNO as NeuralopFNO
    except ImportError:
        sys.exit("bench_fno_vs_neuralop: neuraloperator is not installed; run `make bench-extras` (bench only)")
    import neuralop

    torch.set_num_threads(args.threads)
    print(f"load at start: {os.getloadavg()} on {os.cpu_count()} cores; torch {torch.__version__}, "
          f"neuraloperator {neuralop.__version__}, {args.threads} thread(s)", flush=True)
    started = time.monotonic()
    train, test, normalizer = load(args.store)
    print(f"store {args.store}: train {tuple(train.shape)}, test {tuple(test.shape)} "
          f"(read in {time.monotonic() - started:.1f} s)", flush=True)
    if train.shape[1] < args.history + 1 or test.shape[1] < args.history + args.lead:
        sys.exit(f"bench_fno_vs_neuralop: the store's {test.shape[1]} frames per trajectory are fewer than "
                 f"history + lead = {args.history + args.lead}; lower --lead or use a longer store")

    m = args.modes
    ours = Ours(make_model("fno", IOShape((1, *train.shape[2:])), history=args.history, modes=m, width=args.width,
                           n_layers=args.layers, projection_ratio=args.projection_ratio, positional=args.positional,
                           residual=args.residual, rollout_steps=1, starts_per_window=1, loss="relative_l2",
                           seed=args.seed))
    torch.manual_seed(args.seed)  # neuraloperator draws its initialization from the global generator
    n_modes = (2 * m, 2 * m - 1) if args.same_wavenumbers else (2 * m, 2 * m)
    theirs = Theirs(NeuralopFNO(n_modes=n_modes, in_channels=args.history, out_channels=1,
                                hidden_channels=args.width, n_layers=args.layers, lifting_channel_ratio=2,
                                projection_channel_ratio=args.projection_ratio, positional_embedding="grid"),
                    args.residual)
    print(f"ours: FNO(modes={m}, width={args.width}, n_layers={args.layers}, positional={args.positional}); "
          f"neuraloperator: FNO(n_modes={n_modes}, hidden_channels={args.width}, n_layers={args.layers}, "
          f"positional_embedding='grid'); residual={args.residual}", flush=True)

    runs = [Run("ours", ours, args), Run("neuralop", theirs, args)]
    while any(run.seconds < args.budget and not run.diverged for run in runs):
        for run in runs:
            train_slice(run, train, args)
    print(f"load after training: {os.getloadavg()}", flush=True)

    rows = [evaluate(run, test, normalizer, args) for run in runs]
    report(rows, args)


def load(path: str) -> tuple[Tensor, Tensor, Normalizer]:
    """The training and test trajectories, standardized, float32 (N, T, Y, X), and the store's normalizer."""
    ds = dynlearn.open_store(path)
    if "vorticity" not in ds:
        sys.exit(f"bench_fno_vs_neuralop: {path} has no vorticity field; point --store at an NS store (+exp=ns)")
    normalizer = Normalizer.from_attrs(ds.attrs)

    def split(code: int) -> Tensor:
        field_ = ds["vorticity"].isel(traj=np.flatnonzero(ds["split"].values == code)).values
        return normalizer.normalize(torch.from_numpy(field_)[..., None]).squeeze(-1).float()

    return split(TRAIN), split(TEST), normalizer


class Ours:
    """dynlearn's FNO through its public interface: ``loss`` on (B, h+1, 1, Y, X), ``rollout``."""

    def __init__(self, model: nn.Module) -> None:
        self.module = model

    def loss(self, window: Tensor) -> Tensor:
        """(B, h + 1, Y, X) -> () the mean one-step relative L2 of the last frame from the first h."""
        return self.module.loss({"x": window.unsqueeze(2)})["loss"]

    def rollout(self, context: Tensor, n: int) -> Tensor:
        """(B, h, Y, X) -> (B, n, Y, X) the free run after the context."""
        return self.module.rollout(context.unsqueeze(2), n).squeeze(2)


class Theirs:
    """neuraloperator's FNO as a step (B, h, Y, X) -> (B, Y, X): the h frames are its input channels."""

    def __init__(self, model: nn.Module, residual: bool) -> None:
        self.module, self.residual = model, residual

    def step(self, frames: Tensor) -> Tensor:
        out = self.module(frames).squeeze(1)
        return frames[:, -1] + out if self.residual else out

    def loss(self, window: Tensor) -> Tensor:
        """As `Ours.loss`: per-sample ‖ŷ - y‖ / ‖y‖ (the formula of dynlearn's FNO.loss), mean over the batch."""
        predicted, target = self.step(window[:, :-1]), window[:, -1]
        squared = (predicted - target).pow(2).flatten(1).sum(1)
        norm = target.pow(2).flatten(1).sum(1).clamp_min(torch.finfo(target.dtype).tiny)
        return (squared / norm).sqrt().mean()

    def rollout(self, context: Tensor, n: int) -> Tensor:
        frames, out = context, []
        for _ in range(n):
            new = self.step(frames)
            out.append(new)
            frames = torch.cat([frames[:, 1:], new.unsqueeze(1)], dim=1)
        return torch.stack(out, dim=1)


@dataclass
class Run:
    """One model's training: its optimizer, its own copy of the shared batch order, what it spent."""

    name: str
    contender: Ours | Theirs
    args: argparse.Namespace
    steps: int = 0
    seconds: float = 0.0
    slices: int = 0
    loss: float = math.nan
    diverged: bool = False
    optimizer: torch.optim.Optimizer = field(init=False)
    generator: torch.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.optimizer = torch.optim.Adam(self.contender.module.parameters(), lr=self.args.lr[0])
        self.generator = torch.Generator().manual_seed(self.args.seed)

    @property
    def params(self) -> int:
        return sum(p.numel() * (2 if p.is_complex() else 1) for p in self.contender.module.parameters())


def train_slice(run: Run, train: Tensor, args: argparse.Namespace) -> None:
    """Train `run` for up to `args.slice` more seconds of its budget (whole steps; the last may overrun)."""
    if run.seconds >= args.budget or run.diverged:
        return
    load, steps0 = os.getloadavg()[0], run.steps
    until = min(args.budget, run.seconds + args.slice)
    lr_start, lr_end = args.lr
    n_traj, n_time = train.shape[:2]
    offsets = torch.arange(args.history + 1)
    run.contender.module.train()
    while run.seconds < until:
        t0 = time.perf_counter()
        lr = lr_end + 0.5 * (lr_start - lr_end) * (1 + math.cos(math.pi * min(run.seconds / args.budget, 1.0)))
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        traj = torch.randint(n_traj, (args.batch_size,), generator=run.generator)
        start = torch.randint(n_time - args.history, (args.batch_size,), generator=run.generator)
        window = train[traj[:, None], start[:, None] + offsets]  # (B, h + 1, Y, X)
        loss = run.contender.loss(window)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.seconds += time.perf_counter() - t0
        run.steps += 1
        run.loss = loss.item()
        if not math.isfinite(run.loss):
            run.diverged = True
            break
    run.slices += 1
    print(f"{run.name:9s} slice {run.slices:3d}  load {load:5.2f}  steps {steps0:6d}..{run.steps:6d}  "
          f"{run.seconds:7.1f} s  loss {run.loss:.4f}  lr {lr:.2e}{'  DIVERGED' if run.diverged else ''}",
          flush=True)


@torch.no_grad()
def evaluate(run: Run, test: Tensor, normalizer: Normalizer, args: argparse.Namespace) -> dict:
    """Free runs of `args.lead` steps from the first `history` frames of each test trajectory, scored in
    physical units: relative L2 over the whole forecast per case and per lead, means over cases."""
    run.contender.module.eval()
    context, true = test[:, :args.history], test[:, args.history:args.history + args.lead]
    t0 = time.perf_counter()
    pred = torch.cat([run.contender.rollout(c, args.lead) for c in context.split(8)])  # (N, lead, Y, X)
    seconds = time.perf_counter() - t0

    def physical(x: Tensor) -> np.ndarray:
        return normalizer.denormalize(x.double()[..., None]).squeeze(-1).numpy()

    pred, true = physical(pred), physical(true)
    by_lead = relative_l2(pred, true, spatial_dims=2).mean(axis=0)  # (lead,)
    whole = relative_l2(pred, true, spatial_dims=3).mean()
    return {"name": run.name, "params": run.params, "steps": run.steps, "seconds": run.seconds,
            "diverged": run.diverged, "whole": whole, "by_lead": by_lead, "eval_seconds": seconds}


def report(rows: list[dict], args: argparse.Namespace) -> None:
    """The comparison table and the ratio of seconds per step, ours / theirs."""
    leads = [lead for lead in (1, 10, args.lead) if lead <= args.lead]
    lead_cols = "".join(f"  {f'lead {lead}':>8s}" for lead in dict.fromkeys(leads))
    print(f"\n{len(rows[0]['by_lead'])}-step forecasts from {args.history} frames, relative L2 (mean over cases); "
          f"budget {args.budget:.0f} s each, batch {args.batch_size}, {args.threads} thread(s)")
    print(f"{'model':9s} {'params':>8s} {'steps':>7s} {'train s':>8s} {'s/step':>8s}  {'all':>7s}{lead_cols}  eval s")
    for r in rows:
        lead_vals = "".join(f"  {r['by_lead'][lead - 1]:8.4f}" for lead in dict.fromkeys(leads))
        print(f"{r['name']:9s} {r['params']:8d} {r['steps']:7d} {r['seconds']:8.1f} {r['seconds'] / max(r['steps'], 1):8.4f}"
              f"  {r['whole']:7.4f}{lead_vals}  {r['eval_seconds']:6.1f}{'  (diverged)' if r['diverged'] else ''}")
    ours, theirs = (r["seconds"] / max(r["steps"], 1) for r in rows)
    print(f"time per step, ours / neuralop: {ours / theirs:.3f}")


if __name__ == "__main__":
    main()
