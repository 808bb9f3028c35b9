"""Lyapunov spectra from tangent dynamics: Jacobian products re-orthonormalized by QR.

The estimator works on any one-step map, so the same code gives the ground truth of a
simulated system (through its RK4 step) and the exponents of a learned model's `step`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from dynlearn._errors import ConfigError

if TYPE_CHECKING:
    from dynlearn.systems import ODE

Step = Callable[[Tensor], Tensor]
TangentStep = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class LyapunovResult:
    """Lyapunov exponents, in inverse time units, sorted from largest.

    Attributes:
        exponents: mean over initial conditions, (K,).
        per_ic: one estimate per initial condition, (B, K).
        stderr: standard error of the mean over initial conditions, (K,); NaN when B = 1.
    """

    exponents: Tensor
    per_ic: Tensor
    stderr: Tensor


def lyapunov_spectrum(
    step: Step,
    x0: Tensor,
    n_steps: int,
    *,
    dt: float,
    n_exponents: int | None = None,
    n_transient: int = 0,
    jacobian: Step | None = None,
    tangent: TangentStep | None = None,
    qr_every: int = 1,
    generator: torch.Generator | None = None,
) -> LyapunovResult:
    """The K leading Lyapunov exponents of a map, averaged over a batch of orbits.

    Benettin et al. (1980) / Shimada & Nagashima (1979): propagate K tangent vectors with the
    Jacobian of the step, Q ← J(x_t) Q, re-orthonormalize with a QR decomposition every
    `qr_every` steps and accumulate log|R_ii|; λ_i = Σ log|R_ii| / (n_steps · dt). The first
    `n_transient` steps move the state and the tangent vectors but are not counted, so Q is
    aligned with the Oseledets directions before averaging starts. The finite-time error
    decays like 1/(n_steps · dt), with fluctuations that shrink with more orbits.

    The step must treat rows independently (no coupling across the batch, e.g. batch norm in
    training mode). Runs without building an autograd graph. For small systems on a busy
    CPU prefer ``torch.set_num_threads(1)``: batched QR of tiny matrices gains nothing from
    threads, and a 2-thread team waiting for a busy core is ~500× slower per call.

    Args:
        step: the map, (B, M) -> (B, M): an RK4 step of an ODE, a learned model's `step`,
            or a discrete map.
        x0: initial states (B, M), ideally on the attractor.
        n_steps: steps over which the exponents are averaged.
        dt: time per step (1 for maps; the step size for flows).
        n_exponents: K <= M; defaults to M (the full spectrum).
        n_transient: steps of state and tangent dynamics before averaging.
        jacobian: closed-form Jacobian of `step`, (B, M) -> (B, M, M). Without it (and
            without `tangent`), J·Q comes from forward-mode autodiff of `step`
            (`torch.func.jvp`, vectorized over the K vectors).
        tangent: the step and its tangent map in one call, (x (B, M), V (B, M, K)) ->
            (step(x), J(x) V), e.g. `dynlearn.solvers.make_tangent_step`; the fastest option.
            Replaces `step` and `jacobian` when given.
        qr_every: steps between QR decompositions. Larger is cheaper; it must stay small
            enough that ‖J^qr_every‖ neither overflows nor collapses the K vectors onto one.
        generator: draws the random orthonormal initial tangent vectors; defaults to a fixed
            seed, so results are reproducible.

    Returns:
        The exponents, per orbit and averaged, in inverse time units.
    """
    n_batch, dim = x0.shape
    k = dim if n_exponents is None else n_exponents
    if not 1 <= k <= dim or n_steps < 1 or n_transient < 0 or qr_every < 1:
        raise ConfigError(
            f"cannot estimate {k} exponents of a {dim}-dimensional map over {n_steps} steps "
            f"(transient {n_transient}, QR every {qr_every}); use 1 <= n_exponents <= {dim}, "
            "n_steps >= 1, n_transient >= 0, qr_every >= 1"
        )
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    gaussian = torch.randn(n_batch, dim, k, generator=generator, dtype=x0.dtype)
    q = torch.linalg.qr(gaussian.to(x0.device)).Q  # (B, M, K)
    if tangent is None:
        tangent = _tangent_map(step, jacobian)

    with torch.no_grad():
        x, q, _ = _propagate(tangent, x0, q, n_transient, qr_every)
        x, q, log_growth = _propagate(tangent, x, q, n_steps, qr_every)
    per_ic = log_growth / (n_steps * dt)  # (B, K)
    stderr = (
        per_ic.std(dim=0) / math.sqrt(n_batch)
        if n_batch > 1
        else torch.full((k,), math.nan, dtype=per_ic.dtype, device=per_ic.device)
    )
    return LyapunovResult(exponents=per_ic.mean(dim=0), per_ic=per_ic, stderr=stderr)


def system_lyapunov_spectrum(
    system: ODE,
    n_ics: int,
    time: float,
    *,
    generator: torch.Generator,
    dt: float | None = None,
    transient_time: float | None = None,
    n_exponents: int | None = None,
    qr_every: int = 1,
) -> LyapunovResult:
    """The Lyapunov spectrum of a simulated system, through its RK4 step.

    Orbits start on the attractor (`sample_initial_conditions`); the tangent map is the exact
    Jacobian of the RK4 step from the system's analytic Jacobian (`make_tangent_step`), so the
    result is the spectrum of the discretized flow, within O(dt^4) of the flow's.

    Args:
        system: the system (an `ODE`: the tangent map needs its dense Jacobian).
        n_ics: number of orbits B, run as one batch.
        time: averaging time per orbit (time units).
        generator: draws the initial conditions and tangent vectors.
        dt: step size; defaults to ``system.dt``.
        transient_time: tangent-vector transient (time units); defaults to 10 Lyapunov times
            when the Lyapunov time is known, else 10% of `time`.
        n_exponents: how many exponents; defaults to all.
        qr_every: steps between QR decompositions.

    Returns:
        The spectrum, in inverse time units of the system.
    """
    from dynlearn.solvers import make_step, make_tangent_step  # only simulated systems need them

    h = system.dt if dt is None else dt
    if transient_time is None:
        lyapunov_time = system.lyapunov_time
        transient_time = 10 * lyapunov_time if lyapunov_time else 0.1 * time
    x0 = system.sample_initial_conditions(n_ics, generator)
    return lyapunov_spectrum(
        make_step(system, h),
        x0,
        round(time / h),
        dt=h,
        n_exponents=n_exponents,
        n_transient=round(transient_time / h),
        tangent=make_tangent_step(system, h),
        qr_every=qr_every,
        generator=generator,
    )


def _tangent_map(step: Step, jacobian: Step | None) -> TangentStep:
    """(x, Q) -> (step(x), J(x) Q) with J closed-form or by forward-mode autodiff."""
    if jacobian is not None:
        return lambda x, q: (step(x), jacobian(x) @ q)

    def push(x: Tensor, q: Tensor) -> tuple[Tensor, Tensor]:
        # Rows are independent, so one jvp of the batched step gives J_b v_b for every b.
        if q.shape[-1] == 1:  # λ_max alone: one plain jvp gives the step too, without vmap's per-op cost
            y, tangent = torch.func.jvp(step, (x,), (q[..., 0],))
            return y, tangent.unsqueeze(-1)

        def directional(v: Tensor) -> Tensor:
            return torch.func.jvp(step, (x,), (v,))[1]

        return step(x), torch.func.vmap(directional, in_dims=-1, out_dims=-1)(q)

    return push


def _propagate(
    tangent: TangentStep,
    x: Tensor,
    q: Tensor,
    n_steps: int,
    qr_every: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Advance states (B, M) and tangent vectors (B, M, K); return Σ log|R_ii|, (B, K)."""
    log_growth = x.new_zeros(q.shape[0], q.shape[-1])
    for i in range(1, n_steps + 1):
        x, q = tangent(x, q)
        if i % qr_every == 0 or i == n_steps:
            q, r = torch.linalg.qr(q)
            diag = torch.diagonal(r, dim1=-2, dim2=-1)  # (B, K)
            log_growth += diag.abs().log()
            # Fix signs so that R has a positive diagonal: Q then evolves continuously.
            q = q * (1 - 2 * (diag < 0).to(q.dtype)).unsqueeze(-2)
    return x, q, log_growth
