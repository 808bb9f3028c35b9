"""Learned dynamical systems: one interface (`AbstractModel`), one family per package, a registry."""

from dynlearn.models.alrnn import ALRNN as ALRNN
from dynlearn.models.alrnn import ALRNNConfig as ALRNNConfig
from dynlearn.models.arx import ARX as ARX
from dynlearn.models.arx import ARXConfig as ARXConfig
from dynlearn.models.convlstm import ConvLSTM as ConvLSTM
from dynlearn.models.convlstm import ConvLSTMConfig as ConvLSTMConfig
from dynlearn.models.convs5 import ConvS5 as ConvS5
from dynlearn.models.convs5 import ConvS5Config as ConvS5Config
from dynlearn.models.dynamix import DynaMix as DynaMix
from dynlearn.models.dynamix import DynaMixConfig as DynaMixConfig
from dynlearn.models.fno import FNO as FNO
from dynlearn.models.fno import FNOConfig as FNOConfig
from dynlearn.models.koopman import Koopman as Koopman
from dynlearn.models.koopman import KoopmanConfig as KoopmanConfig
from dynlearn.models.latent_sde import LatentSDE as LatentSDE
from dynlearn.models.latent_sde import LatentSDEConfig as LatentSDEConfig
from dynlearn.models.neural_ode import NeuralODE as NeuralODE
from dynlearn.models.neural_ode import NeuralODEConfig as NeuralODEConfig
from dynlearn.models.phirom import PhiROM as PhiROM
from dynlearn.models.phirom import PhiROMConfig as PhiROMConfig
from dynlearn.models.phyxmamba import PhyxMamba as PhyxMamba
from dynlearn.models.phyxmamba import PhyxMambaConfig as PhyxMambaConfig
from dynlearn.models._base import AbstractModel as AbstractModel
from dynlearn.models._base import DataFacts as DataFacts
from dynlearn.models._base import IOShape as IOShape
from dynlearn.models._registry import list_models as list_models
from dynlearn.models._registry import make_model as make_model
from dynlearn.models._registry import model_family as model_family

__all__ = ["ALRNN", "ALRNNConfig", "ARX", "ARXConfig", "AbstractModel", "ConvLSTM", "ConvLSTMConfig", "ConvS5", "ConvS5Config", "DataFacts", "DynaMix", "DynaMixConfig", "FNO", "FNOConfig", "IOShape", "Koopman", "KoopmanConfig", "LatentSDE", "LatentSDEConfig", "NeuralODE", "NeuralODEConfig", "PhiROM", "PhiROMConfig", "PhyxMamba", "PhyxMambaConfig", "list_models", "make_model", "model_family"]
