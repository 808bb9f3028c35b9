"""The ConvS5 family (Smith et al., NeurIPS 2023): convolutional S5 layers between a ResNet encoder
and decoder, next-frame prediction on fields; and the frame (`FrameModel`, `FrameConfig`) the
ConvLSTM baseline shares."""

from dynlearn.models.convs5._conv import Conv as Conv
from dynlearn.models.convs5._frames import FrameConfig as FrameConfig
from dynlearn.models.convs5._frames import FrameModel as FrameModel
from dynlearn.models.convs5._layer import SequenceLayer as SequenceLayer
from dynlearn.models.convs5._model import ConvS5 as ConvS5
from dynlearn.models.convs5._model import ConvS5Config as ConvS5Config
from dynlearn.models.convs5._ssm import ConvS5SSM as ConvS5SSM
