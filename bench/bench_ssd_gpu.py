"""SSD scan on a GPU: Triton kernels against the chunked PyTorch path, in achieved GB/s.

Sizes of a PhyxMamba / Mamba-2 block (d_model 256, expand 2: heads 8, headdim 64) at
`--state` N, batch `--batch`, L `--length`, bf16 inputs. GB/s counts the bytes the op must move
at least once (inputs read, outputs written, and the per-chunk states written and read back),
divided by the time from ``triton.testing.do_bench``; the fraction of the device's memory
bandwidth (from its bus width and memory clock, or `--peak-gbps`) says how close to the memory
roofline the kernels run. Exits 0 with "no CUDA device: skipped" where there is no GPU.

Run from the repository root:
    .venv/bin/python bench/bench_ssd_gpu.py
"""

from __future__ import annotations

import argparse
import sys

import torch

from dynlearn.ops._ssd import ssd


def peak_gbps(args) -> float | None:
    if args.peak_gbps:
        return args.peak_gbps
    props = torch.cuda.get_device_properties(0)
    clock, bus = getattr(props, "memory_clock_rate", None), getattr(props, "memory_bus_width", None)
    return 2 * clock * 1e3 * bus / 8 / 1e9 if clock and bus else None  # DDR: two transfers/clock


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--headdim", type=int, default=64)
    ap.add_argument("--state", type=int, default=128)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--peak-gbps", type=float, default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 0
    import triton.testing

    dtype = getattr(torch, args.dtype)
    b, length, h, p, n = args.batch, args.length, args.heads, args.headdim, args.state
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(b, length, h, p, device="cuda", dtype=dtype, generator=gen).requires_grad_()
    dt = (torch.rand(b, length, h, device="cuda", generator=gen) * 0.1).to(dtype).requires_grad_()
    A = (-torch.rand(h, device="cuda", generator=gen) * 15 - 1).requires_grad_()
    B = torch.randn(b, length, 1, n, device="cuda", dtype=dtype, generator=gen).requires_grad_()
    C = torch.randn(b, length, 1, n, device="cuda", dtype=dtype, generator=gen).requires_grad_()
    dy = torch.randn_like(x)
    itemsize = x.element_size()
    nc = -(-length // args.chunk)
    io = (2 * x.numel() + dt.numel() + B.numel() + C.numel()) * itemsize  # x, dt, B, C in; y out
    states = 3 * b * nc * h * p * n * 4  # fp32 chunk states: written, passed, read back
    bytes_fwd, bytes_bwd = io + states, 2 * io + x.numel() * itemsize + 2 * states
    peak = peak_gbps(args)
    print(f"{torch.cuda.get_device_name()}: batch {b}, L {length}, heads {h}, headdim {p}, N {n}, "
          f"chunk {args.chunk}, {args.dtype}; memory bandwidth {peak or float('nan'):.0f} GB/s")
    for backend in ("triton", "torch"):
        def fwd():
            return ssd(x, dt, A, B, C, args.chunk, backend=backend)

        def fwd_bwd():
            torch.autograd.grad(fwd(), (x, dt, A, B, C), dy)

        ms_f = triton.testing.do_bench(fwd)
        ms_fb = triton.testing.do_bench(fwd_bwd)
        gbps_f = bytes_fwd / ms_f / 1e6
        gbps_fb = (bytes_fwd + bytes_bwd) / ms_fb / 1e6
        frac = f" ({gbps_f / peak:.0%} / {gbps_fb / peak:.0%} of peak)" if peak else ""
        print(f"{backend:7s} fwd {ms_f:8.3f} ms {gbps_f:7.0f} GB/s   fwd+bwd {ms_fb:8.3f} ms "
              f"{gbps_fb:7.0f} GB/s{frac}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
