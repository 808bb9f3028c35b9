"""The project's C++ CPU kernels, compiled on first use, and the one line saying why one did not build.

`torch.utils.cpp_extension.load` compiles a source (g++ and ninja, OpenMP for `at::parallel_for`)
into torch's extension cache (``TORCH_EXTENSIONS_DIR`` if set, else ``~/.cache/torch_extensions``)
and imports it; later loads reuse the cached build. Every kernel has a PyTorch path to fall back on.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch


def cpu_flags() -> list[str]:
    """AVX2 + FMA when this CPU has them (the extension's name records the choice)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split() for line in info.splitlines() if line.startswith("flags")), [])
    return ["-mavx2", "-mfma"] if {"avx2", "fma"} <= set(flags) else []


def load_extension(name: str, source: Path) -> ModuleType:
    """Compile (or load from the cache) and import the extension `name` built from `source`.

    Raises:
        RuntimeError: no C++ compiler, a missing source, or a failed build.
    """
    if shutil.which("c++") is None and shutil.which("g++") is None:
        raise RuntimeError("no C++ compiler on PATH (apt-get install g++)")
    if not source.is_file():
        raise RuntimeError(f"{source} is missing (not installed with the package)")
    from torch.utils.cpp_extension import load

    arch = cpu_flags()
    return load(name=name + ("_avx2" if arch else ""), sources=[str(source)],
                extra_cflags=["-O3", "-fopenmp", *arch], extra_ldflags=["-fopenmp"], verbose=False)


def takes(*tensors: torch.Tensor | None) -> bool:
    """Whether a fused CPU kernel takes these tensors (None ones ignored): on the CPU, float32 or
    float64, all of one dtype."""
    present = [t for t in tensors if t is not None]
    dtypes = {t.dtype for t in present}
    return len(dtypes) == 1 and dtypes <= {torch.float32, torch.float64} and all(t.device.type == "cpu" for t in present)


def why_not_built(load: Callable[[], ModuleType], what: str, fallback: str) -> str | None:
    """None when `load()` succeeds, else one line: ``the fused CPU <what> did not build (<the
    error's first line>); running <fallback>``."""
    try:
        load()
    except (OSError, RuntimeError, ImportError, subprocess.SubprocessError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"the fused CPU {what} did not build ({first}); running {fallback}"
    return None


def build_command(status: Callable[[], str | None], what: str) -> None:
    """The ``python -m <kernel module> --build`` command: build the fused CPU `what` now (timed),
    or exit with `status`'s line saying why not."""
    parser = argparse.ArgumentParser(description=f"Build the fused CPU {what}.")
    parser.add_argument("--build", action="store_true", help="compile it into the cache now")
    if not parser.parse_args().build:
        parser.error("nothing to do: pass --build")
    start = time.perf_counter()
    reason = status()
    if reason is not None:
        raise SystemExit(reason)
    print(f"fused CPU {what} ready ({time.perf_counter() - start:.1f} s)")
