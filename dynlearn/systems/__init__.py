"""Simulated dynamical systems (ground truth): a catalogue of ODEs bound to their equations."""

from dynlearn.systems._base import AbstractSystem
from dynlearn.systems._catalog import list_systems, load_catalog, make_system
from dynlearn.systems._ode import ODESystem
from dynlearn.systems._spec import SystemSpec

__all__ = [
    "AbstractSystem",
    "ODESystem",
    "SystemSpec",
    "list_systems",
    "load_catalog",
    "make_system",
]
