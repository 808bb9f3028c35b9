"""du/dt of the true PDE on decoded fields, in the model's normalized units (Φ-ROM's physics)."""

from __future__ import annotations

import torch
from torch import Tensor

from dynlearn._errors import ConfigError
from dynlearn.systems import SpectralPDE, make_system


def pde_from_description(system: dict):
    """The spectral PDE a store was generated from, rebuilt from its description (``to_dict()``).

    Raises:
        ConfigError: the system is not a spectral PDE (Φ-ROM needs its right-hand side).
    """
    extra = {"forcing": system["forcing"]} if "forcing" in system else {}
    if isinstance(system.get("dealias"), bool):  # KS's flag (NS's entry only describes its fixed 2/3 rule)
        extra["dealias"] = system["dealias"]
    pde = make_system(system["name"], **dict(system.get("params", {})), **extra)
    if not isinstance(pde, SpectralPDE):
        raise ConfigError(f"Φ-ROM's physics needs a spectral PDE's right-hand side; {system['name']!r} is not one "
                          "(use model.physics_weight=0 for a data-only latent ODE)")
    return pde


class PDEResidual:
    """F(u) = du/dt from the PDE's right-hand side, u in normalized units: rhs(u·σ + μ) / σ.

    Args:
        system: the store's system description.
        mean, std: the normalization of the one stored field variable.
    """

    def __init__(self, system: dict, mean: float, std: float) -> None:
        self.pde = pde_from_description(system)
        self.mean, self.std = float(mean), float(std)

    def __call__(self, u: Tensor) -> Tensor:
        """(B, 1, *grid) -> (B, 1, *grid), in u's dtype; differentiable (the solver's terms are torch)."""
        if tuple(u.shape[2:]) != tuple(self.pde.state_shape):
            raise ValueError(f"the decoded field has grid {tuple(u.shape[2:])}, the PDE {tuple(self.pde.state_shape)}")
        physical = u[:, 0].to(torch.float64) * self.std + self.mean
        return (self.pde.rhs(0.0, physical) / self.std).to(u.dtype)[:, None]
