"""Φ-ROM: a latent neural ODE taught by the true PDE through a differentiable solver (Hosseini Dashtbayaz et al. 2025)."""

from dynlearn.models.phirom._config import PhiROMConfig as PhiROMConfig
from dynlearn.models.phirom._decoder import PeriodicINR as PeriodicINR
from dynlearn.models.phirom._decoder import grid_coordinates as grid_coordinates
from dynlearn.models.phirom._model import PhiROM as PhiROM
from dynlearn.models.phirom._physics import PDEResidual as PDEResidual
from dynlearn.models.phirom._projection import batch_jacobian as batch_jacobian
from dynlearn.models.phirom._projection import decoder_jacobian as decoder_jacobian
from dynlearn.models.phirom._projection import invert_latent as invert_latent
from dynlearn.models.phirom._projection import least_squares as least_squares

__all__ = ["PDEResidual", "PeriodicINR", "PhiROM", "PhiROMConfig", "batch_jacobian", "decoder_jacobian", "grid_coordinates",
           "invert_latent", "least_squares"]
