"""The AL-RNN family: the model (`ALRNN`), its teacher forcing (sparse, generalized, adaptive) and a
short listing of the same equations to check it against the paper."""

from dynlearn.models.alrnn._model import ALRNN as ALRNN
from dynlearn.models.alrnn._model import ALRNNConfig as ALRNNConfig
