"""Per-dimension standardization with statistics from the training split only."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Normalizer:
    """x -> (x - mean) / std per state dimension.

    Attributes:
        mean, std: per-dimension statistics (D,), computed on the training split.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_attrs(cls, attrs: dict) -> "Normalizer":
        std = [s if s > 0 else 1.0 for s in attrs["norm_std"]]  # a constant dimension stays as it is
        return cls(tuple(float(m) for m in attrs["norm_mean"]), tuple(float(s) for s in std))

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return (torch.tensor(self.mean, dtype=x.dtype, device=x.device),
                torch.tensor(self.std, dtype=x.dtype, device=x.device))

    def normalize(self, x: Tensor, axis: int = -1) -> Tensor:
        """Physical units -> standardized; the statistics run along `axis` (the state dimension
        of a vector, the channels of a field; one value broadcasts over any shape)."""
        x = x.movedim(axis, -1)
        mean, std = self._stats(x)
        return ((x - mean) / std).movedim(-1, axis)

    def denormalize(self, x: Tensor, axis: int = -1) -> Tensor:
        """Standardized -> physical units, along `axis` as in `normalize`."""
        x = x.movedim(axis, -1)
        mean, std = self._stats(x)
        return (x * std + mean).movedim(-1, axis)
