"""Which implementation of a scan op runs: the sequential reference, the CPU path or Triton.

Triton is imported lazily and only through `triton_status()`, so `import dynlearn.ops` works
on machines without it. On a machine without a GPU the Triton kernels run in Triton's
interpreter when ``TRITON_INTERPRET=1`` is set before the kernel modules are imported (the
tests do this); that checks values and gradients, not speed.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

from .._errors import ConfigError

BACKENDS = ("ref", "torch", "triton")


@functools.cache
def triton_status() -> str | None:
    """None when Triton kernels can launch here, else the reason they cannot (one line)."""
    if importlib.util.find_spec("triton") is None:
        return "Triton is not installed (pip install 'triton==3.9.*')"
    try:
        import triton  # noqa: F401
    except ImportError as error:  # a broken install, or blocked on purpose in a test
        return f"Triton cannot be imported ({error})"
    if os.environ.get("TRITON_INTERPRET") == "1" or torch.cuda.is_available():
        return None
    return "Triton needs a CUDA device, or TRITON_INTERPRET=1 set before dynlearn.ops kernels load"


def resolve_backend(backend: str | None, *tensors: torch.Tensor) -> str:
    """The backend to run: `backend` if given (checked), else Triton on CUDA tensors, else torch.

    Args:
        backend: None (choose), or one of ``"ref"``, ``"torch"``, ``"triton"``.
        tensors: the op's inputs; their device decides the default.

    Raises:
        ConfigError: an unknown backend name, or ``"triton"`` where Triton cannot run (there is
            never a silent fallback from an explicit choice).
    """
    if backend is None:
        on_cuda = any(t is not None and t.is_cuda for t in tensors)
        return "triton" if on_cuda and triton_status() is None else "torch"
    if backend not in BACKENDS:
        raise ConfigError(f"unknown scan backend {backend!r}; use one of {BACKENDS} or None")
    if backend == "triton":
        reason = triton_status()
        if reason is not None:
            raise ConfigError(f"backend='triton' cannot run here: {reason}; use backend='torch'")
    return backend
