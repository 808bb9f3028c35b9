"""The ConvLSTM baseline (Shi et al., NeurIPS 2015) in ConvS5's encoder-decoder frame."""

from dynlearn.models.convlstm._cell import ConvLSTMCell as ConvLSTMCell
from dynlearn.models.convlstm._model import ConvLSTM as ConvLSTM
from dynlearn.models.convlstm._model import ConvLSTMConfig as ConvLSTMConfig
