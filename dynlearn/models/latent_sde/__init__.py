"""The latent SDE family: an encoder's posterior SDE, a prior SDE and a decoder, trained on the ELBO."""

from dynlearn.models.latent_sde._model import LatentSDE as LatentSDE
from dynlearn.models.latent_sde._model import LatentSDEConfig as LatentSDEConfig
