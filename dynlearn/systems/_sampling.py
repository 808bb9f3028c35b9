"""Catalogue systems with parameters drawn near the published ones, kept only if a short
batched simulation shows the same kind of attractor (bounded; chaotic iff the nominal is)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Literal

import torch

from dynlearn._errors import ConfigError
from dynlearn.systems._catalog import load_catalog, make_ode_system
from dynlearn.systems._ode import ODESystem
from dynlearn.systems._screening import FLOAT, screen_systems
from dynlearn.systems._spec import SystemSpec


def sample_systems(
    name: str,
    n: int,
    generator: torch.Generator,
    *,
    spread: float = 0.1,
    distribution: Literal["lognormal", "uniform"] = "lognormal",
    vary: Sequence[str] | None = None,
    screen_time: float | None = None,
    screen_transient: float | None = None,
    min_exponent: float = 0.01,
    max_draws: int | None = None,
) -> list[ODESystem]:
    """`n` systems with each real parameter perturbed multiplicatively, screened by simulation.

    A parameter p becomes p·exp(spread·z), z ~ N(0, 1) ("lognormal"), or p·(1 + spread·u),
    u ~ U(-1, 1) ("uniform"); integer parameters (e.g. Lorenz-96's n) stay fixed. Draws are
    screened in rounds by `screen_systems`, one batched simulation per round, and kept in
    draw order. The result depends only on `generator`'s state.

    Args:
        name: a catalogue system, e.g. ``"lorenz63"``.
        n: number of systems wanted.
        generator: draws the parameters, initial conditions and tangent vectors.
        spread: relative scale of the perturbation (> 0; < 1 for "uniform").
        distribution: "lognormal" or "uniform" (see above).
        vary: the parameters to perturb; defaults to every non-integer one.
        screen_time: screening horizon (time units); see `screen_systems`.
        screen_transient: time from the initial box to the attractor; see `screen_systems`.
        min_exponent: the λ1 that counts as chaos; see `screen_systems`.
        max_draws: give up after this many draws; defaults to 10·n + 10.

    Returns:
        `n` systems, their parameters in ``system.params``.

    Raises:
        ConfigError: for an unknown system or parameter, a bad spread, or too few draws
            passing the screening.
    """
    spec = _spec(name)
    names = _varied(name, vary)
    if not spread > 0 or (distribution == "uniform" and spread >= 1):
        limit = " and < 1 for uniform draws (signs must not flip)" if spread > 0 else ""
        raise ConfigError(f"spread must be > 0{limit}, got {spread!r}; use e.g. spread=0.1")
    if distribution not in ("lognormal", "uniform"):
        raise ConfigError(f"unknown distribution {distribution!r}; use 'lognormal' or 'uniform'")
    if n < 1:
        raise ConfigError(f"sample_systems needs n >= 1, got {n}")
    cap = 10 * n + 10 if max_draws is None else max_draws
    accepted: list[ODESystem] = []
    drawn = 0
    while len(accepted) < n and drawn < cap:
        m = min(cap - drawn, 2 * (n - len(accepted)) + 2)  # expect some rejections
        shape = (m, len(names))
        if distribution == "lognormal":
            factors = torch.exp(spread * torch.randn(shape, generator=generator, dtype=FLOAT))
        else:
            factors = 1 + spread * (2 * torch.rand(shape, generator=generator, dtype=FLOAT) - 1)
        draws = [
            make_ode_system(name, **{k: spec.params[k] * f for k, f in zip(names, row)})
            for row in factors.tolist()
        ]
        drawn += m
        screening = screen_systems(
            draws,
            generator,
            time=screen_time,
            transient_time=screen_transient,
            min_exponent=min_exponent,
        )
        accepted += [s for s, ok in zip(draws, screening.accepted.tolist()) if ok]
    if len(accepted) < n:
        kind = "chaotic" if spec.chaotic else "non-chaotic"
        raise ConfigError(
            f"only {len(accepted)} of {drawn} draws of {name!r} at spread={spread} stayed "
            f"bounded and {kind} (needed {n}); lower spread"
        )
    return accepted[:n]


def _spec(name: str) -> SystemSpec:
    catalog = load_catalog()
    if name not in catalog:
        close = difflib.get_close_matches(name, list(catalog), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"choose one of: {', '.join(catalog)}"
        raise ConfigError(f"unknown system {name!r}; {hint}")
    return catalog[name]


def _varied(name: str, vary: Sequence[str] | None) -> list[str]:
    """The parameters to perturb: the requested ones, checked, or every real-valued one."""
    params = _spec(name).params
    real = [k for k, v in params.items() if not isinstance(v, int)]
    if vary is None:
        return real
    for key in vary:
        if key not in real:
            why = "is an integer (fixed)" if key in params else "does not exist"
            raise ConfigError(
                f"cannot vary parameter {key!r} of {name!r}: it {why}; vary some of: "
                f"{', '.join(real)}"
            )
    return list(vary)
