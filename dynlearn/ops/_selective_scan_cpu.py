"""The fused CPU kernel of `selective_scan`: a C++ extension built on first use.

`csrc/selective_scan_cpu.cpp` runs each (batch row, channel) as a sequential scan with its
N-state in a small buffer (vectorised over N, parallel over B·D with `at::parallel_for`) and
never forms a (B, D, L, N) tensor: the forward saves the state at the start of every `CHUNK`
steps, the hand-written backward recomputes one chunk at a time and runs the adjoint backwards.
The extension is compiled by `torch.utils.cpp_extension.load` (g++ and ninja) into torch's
extension cache (``TORCH_EXTENSIONS_DIR`` if set, else ``~/.cache/torch_extensions``); `status`
says why it is unavailable when it cannot build, and `selective_scan` then runs its chunked
PyTorch path. ``python -m dynlearn.ops._selective_scan_cpu --build`` builds it ahead of time.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import final

import torch
import torch.nn.functional as F
from torch import Tensor

from .._cpp_extension import build_command, load_extension, why_not_built

CHUNK = 64  # steps between saved states: memory B·D·N·L/64, recompute buffer (65, N) per task
GROUP = 32  # channels per dB/dC partial: B·(D/32)·L·N floats each, independent of threads
SOURCE = Path(__file__).parent / "csrc" / "selective_scan_cpu.cpp"


@functools.cache
def _load() -> ModuleType:
    """Compile (or load from the cache) and import the extension; raises if it cannot."""
    return load_extension("dynlearn_selective_scan_cpu", SOURCE)


@functools.cache
def status() -> str | None:
    """None when the fused kernel is loaded (building it if needed), else why not (one line)."""
    return why_not_built(_load, "selective scan", "the chunked path")


@final
class SelectiveScanCpuFn(torch.autograd.Function):
    """Autograd wrapper: fused forward (chunk-start states saved), fused recompute-backward."""

    @staticmethod
    def forward(ctx, u, delta, A, Bt, Ct, D, z, delta_bias, delta_softplus):
        y, last, chk = _load().forward(u, delta, A, Bt, Ct, D, z, delta_bias, delta_softplus, CHUNK)
        ctx.save_for_backward(u, delta, A, Bt, Ct, D, z, delta_bias, chk)
        ctx.delta_softplus, ctx.chunk = delta_softplus, CHUNK
        return y, last

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy, dlast):
        u, delta, A, Bt, Ct, D, z, delta_bias, chk = ctx.saved_tensors
        du, ddelta, dz, dA, dB, dC, dD, dbias = _load().backward(
            u, delta, A, Bt, Ct, D, z, delta_bias, ctx.delta_softplus, chk, dy.contiguous(),
            dlast.contiguous(), ctx.chunk, GROUP,
        )  # fmt: skip
        return (
            du, ddelta, dA.sum(0), dB.sum(1), dC.sum(1),
            dD.sum(0) if D is not None else None, dz if z is not None else None,
            dbias.sum(0) if delta_bias is not None else None, None,
        )  # fmt: skip


def selective_scan_cpu(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
    """`selective_scan` on the fused kernel; arguments as there (CPU, float32 or float64)."""
    # B and C go time-major (B, L, N), so one step's N values are contiguous; N is padded with
    # zeros to a multiple of 8 for the kernel's vectors (padded states stay 0, grads are cut off).
    N = A.shape[-1]
    pad = (0, -N % 8)
    Bt, Ct = (F.pad(x.transpose(1, 2), pad).contiguous() for x in (B, C))
    u, delta, A = u.contiguous(), delta.contiguous(), F.pad(A, pad).contiguous()
    D, z, delta_bias = (x.contiguous() if x is not None else None for x in (D, z, delta_bias))
    y, last = SelectiveScanCpuFn.apply(u, delta, A, Bt, Ct, D, z, delta_bias, bool(delta_softplus))
    return (y, last[..., :N]) if return_last_state else y


if __name__ == "__main__":
    build_command(status, "selective scan")
