"""The AL-RNN family: the model (`ALRNN`), its teacher forcing (sparse, generalized, adaptive) and a
short listing of the same equations to check it against the paper. `initial_parameters` and
`forced_rollout` serve the families built from AL-RNNs (DynaMix's experts)."""

from dynlearn.models.alrnn._model import ALRNN as ALRNN
from dynlearn.models.alrnn._model import ALRNNConfig as ALRNNConfig
from dynlearn.models.alrnn._model import initial_parameters as initial_parameters
from dynlearn.models.alrnn._teacher_forcing import forced_rollout as forced_rollout
