"""GPU scan ops: Triton kernels against the PyTorch paths, with achieved memory bandwidth.

On a CUDA device (H100-class intended) times forward and forward + backward of `linear_scan`
(complex64 and fp32) and `selective_scan` (fp32, bf16) on the Triton backend and on the chunked
PyTorch backend, and prints the bytes each Triton kernel must move (inputs read once, outputs
written once) divided by its time, beside the device's peak bandwidth when known. Exits 0 with
"no CUDA device: skipped" elsewhere.

Run from the repository root:
    .venv/bin/python bench/bench_scan_gpu.py
"""

from __future__ import annotations

import sys

import torch

# Peak DRAM bandwidth by device-name fragment, GB/s (vendor datasheets).
PEAK_GBPS = {"H100 SXM": 3350, "H100 PCIe": 2000, "H100": 3350, "A100": 2039, "L4": 300}


def bench(fn, repeats: int = 20) -> float:
    """Median seconds of `fn()` measured with CUDA events after two warm-up calls."""
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def nbytes(*tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 0
    from dynlearn.ops import linear_scan, selective_scan

    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_GBPS.items() if k in name), None)
    print(f"{name}; peak bandwidth {peak or '?'} GB/s")
    gen = torch.Generator(device="cuda").manual_seed(0)
    cases = []
    for dtype in (torch.float32, torch.complex64):
        shape = (8, 4096, 2048)
        a = torch.rand(shape, device="cuda", generator=gen).to(dtype)
        b = torch.randn(shape, device="cuda", generator=gen).to(dtype)
        cases.append((f"linear_scan {dtype} {shape}", lambda be, a=a, b=b: linear_scan(a, b, backend=be),
                      [a, b], nbytes(a, b, b)))  # fmt: skip
    for dtype in (torch.float32, torch.bfloat16):
        Bsz, D, N, L = 8, 2048, 16, 4096

        def rn(*shape, dtype=dtype):
            return torch.randn(*shape, device="cuda", generator=gen).to(dtype)

        xs = [rn(Bsz, D, L), rn(Bsz, D, L), -torch.rand(D, N, device="cuda") - 0.5, rn(Bsz, N, L),
              rn(Bsz, N, L), rn(D, dtype=torch.float32), rn(Bsz, D, L), rn(D, dtype=torch.float32)]  # fmt: skip
        moved = nbytes(*xs) + nbytes(xs[0])  # inputs read once, y written once
        cases.append((f"selective_scan {dtype} B{Bsz} D{D} N{N} L{L}",
                      lambda be, xs=xs: selective_scan(*xs, delta_softplus=True, backend=be),
                      xs, moved))  # fmt: skip
    for label, op, inputs, moved in cases:
        row = []
        for backend in ("triton", "torch"):
            fwd = bench(lambda: op(backend))
            for t in inputs:  # the ops close over `inputs`: make them leaves for the backward
                t.requires_grad_(True)
            both = bench(lambda: op(backend).real.float().sum().backward())
            for t in inputs:
                t.requires_grad_(False)
                t.grad = None
            row.append((backend, fwd, both))
        (_, t_fwd, t_both), (_, p_fwd, p_both) = row
        gbps = moved / t_fwd / 1e9
        share = f" ({100 * gbps / peak:.0f}% of peak)" if peak else ""
        print(f"{label}: triton fwd {1e3 * t_fwd:.2f} ms = {gbps:.0f} GB/s{share}, "
              f"fwd+bwd {1e3 * t_both:.2f} ms; torch fwd {1e3 * p_fwd:.2f} ms, "
              f"fwd+bwd {1e3 * p_both:.2f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
