"""The Koopman autoencoder family: MLP encoder/decoder, a Tustin-discretized linear generator with a
trainable step, periodic re-encoding at inference (Fathi et al., ICLR 2024)."""

from dynlearn.models.koopman._model import Koopman as Koopman
from dynlearn.models.koopman._model import KoopmanConfig as KoopmanConfig
from dynlearn.models.koopman._model import tustin as tustin
