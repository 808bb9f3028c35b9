"""Catalogue fidelity (issue 8 §5): every right-hand side against an independent reference.

The reference is the `dysts` package (a test-only dependency) where it has the system, with
its parameters mapped from ours by name, else the equations written out below from the cited
source. A system added to the catalogue without a reference fails here. Angles we store as
(cos, sin) pairs (the catalogue's ``circles``) are compared through the angle form the
references use: the reference rate a' of an angle a becomes ((cos a)', (sin a)') = a'·(−sin a,
cos a). The dysts λ1 stored in the catalogue is checked against dysts's own catalogue, and
stored wherever dysts has our parameters.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pytest
import torch

from dynlearn.systems import SystemSpec, list_ode_systems, load_catalog, make_system

with warnings.catch_warnings():  # "Numba not installed": dysts then runs plain NumPy
    warnings.simplefilter("ignore", UserWarning)
    import dysts.flows

pytestmark = pytest.mark.usefixtures("float64")

ALL_SYSTEMS = list_ode_systems()
N_STATES = 8


@dataclass(frozen=True)
class Dysts:
    """One of our systems as a dysts flow.

    Attributes:
        flow: the class name in `dysts.flows`.
        params: every dysts parameter, set from ours by name (a str) or to a constant (a
            float) for a term our equations lack.
        hard_coded: our parameters that dysts writes into its equations as numbers.
        forced: dysts's flow is the forced system with a forcing phase appended to the state;
            its amplitude is set to 0 in `params` and the phase's rate is ignored.
    """

    flow: str
    params: Mapping[str, str | float]
    hard_coded: Mapping[str, float] = field(default_factory=dict)
    forced: bool = False


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


DYSTS = {
    "lorenz63": Dysts("Lorenz", _same("sigma", "rho", "beta")),
    "rossler": Dysts("Rossler", _same("a", "b", "c")),
    "lorenz96": Dysts("Lorenz96", {"f": "F"}),  # n is the length of the state
    "chen": Dysts("Chen", _same("a", "b", "c")),
    "chua": Dysts("Chua", _same("alpha", "beta", "m0", "m1")),
    "sprott_f": Dysts("SprottF", _same("a")),
    "sprott_g": Dysts("SprottG", _same("a")),
    "sprott_k": Dysts("SprottK", _same("a")),
    "sprott_s": Dysts("SprottS", {}, hard_coded={"a": 4.0}),
    # dysts: x' = −ax + b sin y, ...; ours is its b = 1 with our b as its a.
    "thomas": Dysts("Thomas", {"a": "b", "b": 1.0}),
    "aizawa": Dysts("Aizawa", _same("a", "b", "c", "d", "e", "f")),
    "halvorsen": Dysts("Halvorsen", {"a": "a", "b": 4.0}),
    "rabinovich_fabrikant": Dysts("RabinovichFabrikant", {"a": "alpha", "g": "gamma"}),
    # dysts names the cubic coefficient alpha and the linear one beta, the other way round.
    "duffing": Dysts(
        "Duffing",
        {"alpha": "beta", "beta": "alpha", "delta": "delta", "gamma": "gamma", "omega": "omega"},
    ),
    "van_der_pol": Dysts("ForcedVanDerPol", {"mu": "mu", "a": 0.0, "w": 1.0}, forced=True),
    "lorenz84": Dysts("Lorenz84", {"a": "a", "b": "b", "f": "F", "g": "G"}),
    "genesio_tesi": Dysts("GenesioTesi", _same("a", "b", "c")),
    "dadras": Dysts("Dadras", {"p": "a", "o": "b", "r": "c", "c": "d", "e": "e"}),
    "rucklidge": Dysts("Rucklidge", {"a": "kappa", "b": "lam"}),
    "brusselator": Dysts(
        "ForcedBrusselator", {"a": "a", "b": "b", "f": 0.0, "w": 1.0}, forced=True
    ),
    "fitzhugh_nagumo": Dysts(
        "ForcedFitzHughNagumo",
        {"a": "a", "b": "b", "gamma": "epsilon", "curr": "current", "f": 0.0, "omega": 1.0},
        forced=True,
    ),
}


# Written out from the cited sources, in the sources' symbols, for the systems dysts lacks
# or writes differently. Each takes our parameters and one state in angle form.


def _burke_shaw(p: Mapping[str, float], state: list[float]) -> list[float]:
    # Shaw, R. (1981), Z. Naturforsch. 36a, 80-112, p. 104 (S = 10, V = 4.272 in Sprott,
    # Elegant Chaos (2010)): x' = −S(x + y), y' = −y − Sxz, z' = Sxy + V. dysts 0.95's BurkeShaw
    # has y' = +y − nxz, a sign away from the source, so it is not used.
    x, y, z = state
    S, V = p["s"], p["v"]
    return [-S * (x + y), -y - S * x * z, S * x * y + V]


def _hindmarsh_rose(p: Mapping[str, float], state: list[float]) -> list[float]:
    # Hindmarsh, J. L. & Rose, R. M. (1984), Proc. R. Soc. Lond. B 221, 87-102, eqs. (5)-(7):
    # x' = y − ax³ + bx² − z + I, y' = c − dx² − y, z' = r(s(x − x_R) − z). dysts's
    # HindmarshRose is a rescaled variant (Marhl & Perc 2005) with other constants.
    x, y, z = state
    a, b, c, d, r, s = (p[k] for k in ("a", "b", "c", "d", "r", "s"))
    return [
        y - a * x**3 + b * x**2 - z + p["current"],
        c - d * x**2 - y,
        r * (s * (x - p["x_rest"]) - z),
    ]


def _lotka_volterra(p: Mapping[str, float], state: list[float]) -> list[float]:
    # Lotka (1925), Elements of Physical Biology; Volterra (1926), Nature 118, 558-560:
    # prey x' = αx − βxy, predator y' = δxy − γy. Not in dysts.
    x, y = state
    return [p["alpha"] * x - p["beta"] * x * y, p["delta"] * x * y - p["gamma"] * y]


def _pendulum(p: Mapping[str, float], state: list[float]) -> list[float]:
    # Baker, G. L. & Gollub, J. P. (1996), Chaotic Dynamics, 2nd ed., eqs. (3.2)-(3.4):
    # dω/dt = −ω/q − sin θ + g cos φ, dθ/dt = ω, dφ/dt = ω_D; our damping is 1/q. Not in dysts.
    theta, omega, phi = state
    q, g, omega_d = 1 / p["damping"], p["amplitude"], p["drive_frequency"]
    return [omega, -omega / q - math.sin(theta) + g * math.cos(phi), omega_d]


def _duffing_unforced(p: Mapping[str, float], state: list[float]) -> list[float]:
    # Fathi et al. (2024), ICLR, the Duffing system: x'' = x − x³ (our α = −1, β = 1 in
    # x'' = −αx − βx³). dysts's Duffing is the forced, damped one.
    x, v = state
    return [v, -p["alpha"] * x - p["beta"] * x**3]


def _pendulum_unforced(p: Mapping[str, float], state: list[float]) -> list[float]:
    # The frictionless pendulum θ'' = −(g/l) sin θ (any mechanics text). Not in dysts.
    theta, omega = state
    return [omega, -p["g_over_l"] * math.sin(theta)]


TRANSCRIBED: dict[str, Callable[[Mapping[str, float], list[float]], list[float]]] = {
    "burke_shaw": _burke_shaw,
    "hindmarsh_rose": _hindmarsh_rose,
    "lotka_volterra": _lotka_volterra,
    "pendulum": _pendulum,
    "duffing_unforced": _duffing_unforced,
    "pendulum_unforced": _pendulum_unforced,
}


def _flow(name: str, params: Mapping[str, float]) -> dysts.flows.DynSys:
    """The dysts flow of system `name` with our `params` mapped onto its parameters."""
    ref = DYSTS[name]
    values = {k: params[v] if isinstance(v, str) else v for k, v in ref.params.items()}
    return getattr(dysts.flows, ref.flow)(**values)


def _angle_columns(spec: SystemSpec, dim: int) -> dict[int, int]:
    """For each state index that is not a sine, its column in the angle form."""
    sines = {j for _, j in spec.circles}
    kept = [i for i in range(dim) if i not in sines]
    return {i: k for k, i in enumerate(kept)}


def _to_angles(spec: SystemSpec, x: torch.Tensor) -> torch.Tensor:
    """States with each (cos a, sin a) pair replaced by the angle a, (N, D) -> (N, D')."""
    sine_of = dict(spec.circles)
    columns = [
        torch.atan2(x[:, sine_of[i]], x[:, i]) if i in sine_of else x[:, i]
        for i in _angle_columns(spec, x.shape[1])
    ]
    return torch.stack(columns, dim=-1)


def _from_angles(spec: SystemSpec, x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """The rate of our states x (N, D) from the rate (N, D') of their angle form."""
    column = _angle_columns(spec, x.shape[1])
    out = x.new_empty(x.shape)
    for i, k in column.items():
        out[:, i] = rate[:, k]
    for i, j in spec.circles:  # (cos a)' = −sin a · a', (sin a)' = cos a · a'
        out[:, i], out[:, j] = -x[:, j] * rate[:, column[i]], x[:, i] * rate[:, column[i]]
    return out


def _reference_rhs(name: str, params: Mapping[str, float], x: torch.Tensor) -> torch.Tensor:
    """The reference's dx/dt at our states x (N, D), with our parameters."""
    spec = load_catalog()[name]
    angles = _to_angles(spec, x)
    if name in DYSTS:
        flow = _flow(name, params)
        states = angles.numpy()
        if DYSTS[name].forced:
            states = np.concatenate([states, np.zeros((len(states), 1))], axis=1)
        rate = np.stack([np.asarray(flow.rhs(row, 0.0), dtype=float) for row in states])
        rate = torch.from_numpy(rate[:, : angles.shape[1]])
    else:
        rate = torch.tensor([TRANSCRIBED[name](params, row) for row in angles.tolist()])
    return _from_angles(spec, x, rate)


def _states(name: str, dim: int) -> torch.Tensor:
    """Random states, with angle pairs on their unit circles, (N_STATES, D)."""
    x = 2 * torch.randn(N_STATES, dim, generator=torch.Generator().manual_seed(5))
    for i, j in load_catalog()[name].circles:
        x[:, [i, j]] = torch.nn.functional.normalize(x[:, [i, j]], dim=-1)
    return x


def _shifted_params(name: str) -> dict[str, float | int]:
    """The catalogue parameters, each real one scaled by its own factor, so that equal
    defaults (Rössler's a = b) cannot hide swapped names; hard-coded ones stay."""
    params = dict(load_catalog()[name].params)
    fixed = DYSTS[name].hard_coded if name in DYSTS else {}
    for k, (key, value) in enumerate(params.items()):
        if not isinstance(value, int) and key not in fixed:
            params[key] = value * (1.05 + 0.03 * k)
    return params


@pytest.mark.parametrize("shifted", [False, True], ids=["catalogue", "shifted"])
@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_rhs_matches_an_independent_reference(name, shifted):
    if name not in DYSTS and name not in TRANSCRIBED:
        pytest.fail(f"{name} has no reference: map it to dysts or transcribe its source here")
    system = make_system(name, **_shifted_params(name)) if shifted else make_system(name)
    x = _states(name, system.dim)
    expected = _reference_rhs(name, system.params, x)
    scale = expected.abs().amax().item()
    torch.testing.assert_close(system.rhs(0.0, x), expected, rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize("name", list(DYSTS))
def test_dysts_mapping_covers_every_parameter(name):
    """No dysts default slips in unmapped, and each of ours is mapped, hard-coded in dysts
    (and equal to its value there) or the dimension."""
    ref, spec = DYSTS[name], load_catalog()[name]
    assert set(ref.params) == set(_flow(name, spec.params).data["parameters"])
    mapped = {v for v in ref.params.values() if isinstance(v, str)}
    assert mapped | set(ref.hard_coded) | {spec.dim} >= set(spec.params)
    assert all(spec.params[k] == v for k, v in ref.hard_coded.items())


def _dysts_record(name: str) -> dict | None:
    """dysts's catalogue entry if it has our equations at our default parameters (to dysts's
    rounding of them, at most 2e-4 relative: its β = 2.667 for Lorenz's 8/3), else None."""
    if name not in DYSTS or DYSTS[name].forced:
        return None
    ref, params = DYSTS[name], load_catalog()[name].params
    path = resources.files("dysts").joinpath("data/chaotic_attractors.json")
    record = json.loads(path.read_text("utf-8"))[ref.flow]
    ours = {k: params[v] if isinstance(v, str) else v for k, v in ref.params.items()}
    same = all(
        record["parameters"][k] == pytest.approx(v, rel=2e-4) for k, v in ours.items()
    )
    return record if same else None


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_dysts_lambda1_is_stored_where_dysts_has_our_parameters(name):
    record = _dysts_record(name)
    stored = load_catalog()[name].dysts_lambda1
    if record is None:
        assert stored is None, f"{name}: dysts has other equations or parameters"
    else:
        assert stored == round(record["maximum_lyapunov_estimated"], 4), name
