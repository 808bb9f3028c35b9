"""Standardization with statistics from the training split only: per state dimension (or field
channel), or per cell of a field (each cell its own mean and spread)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Normalizer:
    """x -> (x - mean) / std per state dimension, or per field cell.

    Attributes:
        mean, std: training-split statistics, either per dimension (D,) (a vector's dimensions,
            a field's channels) or per cell (C, *spatial) as nested tuples: each cell standardized
            by its own statistics, so that a small tributary and the main stem count alike in a
            loss (`cell_statistics`).
    """

    mean: tuple
    std: tuple

    @classmethod
    def from_attrs(cls, attrs: dict) -> "Normalizer":
        std = [s if s > 0 else 1.0 for s in attrs["norm_std"]]  # a constant dimension stays as it is
        return cls(tuple(float(m) for m in attrs["norm_mean"]), tuple(float(s) for s in std))

    @classmethod
    def from_lists(cls, mean, std) -> "Normalizer":
        """From (nested) lists, as a run's metadata keeps them."""
        return cls(_tupled(mean), _tupled(std))

    @property
    def per_cell(self) -> bool:
        return bool(self.mean) and isinstance(self.mean[0], tuple)

    def tolist(self) -> tuple[list, list]:
        """(mean, std) as (nested) lists, for JSON."""
        return np.asarray(self.mean).tolist(), np.asarray(self.std).tolist()

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return (torch.tensor(self.mean, dtype=x.dtype, device=x.device),
                torch.tensor(self.std, dtype=x.dtype, device=x.device))

    def normalize(self, x: Tensor, axis: int = -1) -> Tensor:
        """Physical units -> standardized; per-dimension statistics run along `axis` (the state
        dimension of a vector, the channels of a field; one value broadcasts over any shape);
        per-cell statistics (C, *spatial) meet the trailing axes of x (the channel axis may be absent
        when C is 1)."""
        mean, std = self._stats(x)
        if self.per_cell:
            mean, std = _trailing(mean, x), _trailing(std, x)
            return (x - mean) / std
        x = x.movedim(axis, -1)
        return ((x - mean) / std).movedim(-1, axis)

    def denormalize(self, x: Tensor, axis: int = -1) -> Tensor:
        """Standardized -> physical units, along `axis` as in `normalize`."""
        mean, std = self._stats(x)
        if self.per_cell:
            return x * _trailing(std, x) + _trailing(mean, x)
        x = x.movedim(axis, -1)
        return (x * std + mean).movedim(-1, axis)


def cell_statistics(values: np.ndarray) -> Normalizer:
    """Per-cell statistics of training values (N, C, *spatial) (N steps, of every trajectory): each
    cell's mean and standard deviation over N; a cell with no finite value (off a river mask) or
    none of spread gets mean 0 and std 1, so it passes unchanged (NaN stays NaN)."""
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    filled = np.where(finite, values, 0.0)
    mean = filled.sum(axis=0) / np.maximum(count, 1)
    var = np.where(finite, (filled - mean) ** 2, 0.0).sum(axis=0) / np.maximum(count, 1)
    std = np.sqrt(var)
    usable = (count > 0) & (std > 0)
    return Normalizer.from_lists(np.where(usable, mean, 0.0).tolist(), np.where(usable, std, 1.0).tolist())


def _trailing(stats: Tensor, x: Tensor) -> Tensor:
    """Per-cell stats (C, *spatial) shaped to meet x's trailing axes."""
    if tuple(x.shape[x.ndim - stats.ndim:]) == tuple(stats.shape):
        return stats
    if stats.shape[0] == 1 and tuple(x.shape[x.ndim - stats.ndim + 1:]) == tuple(stats.shape[1:]):
        return stats[0]
    raise ValueError(f"per-cell statistics of shape {tuple(stats.shape)} do not fit values of shape {tuple(x.shape)}")


def _tupled(value):
    return tuple(_tupled(v) for v in value) if isinstance(value, (list, tuple)) else float(value)
