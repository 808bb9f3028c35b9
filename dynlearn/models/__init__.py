"""Learned dynamical systems: one interface (`AbstractModel`), one family per module, a registry."""

from dynlearn.models._alrnn import ALRNN as ALRNN
from dynlearn.models._alrnn import ALRNNConfig as ALRNNConfig
from dynlearn.models._base import AbstractModel as AbstractModel
from dynlearn.models._registry import list_models as list_models
from dynlearn.models._registry import make_model as make_model

__all__ = ["ALRNN", "ALRNNConfig", "AbstractModel", "list_models", "make_model"]
