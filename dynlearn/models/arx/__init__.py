"""The ARX family: a linear autoregressive model with exogenous inputs at every grid cell."""

from dynlearn.models.arx._model import ARX as ARX
from dynlearn.models.arx._model import ARXConfig as ARXConfig
