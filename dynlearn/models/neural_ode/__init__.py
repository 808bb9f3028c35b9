"""The neural ODE family: an MLP vector field integrated by torchdiffeq, trained by multiple shooting."""

from dynlearn.models.neural_ode._model import NeuralODE as NeuralODE
from dynlearn.models.neural_ode._model import NeuralODEConfig as NeuralODEConfig
