"""Load catalog.yaml and build systems from it by name."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

import yaml

from dynlearn._errors import ConfigError
from dynlearn.systems._equations import EQUATIONS, Equations
from dynlearn.systems._ode import ODESystem
from dynlearn.systems._spec import SystemSpec


@functools.cache
def load_catalog() -> Mapping[str, SystemSpec]:
    """The parsed catalogue, checked against the equation registry.

    Returns:
        Read-only mapping from system name to its `SystemSpec`, in catalogue order.

    Raises:
        ValueError: if an entry is malformed, has no equations, or its parameter names differ
            from the keyword arguments of its equations (binding is by name).
    """
    text = resources.files("dynlearn.systems").joinpath("catalog.yaml").read_text("utf-8")
    entries = yaml.safe_load(text)
    specs = {name: SystemSpec.from_entry(name, entry) for name, entry in entries.items()}
    for name, spec in specs.items():
        if name not in EQUATIONS:
            raise ValueError(f"catalogue entry {name!r} has no equations in _equations.EQUATIONS")
        _check_names(spec, EQUATIONS[name])
    return MappingProxyType(specs)


def list_ode_systems() -> list[str]:
    """Names of the catalogue ODE systems, in catalogue order."""
    return list(load_catalog())


def make_ode_system(name: str, **params: float | int) -> ODESystem:
    """Build a catalogue system, overriding parameters by name.

    Args:
        name: a name from `list_ode_systems()`, e.g. ``"lorenz63"``.
        **params: parameter overrides, e.g. ``rho=30.0``; others keep catalogue values.

    Returns:
        The system.

    Raises:
        ConfigError: for an unknown system or parameter (the message lists valid names) or a
            value of the wrong type.

    Example:
        >>> make_ode_system("lorenz63", rho=30.0).params["rho"]
        30.0
    """
    catalog = load_catalog()
    if name not in catalog:
        raise ConfigError(f"unknown system {name!r}; choose one of: {', '.join(catalog)}")
    return ODESystem(catalog[name], EQUATIONS[name], **params)


def _check_names(spec: SystemSpec, equations: Equations) -> None:
    expected = set(spec.params)
    for fn in (equations.rhs, equations.jacobian):
        keywords = {
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        if keywords != expected:
            raise ValueError(
                f"{fn.__name__} takes parameters {sorted(keywords)} but the catalogue entry "
                f"{spec.name!r} defines {sorted(expected)}"
            )
