"""Several steps as one compiled function: the fast path for generation on CPU and GPU.

Calling a small step function once per time step spends most of its time in Python and
kernel dispatch (an RK4 step of Lorenz-63 is ~50 tiny tensor ops). `torch.compile` of an
unrolled block of steps lets Inductor fuse the whole block into one loop over the batch, with
intermediates in registers. Inductor's C++ code for these pointwise float64 graphs rounds like
eager PyTorch, so results are bitwise identical to the eager loop on this CPU build (checked by
tests/solvers/test_fused.py); on other backends treat them as equal to round-off.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.solvers._rk import Step

_warned_fallback = False


class FusedSteps:
    """``n_steps`` applications of a step function as one call, compiled when possible.

    If compilation fails (no C++ compiler, an unsupported op), the block runs eagerly and a
    warning is issued once per process. Compilation happens on the first call and again for
    each new input shape, dtype or layout (``dynamic=False``: fixed shapes generate the
    fastest loops); pass contiguous inputs to avoid a second compilation. System parameters
    become constants in the compiled code: a new step with the same parameters reuses it, new
    parameter values compile again (Dynamo keeps 8 versions per process, then runs eagerly).

    Args:
        step: a one-step map, (..., D) -> (..., D).
        n_steps: steps per call; a multiple of `save_every`. Compile time grows with it
            (tens of seconds for ~20 RK4 steps); 10–30 is a good range for small ODEs.
        save_every: keep every `save_every`-th state.
        compile: compile with `torch.compile`; False gives the same block eagerly.

    Call:
        x (..., D) -> saved states (..., n_steps // save_every, D) after steps
        save_every, 2·save_every, ..., n_steps; the last one is where to continue from.
    """

    def __init__(self, step: Step, n_steps: int, *, save_every: int = 1, compile: bool = True):
        if n_steps < 1 or save_every < 1 or n_steps % save_every:
            raise ConfigError(
                f"cannot fuse {n_steps} steps saving every {save_every}; "
                "choose a positive number of steps that is a multiple of save_every"
            )
        self.step = step
        self.n_steps = n_steps
        self.save_every = save_every
        self._compiled = torch.compile(self._advance, dynamic=False) if compile else None

    def _advance(self, x: Tensor) -> Tensor:
        saved = []
        for i in range(1, self.n_steps + 1):
            x = self.step(x)
            if i % self.save_every == 0:
                saved.append(x)
        return torch.stack(saved, dim=-2)

    def __call__(self, x: Tensor) -> Tensor:
        if self._compiled is not None:
            try:
                return self._compiled(x)
            except torch._dynamo.exc.TorchDynamoException as err:
                # Errors in the step itself surface again, unwrapped, from the eager call.
                _warn_fallback(err)
                self._compiled = None
        return self._advance(x)


def _warn_fallback(err: Exception) -> None:
    global _warned_fallback
    if not _warned_fallback:
        _warned_fallback = True
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        warnings.warn(
            f"torch.compile failed ({first_line}); running fused steps eagerly, which is "
            "correct but slower. Install a C++ compiler (gcc/g++) for the fast path.",
            RuntimeWarning,
            stacklevel=3,
        )
