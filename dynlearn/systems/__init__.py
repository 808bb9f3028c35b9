"""Simulated dynamical systems (ground truth): a catalogue of ODEs bound to their equations."""

from dynlearn.systems._base import ODE, AbstractSystem, EvolutionEquation, SpectralPDE
from dynlearn.systems._catalog import list_ode_systems, load_catalog, make_ode_system
from dynlearn.systems._ks import KuramotoSivashinsky
from dynlearn.systems._navier_stokes import NavierStokes2D
from dynlearn.systems._observation_noise import add_observation_noise
from dynlearn.systems._registry import FIELD_SYSTEMS, GRID_SYSTEMS, list_systems, make_system
from dynlearn.systems._ode import ODESystem
from dynlearn.systems._sde import SDESystem, make_sde, simulate_sde
from dynlearn.systems._sampling import sample_systems
from dynlearn.systems._screening import Screening, screen_systems
from dynlearn.systems._spec import ComputedLyapunov, SystemSpec
from dynlearn.systems.river import RiverBasin, RiverConfig, RiverSystem, simulate_river_dataset

__all__ = [
    "AbstractSystem",
    "ComputedLyapunov",
    "EvolutionEquation",
    "FIELD_SYSTEMS",
    "GRID_SYSTEMS",
    "KuramotoSivashinsky",
    "NavierStokes2D",
    "ODE",
    "ODESystem",
    "RiverBasin",
    "RiverConfig",
    "RiverSystem",
    "SDESystem",
    "Screening",
    "SpectralPDE",
    "SystemSpec",
    "add_observation_noise",
    "list_ode_systems",
    "list_systems",
    "load_catalog",
    "make_sde",
    "make_ode_system",
    "make_system",
    "sample_systems",
    "screen_systems",
    "simulate_river_dataset",
    "simulate_sde",
]
