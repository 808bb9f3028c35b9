"""The model families by name, for configs and command lines.

A family registers its class here. The class takes ``(obs_dim, config)`` and names its typed
config dataclass in the class attribute ``Config``, so options are checked by name before the
model is built.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dynlearn._errors import ConfigError
from dynlearn.models._alrnn import ALRNN
from dynlearn.models._base import AbstractModel

MODELS: dict[str, type[AbstractModel]] = {"alrnn": ALRNN}


def list_models() -> list[str]:
    """Names accepted by `make_model`, sorted."""
    return sorted(MODELS)


def make_model(name: str, obs_dim: int, **cfg: Any) -> AbstractModel:
    """Build a registered model family.

    Args:
        name: registry name, e.g. ``"alrnn"``.
        obs_dim: dimension of the observations the model reads and predicts.
        **cfg: fields of the family's config dataclass (e.g. `ALRNNConfig`).

    Returns:
        The model, in float32 or whatever torch's default dtype is.

    Raises:
        ConfigError: for an unknown name or option, listing the valid ones.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    cls = MODELS[name]
    fields = sorted(f.name for f in dataclasses.fields(cls.Config))
    unknown = sorted(set(cfg) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for model {name!r}; valid: {', '.join(fields)}"
        )
    return cls(obs_dim, cls.Config(**cfg))
