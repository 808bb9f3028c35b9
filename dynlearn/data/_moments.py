"""Count, mean and sum of squared deviations, merged block by block (Chan, Golub & LeVeque 1979).

Writers (generation, ingest) see their data once, a block at a time; this gives them the train
split's normalization statistics without reading the store back, exactly as one pass would up
to round-off, and in a form that survives a JSON round trip (a resumed generation carries it in
its progress record).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Moments:
    """Per-column moments of the rows seen so far.

    Attributes:
        count, mean, m2: (width,) float64; m2 is the sum of squared deviations from the mean.
    """

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def empty(cls, width: int) -> Moments:
        return cls(np.zeros(width), np.zeros(width), np.zeros(width))

    @classmethod
    def from_dict(cls, values: dict) -> Moments:
        """The inverse of `to_dict`."""
        return cls(*(np.asarray(values[key], dtype=np.float64) for key in ("count", "mean", "m2")))

    def to_dict(self) -> dict:
        return {"count": self.count.tolist(), "mean": self.mean.tolist(), "m2": self.m2.tolist()}

    def add(self, x: np.ndarray, valid: np.ndarray | None = None) -> Moments:
        """These moments merged with the rows of x (rows, width), counting only `valid` entries."""
        x = x.astype(np.float64, copy=False)
        ok = np.ones(x.shape, dtype=bool) if valid is None else valid
        n = ok.sum(axis=0).astype(np.float64)
        if not n.any():
            return self
        mean = np.where(ok, x, 0.0).sum(axis=0) / np.maximum(n, 1)
        m2 = (np.where(ok, x - mean, 0.0) ** 2).sum(axis=0)
        total = self.count + n
        delta = mean - self.mean
        weight = n / np.maximum(total, 1)
        return Moments(total, self.mean + delta * weight, self.m2 + m2 + delta**2 * self.count * weight)

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per column."""
        return np.sqrt(self.m2 / self.count)
