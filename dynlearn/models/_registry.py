"""The model families by name, for configs and command lines.

A family registers its class here. The class takes ``(io, config)`` (an `IOShape`, or an int for
a vector without forcing) and names its typed config dataclass in the class attribute ``Config``,
so options are checked by name before the model is built.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dynlearn._errors import ConfigError
from dynlearn.models.alrnn import ALRNN
from dynlearn.models.arx import ARX
from dynlearn.models.convlstm import ConvLSTM
from dynlearn.models.convs5 import ConvS5
from dynlearn.models.dynamix import DynaMix
from dynlearn.models.fno import FNO
from dynlearn.models.koopman import Koopman
from dynlearn.models.latent_sde import LatentSDE
from dynlearn.models.neural_ode import NeuralODE
from dynlearn.models.phirom import PhiROM
from dynlearn.models.phyxmamba import PhyxMamba
from dynlearn.models._base import AbstractModel, IOShape

MODELS: dict[str, type[AbstractModel]] = {"alrnn": ALRNN, "arx": ARX, "convlstm": ConvLSTM, "convs5": ConvS5, "dynamix": DynaMix, "fno": FNO, "koopman": Koopman,
                                         "latent_sde": LatentSDE, "neural_ode": NeuralODE, "phirom": PhiROM,
                                         "phyxmamba": PhyxMamba}


def list_models() -> list[str]:
    """Names accepted by `make_model`, sorted."""
    return sorted(MODELS)


def model_family(name: str) -> type[AbstractModel]:
    """The registered class of a family (its `layout`, its `Config`), by name.

    Raises:
        ConfigError: for an unknown name, listing the valid ones.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return MODELS[name]


def make_model(name: str, io: IOShape | int, **cfg: Any) -> AbstractModel:
    """Build a registered model family.

    Args:
        name: registry name, e.g. ``"alrnn"``.
        io: what the model reads and predicts per step (an int: a vector of that dimension).
        **cfg: fields of the family's config dataclass (e.g. `ALRNNConfig`).

    Returns:
        The model, in float32 or whatever torch's default dtype is.

    Raises:
        ConfigError: for an unknown name or option, listing the valid ones.
    """
    cls = model_family(name)
    fields = sorted(f.name for f in dataclasses.fields(cls.Config))
    unknown = sorted(set(cfg) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for model {name!r}; valid: {', '.join(fields)}"
        )
    return cls(IOShape.of(io), cls.Config(**cfg))
