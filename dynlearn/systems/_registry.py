"""Every system by name: the ODE catalogue, the stochastic systems (SDEs), the field systems (PDEs)
and the grid systems (the river basin)."""

from __future__ import annotations

import difflib
import inspect

from dynlearn._errors import ConfigError
from dynlearn.systems._base import AbstractSystem
from dynlearn.systems._catalog import list_ode_systems, load_catalog, make_ode_system
from dynlearn.systems._ks import KuramotoSivashinsky
from dynlearn.systems._navier_stokes import NavierStokes2D
from dynlearn.systems._sde import list_sdes, make_sde
from dynlearn.systems.river import RiverSystem

# Systems other than the catalogue ODEs, built from their constructors' keyword arguments:
# fields on a periodic domain (PDEs), and systems on a geographic grid.
FIELD_SYSTEMS = {"ks": KuramotoSivashinsky, "navier_stokes_2d": NavierStokes2D}
GRID_SYSTEMS = {"river": RiverSystem}
_CONSTRUCTED = {**FIELD_SYSTEMS, **GRID_SYSTEMS}


def list_systems() -> list[str]:
    """Every name `make_system` accepts: the catalogue ODEs, the SDEs, then the field and grid systems."""
    return [*list_ode_systems(), *list_sdes(), *_CONSTRUCTED]


def make_system(name: str, *, dt: float | None = None, **params) -> AbstractSystem:
    """Build any system by name: a catalogue ODE, an SDE, a field or a grid system, parameters by name.

    Args:
        name: one of `list_systems()`.
        dt: the step size, for field systems whose initial-condition transient is stepped
            with it and SDEs (their Euler–Maruyama step); catalogue ODEs keep their catalogue
            dt (generation takes dt separately).
        **params: parameters by name.

    Raises:
        ConfigError: an unknown system or parameter (one line with the valid names).
    """
    if name in _CONSTRUCTED:
        cls = _CONSTRUCTED[name]
        if dt is not None and "dt" in inspect.signature(cls).parameters:
            params = {**params, "dt": dt}
        try:
            return cls(**params)
        except TypeError as error:  # an unknown keyword
            raise ConfigError(f"bad parameters for system {name!r}: {error}; see {cls.__name__}'s docstring") from None
    if name in load_catalog():
        return make_ode_system(name, **params)
    if name in list_sdes():
        return make_sde(name, **params) if dt is None else make_sde(name, dt=dt, **params)
    names = list_systems()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown system {name!r}{hint}; choose one of: {', '.join(names)}")
