"""Judge variants of a catalogue system by a short batched simulation: bounded, and chaotic
exactly when the nominal system is (the rejection step of `sample_systems`)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.metrics import lyapunov_spectrum
from dynlearn.solvers import make_step, make_tangent_step
from dynlearn.systems._catalog import make_ode_system
from dynlearn.systems._equations import EQUATIONS
from dynlearn.systems._ode import ODESystem

FLOAT = torch.float64  # screening runs in float64 whatever the default dtype
ESCAPE = 1e6  # |x| beyond this counts as escaped; the orbit is frozen so no NaN reaches QR


@dataclass(frozen=True)
class Screening:
    """What `screen_systems` saw, one entry per system.

    Attributes:
        accepted: bounded, and chaotic exactly when the nominal system is, (N,) bool.
        lambda1: λ1 over the screening horizon, mean over each system's orbits, (N,).
        peak: max |x_i| over the screening horizon, (N,); inf if an orbit escaped.
        bound: the largest peak accepted, ``bound_factor · (nominal peak + 1)``.
        threshold: λ1 a system needed (nominal chaotic), or had to stay at or below (not).
    """

    accepted: Tensor
    lambda1: Tensor
    peak: Tensor
    bound: float
    threshold: float


def screen_systems(
    systems: Sequence[ODESystem],
    generator: torch.Generator,
    *,
    time: float | None = None,
    transient_time: float | None = None,
    ics: int = 4,
    bound_factor: float = 10.0,
    min_exponent: float = 0.01,
    fraction: float = 0.25,
) -> Screening:
    """Simulate variants of one catalogue system side by side and judge their attractors.

    Each system gets `ics` orbits from the catalogue's initial box, run through a transient
    and then `time` more with λ1 estimated along the way (QR/Benettin on the exact RK4 tangent
    map); the nominal system (catalogue parameters) runs in the same batch as the reference.
    A system passes if no orbit leaves ``bound_factor · (nominal peak |x| + 1)`` and, when the
    nominal is chaotic, its mean λ1 exceeds ``max(min_exponent, fraction · nominal λ1)``;
    when the nominal is not chaotic, its λ1 must stay ≤ `min_exponent`.

    Args:
        systems: N variants of one catalogue system (same name and dimension).
        generator: draws the initial conditions and tangent vectors.
        time: screening horizon (time units); defaults to 20 nominal Lyapunov times, or
            4 / `min_exponent` when the nominal is not chaotic (a limit cycle's finite-time λ1
            is ~1/T: at the catalogue transient time Van der Pol lost 16 % of good draws).
        transient_time: time from the initial box to the attractor before screening starts;
            defaults to the catalogue's.
        ics: orbits per system.
        bound_factor: how far beyond the nominal attractor an orbit may go.
        min_exponent: the λ1 that separates chaos from regular motion on this horizon.
        fraction: of the nominal λ1 a chaotic variant must keep.

    Returns:
        The verdicts and the quantities they rest on.

    Raises:
        ConfigError: if the nominal system itself fails (too short a horizon for its λ1, or
            `min_exponent` above it, e.g. Thomas at the edge of chaos, b = 0.208, where λ1 ≈ 0.006).
    """
    spec = systems[0].spec
    if any(s.spec is not spec or s.dim != systems[0].dim for s in systems):
        raise ConfigError("screen_systems takes variants of one system; screen each separately")
    integers = {k: v for k, v in systems[0].params.items() if isinstance(v, int)}
    nominal = make_ode_system(spec.name, **integers)
    reference = make_ode_system(spec.name)  # the catalogue's own Lyapunov time sets the horizon
    if time is None:
        lyapunov_time = reference.lyapunov_time
        # A regular orbit's finite-time λ1 is ~1/T, so resolving `min_exponent` takes T ≫ 1/it.
        time = 20 * lyapunov_time if spec.chaotic and lyapunov_time else 4 / min_exponent
    group = [*systems, nominal]
    transient = spec.transient_time if transient_time is None else transient_time
    lam, peak = _simulate(group, ics, time, transient, generator)
    bound = bound_factor * (peak[-1].item() + 1)
    if spec.chaotic:
        threshold = max(min_exponent, fraction * lam[-1].item())
        regular = lam > threshold
    else:
        threshold = min_exponent
        regular = lam <= threshold
    accepted = (peak <= bound) & regular
    if not accepted[-1]:  # the test itself is wrong for this system, not the draws
        raise ConfigError(
            f"the nominal {spec.name} fails its own screening (λ1 = {lam[-1].item():.4f} over "
            f"T = {time:g}, threshold {threshold:.4f}); lengthen the screening time or set "
            f"min_exponent below its λ1"
        )
    return Screening(accepted[:-1], lam[:-1], peak[:-1], bound, threshold)


def _simulate(
    group: Sequence[ODESystem], ics: int, time: float, transient: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """λ1 (mean over orbits) and peak |x| of each system, (N,) each; one batch if possible."""
    spec, dt = group[0].spec, group[0].dt
    x = spec.draw_from_box(len(group) * ics, group[0].dim, generator, FLOAT)
    field = _batched_field(group, ics, x)
    if field is None:  # equations that cannot take a batch of parameters: one at a time
        results = [_simulate([s], ics, time, transient, generator) for s in group]
        return torch.cat([r[0] for r in results]), torch.cat([r[1] for r in results])
    step, tangent = make_step(field, dt), make_tangent_step(field, dt)
    escaped = torch.zeros(x.shape[0], dtype=torch.bool)
    peak = torch.zeros(x.shape[0], dtype=FLOAT)

    def guarded(x: Tensor, q: Tensor) -> tuple[Tensor, Tensor]:
        nonlocal escaped, peak
        x_next, q_next = tangent(x, q)
        size = x_next.abs().amax(-1)
        bad = ~(size <= ESCAPE)  # also catches NaN
        escaped |= bad
        peak = torch.maximum(peak, torch.where(bad, 0.0, size))
        return torch.where(bad[:, None], x, x_next), torch.where(bad[:, None, None], q, q_next)

    with torch.no_grad():
        for _ in range(round(transient / dt)):
            x_next = step(x)
            bad = ~(x_next.abs().amax(-1) <= ESCAPE)
            escaped |= bad
            x = torch.where(bad[:, None], x, x_next)
    n_steps = max(1, round(time / dt))
    result = lyapunov_spectrum(
        step,
        x,
        n_steps,
        dt=dt,
        n_exponents=1,
        n_transient=n_steps // 10,
        tangent=guarded,
        qr_every=5,
        generator=generator,
    )
    peak = torch.where(escaped, math.inf, peak)
    return result.per_ic[:, 0].view(-1, ics).mean(1), peak.view(-1, ics).amax(1)


@dataclass(frozen=True)
class _Field:
    rhs: Callable[[Tensor | float, Tensor], Tensor]
    jacobian: Callable[[Tensor], Tensor]


def _batched_field(group: Sequence[ODESystem], ics: int, probe: Tensor) -> _Field | None:
    """The vector field of all systems at once, parameters as tensors over the batch.

    The equations bind plain scalars, so whether a (B,) or a (B, 1) parameter broadcasts
    right depends on how each one is written; both are tried and checked against the systems
    one by one at `probe` (B, D). None if neither agrees.
    """
    equations = EQUATIONS[group[0].name]
    names = group[0].params
    varying = [k for k in names if len({s.params[k] for s in group}) > 1]
    for shape in ((-1,), (-1, 1)):
        params = dict(group[0].params)
        for k in varying:
            values = torch.tensor([float(s.params[k]) for s in group], dtype=FLOAT)
            params[k] = values.repeat_interleave(ics).view(shape)
        field = _Field(
            functools.partial(equations.rhs, **params),
            functools.partial(equations.jacobian, **params),
        )
        rows = probe.view(len(group), ics, -1)
        try:
            rhs, jac = field.rhs(0.0, probe), field.jacobian(probe)
        except (RuntimeError, TypeError):  # e.g. a Python `if` on a parameter
            continue
        expected_rhs = torch.cat([s.rhs(0.0, r) for s, r in zip(group, rows)])
        expected_jac = torch.cat([s.jacobian(r) for s, r in zip(group, rows)])
        if (
            rhs.shape == expected_rhs.shape
            and jac.shape == expected_jac.shape
            and torch.allclose(rhs, expected_rhs, rtol=1e-12, atol=1e-12)
            and torch.allclose(jac, expected_jac, rtol=1e-12, atol=1e-12)
        ):
            return field
    return None
