"""SSD scan (Mamba-2) on CPU: the chunked PyTorch path against the sequential reference.

Forward + backward (a random linear functional of y and of the final state) at Mamba-2 sizes:
heads 8, headdim 64, N 64, L 2048, batch 1, fp32, one torch thread, in the same process. Memory
is measured two ways: the bytes autograd saves for the backward (distinct storages seen by
``torch.autograd.graph.saved_tensors_hooks``), and the peak resident memory above the baseline
(VmHWM − VmRSS after the inputs exist) of one forward + backward in a fresh subprocess per
variant.

Run from the repository root:
    .venv/bin/python bench/bench_ssd.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch

from dynlearn.ops._ssd import ssd
from dynlearn.ops._ssd_ref import ssd_ref


def inputs(args):
    g = torch.Generator().manual_seed(0)
    b, length, h, p, n = args.batch, args.length, args.heads, args.headdim, args.state
    leaves = dict(x=torch.randn(b, length, h, p, generator=g),
                  dt=torch.randn(b, length, h, generator=g) - 2,
                  A=-torch.rand(h, generator=g) * 15 - 1,
                  B=torch.randn(b, length, 1, n, generator=g),
                  C=torch.randn(b, length, 1, n, generator=g),
                  D=torch.ones(h), dt_bias=torch.zeros(h))
    weights = (torch.randn(b, length, h, p, generator=g), torch.randn(b, h, p, n, generator=g))
    return {k: v.requires_grad_() for k, v in leaves.items()}, weights


def fwd_bwd(variant, leaves, weights, chunk):
    op = ssd_ref if variant == "ref" else ssd
    y, final = op(leaves["x"], leaves["dt"], leaves["A"], leaves["B"], leaves["C"], chunk,
                  D=leaves["D"], dt_bias=leaves["dt_bias"], dt_softplus=True,
                  return_final_states=True, backend="torch")
    loss = (y * weights[0]).sum() + (final * weights[1]).sum()
    return y.detach(), torch.autograd.grad(loss, list(leaves.values()))


def saved_bytes(variant, leaves, weights, chunk):
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fwd_bwd(variant, leaves, weights, chunk)
    return sum(storages.values())


def _kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def rss_child(args):
    leaves, weights = inputs(args)
    base = _kib("VmRSS:")
    fwd_bwd(args.rss_child, leaves, weights, args.chunk)
    print((_kib("VmHWM:") - base) / 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--headdim", type=int, default=64)
    ap.add_argument("--state", type=int, default=64)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rss-child", choices=["ref", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.rss_child:
        return rss_child(args)

    leaves, weights = inputs(args)
    times, outs = {}, {}
    for variant in ("torch", "ref"):
        outs[variant] = fwd_bwd(variant, leaves, weights, args.chunk)  # warm-up
        runs = []
        for _ in range(args.repeats if variant == "torch" else max(1, args.repeats // 2)):
            t0 = time.perf_counter()
            fwd_bwd(variant, leaves, weights, args.chunk)
            runs.append(time.perf_counter() - t0)
        times[variant] = statistics.median(runs)
    rel = max(((a - b).abs().max() / b.abs().max()).item()
              for a, b in zip((outs["torch"][0], *outs["torch"][1]),
                              (outs["ref"][0], *outs["ref"][1])))
    print(f"SSD fwd+bwd, batch {args.batch}, L {args.length}, heads {args.heads}, headdim "
          f"{args.headdim}, N {args.state}, chunk {args.chunk}, fp32, 1 thread, torch "
          f"{torch.__version__}")
    print(f"max relative difference (y and all gradients, / max |ref|): {rel:.2e}")
    for variant in ("torch", "ref"):
        saved = saved_bytes(variant, leaves, weights, args.chunk) / 2**20
        cmd = [sys.executable, __file__, "--rss-child", variant, *sys.argv[1:]]
        rss = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        name = "chunked (torch)" if variant == "torch" else "sequential ref"
        print(f"{name:16s} {times[variant] * 1e3:9.1f} ms   saved for backward {saved:8.1f} MiB"
              f"   peak RSS above baseline {rss:8.1f} MiB")
    print(f"speed-up chunked vs ref: {times['ref'] / times['torch']:.1f}x")


if __name__ == "__main__":
    main()
