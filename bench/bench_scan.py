"""CPU scan ops: the fused kernel and the chunked path against the sequential reference.

Forward + backward. selective_scan at B = 2, D = 256, N = 16, L = 2048 (fp32, with D, z,
delta_bias, softplus), linear_scan complex64 at (2, 2048, 1024) (as many state elements per step
as the selective scan) and at (4, 16384, 16) (narrow and long), each timed in one process with
one thread (best of `--repeats`; the reference once), printed with their ratio. The selective
scan runs three ways: "fused" (the C++ kernel that backend="torch" runs; built before any timing),
"chunked" (the PyTorch path, forced by making the kernel's `status` say no) and the reference.
Saved-tensor bytes (what autograd keeps between forward and backward, summed by a
`saved_tensors_hooks` pack hook) are printed for each. Peak memory is measured separately, one
fresh subprocess per variant: the growth of the process's peak RSS (``VmHWM`` in
/proc/self/status) from just before to just after one forward + backward, inputs already
allocated (and the extension loaded). (``ru_maxrss`` would not do: after fork + exec a child
inherits its parent's peak.)

Run from the repository root:
    .venv/bin/python bench/bench_scan.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import time

import torch

from dynlearn.ops import _selective_scan_cpu, linear_scan, selective_scan

CASES = ("selective", "linear", "linear-narrow")


def inputs(case: str) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    if case == "selective":
        Bsz, D, N, L = 2, 256, 16, 2048

        def rn(*shape):
            return torch.randn(*shape, generator=gen)

        A = -(1 + 15 * torch.rand(D, N, generator=gen))
        return [rn(Bsz, D, L), rn(Bsz, D, L), A, rn(Bsz, N, L), rn(Bsz, N, L), rn(D),
                rn(Bsz, D, L), rn(D)]  # fmt: skip
    shape = (2, 2048, 1024) if case == "linear" else (4, 16384, 16)
    a = torch.polar(torch.rand(shape, generator=gen), 6.3 * torch.rand(shape, generator=gen))
    b = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    return [a, b]


@contextlib.contextmanager
def variant(name: str):
    """The backend for "fused", "chunked" or "ref"; "chunked" switches the fused kernel off."""
    status = _selective_scan_cpu.status
    if name == "chunked":
        _selective_scan_cpu.status = lambda: "switched off by the benchmark"
    try:
        yield "ref" if name == "ref" else "torch"
    finally:
        _selective_scan_cpu.status = status


def call(case: str, backend: str, xs: list[torch.Tensor]) -> torch.Tensor:
    if case == "selective":
        return selective_scan(*xs, delta_softplus=True, backend=backend)
    return linear_scan(*xs, backend=backend)


def run(case: str, name: str, xs: list[torch.Tensor]) -> None:
    """One forward + backward of variant `name` ("fused", "chunked" or "ref")."""
    xs = [x.detach().requires_grad_() for x in xs]
    with variant(name) as backend:
        call(case, backend, xs).real.square().sum().backward()


def saved_mib(case: str, name: str) -> float:
    """MiB of tensors autograd saves for the backward (views of inputs counted at their size)."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    xs = [x.detach().requires_grad_() for x in inputs(case)]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), variant(name) as backend:
        call(case, backend, xs)
    return total / 2**20


def timed(case: str, name: str, repeats: int) -> float:
    xs, best = inputs(case), float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(case, name, xs)
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_growth(case: str, name: str) -> float:
    """MiB by which one forward + backward raises the peak RSS of a fresh process."""
    code = (
        "import torch, sys; sys.path.insert(0, 'bench'); torch.set_num_threads(1)\n"
        "import bench_scan as b\n"
        f"xs = b.inputs({case!r})\n"
        "b._selective_scan_cpu.status()\n"  # load the extension before the window opens
        "before = b.peak_rss_kib()\n"
        f"b.run({case!r}, {name!r}, xs)\n"
        "print(b.peak_rss_kib() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def peak_rss_kib() -> int:
    """This process's peak resident set size (VmHWM), KiB."""
    with open("/proc/self/status") as status:
        line = next(row for row in status if row.startswith("VmHWM:"))
    return int(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.2f}, 1 thread")  # fmt: skip
    fused = _selective_scan_cpu.status()  # builds the extension now, outside the timings
    print(f"fused CPU selective scan: {fused or 'built'}")
    for case in CASES:
        names = ["chunked", "ref"]
        if case == "selective" and fused is None:
            names.insert(0, "fused")
        secs = {n: timed(case, n, 1 if n == "ref" else args.repeats) for n in names}
        mem = {n: peak_rss_growth(case, n) for n in names}
        saved = {n: saved_mib(case, n) for n in names}
        for n in names[:-1]:
            print(f"{case:13s} fwd+bwd: {n} {secs[n]:7.3f} s, reference {secs['ref']:7.3f} s, "
                  f"ratio {secs['ref'] / secs[n]:5.1f}x; peak RSS growth {n} {mem[n]:6.1f} MiB, "
                  f"reference {mem['ref']:6.1f} MiB; saved tensors {n} {saved[n]:6.1f} MiB, "
                  f"reference {saved['ref']:6.1f} MiB")  # fmt: skip

if __name__ == "__main__":
    main()
