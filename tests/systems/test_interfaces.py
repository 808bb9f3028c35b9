"""Every system satisfies the one base; ODEs and spectral PDEs declare their own interfaces."""

import ast
import inspect
from pathlib import Path

import pytest

import dynlearn.systems
from dynlearn.systems import (
    ODE,
    AbstractSystem,
    EvolutionEquation,
    NavierStokes2D,
    SDESystem,
    SpectralPDE,
    list_ode_systems,
    list_systems,
    make_system,
)

INTERFACES = {
    "ode": (ODE,),
    "field1d": (SpectralPDE,),
    "field2d": (SpectralPDE,),
    "grid": (),
}


@pytest.mark.parametrize("name", list_systems())
def test_every_system_is_an_abstract_system_of_its_kind(name):
    system = make_system(name)
    assert isinstance(system, AbstractSystem)
    # An SDE takes the ODE layout but has no deterministic vector field: no EvolutionEquation.
    expected = () if isinstance(system, SDESystem) else INTERFACES[system.kind]
    assert all(isinstance(system, cls) for cls in expected)
    assert isinstance(system, EvolutionEquation) == bool(expected)
    assert isinstance(system, ODE) == (name in list_ode_systems())
    assert isinstance(system, SpectralPDE) == (system.kind in ("field1d", "field2d"))
    assert system.equations.strip() and system.to_dict()["name"] == name


def test_the_navier_stokes_configurations_are_spectral_pdes():
    for system in (NavierStokes2D.fno(n=16), NavierStokes2D.kolmogorov(16)):
        assert isinstance(system, SpectralPDE) and not hasattr(system, "jacobian")


def test_no_method_is_implemented_by_raising_not_implemented():
    """An AST scan of dynlearn/systems: a capability is declared on an interface, never faked."""
    root = Path(inspect.getfile(dynlearn.systems)).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, offenders
    assert len(list(root.rglob("*.py"))) > 10  # the scan saw the package


@pytest.mark.parametrize("interface", [AbstractSystem, EvolutionEquation, ODE, SpectralPDE])
def test_interfaces_are_abstract(interface):
    assert inspect.isabstract(interface)
    with pytest.raises(TypeError, match="abstract"):
        interface()
