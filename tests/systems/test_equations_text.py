"""The catalogue's equation texts (for datasheets) say what the code computes."""

import re

import pytest
import torch

from dynlearn.systems import list_ode_systems, make_system

pytestmark = pytest.mark.usefixtures("float64")

_DERIVATIVE = re.compile(r"^d\(?(\w+)\)?/dt = (.+)$")
_DEFINITION = re.compile(r"^(\w+) = (.+)$")
_PYTHON = {"−": "-", "·": "*", "²": "**2", "³": "**3"}


def _parse(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """'dx/dt = …; g = …' -> ({state: expression}, {auxiliary: expression}), in Python syntax."""
    derivatives, definitions = {}, {}
    for part in text.split("; "):
        for unicode, python in _PYTHON.items():
            part = part.replace(unicode, python)
        part = re.sub(r"\|([^|]+)\|", r"abs(\1)", part)
        if match := _DERIVATIVE.match(part):
            assert match[1] not in derivatives, f"two equations for d{match[1]}/dt"
            derivatives[match[1]] = match[2]
        else:
            match = _DEFINITION.match(part)
            assert match, f"neither 'dx/dt = …' nor 'name = …': {part!r}"
            definitions[match[1]] = match[2]
    return derivatives, definitions


@pytest.mark.parametrize("name", list_ode_systems())
def test_text_names_every_parameter_and_state(name):
    system = make_system(name)
    text = system.equations
    assert text != (type(system).__doc__ or "").strip().splitlines()[0]
    for parameter in system.params:
        assert re.search(rf"(?<![\w{{]){parameter}(?!\w)", text), f"{parameter} missing from {text!r}"
    template = system.spec.state_names
    if isinstance(template, str):  # x{i}: one indexed equation for all n states
        assert text.count("/dt") == 1 and f"d{template.format(i='_i')}/dt" in text
    else:
        derivatives, _ = _parse(text)
        assert list(derivatives) == list(system.state_names)


@pytest.mark.parametrize(
    "name", [n for n in list_ode_systems() if not isinstance(make_system(n).spec.state_names, str)]
)
def test_text_evaluates_to_rhs(name, generator):
    """Each text, read as arithmetic, gives rhs at random states (a transcription check)."""
    system = make_system(name)
    x = 2 * torch.randn(64, system.dim, generator=generator)
    derivatives, definitions = _parse(system.equations)
    scope = {**system.params, **dict(zip(system.state_names, x.unbind(-1))), "sin": torch.sin}
    for key, expression in definitions.items():
        scope[key] = eval(expression, {"__builtins__": {"abs": abs}}, scope)
    text_rhs = torch.stack(
        [torch.as_tensor(eval(e, {"__builtins__": {"abs": abs}}, scope)).expand(64)
         for e in derivatives.values()], dim=-1,
    )
    torch.testing.assert_close(text_rhs, system.rhs(0.0, x), rtol=1e-12, atol=1e-12)
