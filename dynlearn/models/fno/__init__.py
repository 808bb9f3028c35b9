"""The Fourier neural operator family: spectral convolutions on fields, rolled out autoregressively."""

from dynlearn.models.fno._config import FNOConfig as FNOConfig
from dynlearn.models.fno._model import FNO as FNO
from dynlearn.models.fno._spectral_conv import SpectralConv as SpectralConv
