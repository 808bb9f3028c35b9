"""Every system by name: the ODE catalogue, the field systems (PDEs) and the river basin."""

from __future__ import annotations

import difflib
import inspect

from dynlearn._errors import ConfigError
from dynlearn.systems._base import AbstractSystem
from dynlearn.systems._catalog import load_catalog
from dynlearn.systems._catalog import make_system as make_ode_system
from dynlearn.systems._ks import KuramotoSivashinsky
from dynlearn.systems._navier_stokes import NavierStokes2D
from dynlearn.systems.river import RiverSystem

# Systems other than the catalogue ODEs, built from their constructors' keyword arguments.
FIELD_SYSTEMS = {"ks": KuramotoSivashinsky, "navier_stokes_2d": NavierStokes2D, "river": RiverSystem}


def make_system(name: str, *, dt: float | None = None, **params) -> AbstractSystem:
    """Build any system by name: a catalogue ODE or a field system, parameters by name.

    Args:
        name: a catalogue name or a key of `FIELD_SYSTEMS`.
        dt: the step size, for field systems whose initial-condition transient is stepped
            with it (catalogue ODEs keep their catalogue dt; generation takes dt separately).
        **params: parameters by name.

    Raises:
        ConfigError: an unknown system or parameter (one line with the valid names).
    """
    if name in FIELD_SYSTEMS:
        cls = FIELD_SYSTEMS[name]
        if dt is not None and "dt" in inspect.signature(cls).parameters:
            params = {**params, "dt": dt}
        try:
            return cls(**params)
        except TypeError as error:  # an unknown keyword
            raise ConfigError(f"bad parameters for system {name!r}: {error}; see {cls.__name__}'s docstring") from None
    if name in load_catalog():
        return make_ode_system(name, **params)
    names = [*load_catalog(), *FIELD_SYSTEMS]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown system {name!r}{hint}; choose one of: {', '.join(names)}")
