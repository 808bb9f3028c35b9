"""The typed form of one catalogue entry (catalog.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

Scalar = float | int
Bound = float | tuple[float, ...]


@dataclass(frozen=True)
class ComputedLyapunov:
    """A Lyapunov spectrum computed by dynlearn's own estimator, stored with its uncertainty.

    Written by ``bench/catalog_lyapunov.py --write-catalog`` (never by hand), so every system
    has exponents from one estimator at its catalogue dt, unlike the literature values.

    Attributes:
        exponents: the full spectrum, mean over initial conditions, sorted from largest, (D,).
        stderr: standard error of each exponent over the initial conditions, (D,).
        time: averaging time per orbit (time units).
        transient_time: tangent-vector transient before averaging (time units).
        n_ics: number of initial conditions (independent orbits on the attractor).
        dt: the RK4 step the spectrum was computed with (the catalogue dt).
        qr_every: steps between QR re-orthonormalizations.
        seed: seed of the generator that drew the initial conditions.
        estimator: how the spectrum was computed.
        dynlearn_version: the version of dynlearn that computed it.
    """

    exponents: tuple[float, ...]
    stderr: tuple[float, ...]
    time: float
    transient_time: float
    n_ics: int
    dt: float
    qr_every: int
    seed: int
    estimator: str
    dynlearn_version: str

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any], dim: int) -> ComputedLyapunov:
        """Parse a ``computed_lyapunov`` block of a `dim`-dimensional system; raises ValueError
        naming the bad field."""
        fields = set(cls.__dataclass_fields__)
        if set(entry) != fields:
            raise ValueError(
                f"catalogue entry {name!r}: computed_lyapunov needs exactly the fields "
                f"{sorted(fields)}, got {sorted(entry)}"
            )
        exponents = tuple(map(float, entry["exponents"]))
        stderr = tuple(map(float, entry["stderr"]))
        if not len(exponents) == len(stderr) == dim:
            raise ValueError(f"catalogue entry {name!r}: computed_lyapunov lists need {dim} values")
        return cls(
            exponents=exponents,
            stderr=stderr,
            time=float(entry["time"]),
            transient_time=float(entry["transient_time"]),
            n_ics=int(entry["n_ics"]),
            dt=float(entry["dt"]),
            qr_every=int(entry["qr_every"]),
            seed=int(entry["seed"]),
            estimator=str(entry["estimator"]),
            dynlearn_version=str(entry["dynlearn_version"]),
        )


@dataclass(frozen=True, eq=False)
class SystemSpec:
    """Everything the catalogue says about a system except its equations.

    Attributes:
        name: catalogue key, e.g. ``"lorenz63"``.
        citation: the paper the equations come from.
        equations: the right-hand side in plain Unicode math, one ``dx/dt = …`` per state
            variable (parameters by their catalogue names), for datasheets.
        dim: the state dimension, or the name of the integer parameter that sets it.
        state_names: one name per dimension, or a template formatted with ``i``.
        params: default parameter values by name, read-only, in catalogue order.
        dt: simulation time step (time units).
        transient_time: time integrated from `initial_box` to reach the attractor.
        initial_box: (low, high) of the uniform box transients start from; scalars broadcast.
        circles: index pairs (i, j) of states that are (cos, sin) of an angle; draws from the
            box are projected onto these unit circles, which the equations keep invariant.
        lyapunov_exponents: literature exponents for the default parameters (leading ones),
            for reference only; None when unknown.
        lyapunov_source: where `lyapunov_exponents` come from.
        dysts_lambda1: λ1 published in the dysts catalogue for the same equations and
            parameters (its ``maximum_lyapunov_estimated``); None where dysts lacks the system
            or uses other parameters.
        chaotic: whether the default parameters give a chaotic attractor (λ1 > 0); False
            for limit cycles, tori and conservative oscillators.
        computed_lyapunov: the full spectrum for the default parameters by dynlearn's
            estimator, with standard errors; None until the bench script has written it.
    """

    name: str
    citation: str
    equations: str
    dim: int | str
    state_names: tuple[str, ...] | str
    params: Mapping[str, Scalar]
    dt: float
    transient_time: float
    initial_box: tuple[Bound, Bound]
    circles: tuple[tuple[int, int], ...] = ()
    lyapunov_exponents: tuple[float, ...] | None = None
    lyapunov_source: str | None = None
    dysts_lambda1: float | None = None
    chaotic: bool = False
    computed_lyapunov: ComputedLyapunov | None = None

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any]) -> SystemSpec:
        """Parse one catalog.yaml entry; raises ValueError naming the bad field."""
        fields = set(cls.__dataclass_fields__) - {"name"}
        optional = {
            "circles",
            "lyapunov_exponents",
            "lyapunov_source",
            "dysts_lambda1",
            "chaotic",
            "computed_lyapunov",
        }
        required = fields - optional
        if unknown := set(entry) - fields:
            raise ValueError(f"catalogue entry {name!r}: unknown fields {sorted(unknown)}")
        if missing := required - set(entry):
            raise ValueError(f"catalogue entry {name!r}: missing fields {sorted(missing)}")
        dim = entry["dim"]
        if isinstance(dim, str) and not isinstance(entry["params"].get(dim), int):
            raise ValueError(f"catalogue entry {name!r}: dim {dim!r} is not an integer parameter")
        names = entry["state_names"]
        exponents = entry.get("lyapunov_exponents")
        box = entry["initial_box"]
        computed = entry.get("computed_lyapunov")
        dysts = entry.get("dysts_lambda1")
        sized = [names, box["low"], box["high"]]
        if isinstance(dim, int) and any(isinstance(v, list) and len(v) != dim for v in sized):
            raise ValueError(f"catalogue entry {name!r}: lists in it need {dim} values")
        circles = entry.get("circles", [])
        if circles and (
            isinstance(names, str)
            or not all(len(pair) == 2 and set(pair) <= set(names) for pair in circles)
        ):
            raise ValueError(
                f"catalogue entry {name!r}: circles must be [cos, sin] pairs of state names"
            )
        return cls(
            name=name,
            citation=str(entry["citation"]),
            equations=str(entry["equations"]),
            dim=dim,
            state_names=names if isinstance(names, str) else tuple(map(str, names)),
            params=MappingProxyType(dict(entry["params"])),
            dt=float(entry["dt"]),
            transient_time=float(entry["transient_time"]),
            initial_box=(_bound(box["low"]), _bound(box["high"])),
            circles=tuple((names.index(c), names.index(s)) for c, s in circles),
            lyapunov_exponents=None if exponents is None else tuple(map(float, exponents)),
            lyapunov_source=entry.get("lyapunov_source"),
            dysts_lambda1=None if dysts is None else float(dysts),
            chaotic=bool(entry.get("chaotic", False)),
            computed_lyapunov=None
            if computed is None
            else ComputedLyapunov.from_entry(
                name, computed, dim if isinstance(dim, int) else entry["params"][dim]
            ),
        )

    def draw_from_box(
        self, n: int, dim: int, generator: torch.Generator, dtype: torch.dtype
    ) -> Tensor:
        """Uniform draws from `initial_box`, each `circles` pair projected onto its unit circle.

        Args:
            n: number of states.
            dim: the state dimension D (scalar bounds broadcast over it).
            generator: the source of randomness (CPU).
            dtype: floating dtype of the result.

        Returns:
            (n, D) states on the CPU, the start of a transient onto the attractor.
        """
        low, high = (torch.as_tensor(b, dtype=dtype) for b in self.initial_box)
        x = low + (high - low) * torch.rand(n, dim, generator=generator, dtype=dtype)
        for i, j in self.circles:
            x[:, [i, j]] = torch.nn.functional.normalize(x[:, [i, j]], dim=-1)
        return x


def _bound(value: Scalar | list[Scalar]) -> Bound:
    return tuple(map(float, value)) if isinstance(value, list) else float(value)
