"""A lazy windowed torch Dataset over one split of a store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ._normalization import Normalizer
from ._schema import STATE, TIME, TRAJ, split_indices, validate


class WindowDataset(Dataset):
    """Windows of `window` consecutive steps from the trajectories of one split.

    Windows never cross trajectories: item i is (trajectory j, start s) with
    s + window <= n_time. The store is validated on construction but its data are read only on
    first access (per DataLoader worker; use the ``forkserver`` or ``spawn`` start method, as
    Zarr's I/O thread deadlocks after ``fork``).

    Args:
        path: the store.
        split: 'train', 'val' or 'test'.
        window: steps per window (for next-step training: sequence length + 1).
        normalize: standardize with the store's training-split statistics.
        dtype: dtype of the returned windows.
        in_memory: read the split once and keep it (small stores); otherwise read per item.
        check_values: scan the store for NaN/Inf (skip it only when the caller just did).

    Items are ``{"x": (window, D)}`` tensors.
    """

    def __init__(self, path: str | Path, split: str, window: int, *, normalize: bool = True,
                 dtype: torch.dtype = torch.float32, in_memory: bool = True,
                 check_values: bool = True) -> None:
        ds = validate(path, check_values=check_values)
        self.path = Path(path)
        self.split = split
        self.window = int(window)
        self.dtype = dtype
        self.in_memory = in_memory
        self.trajectories = split_indices(ds, split)
        self.n_time = ds.sizes[TIME]
        self.dim = ds[STATE].shape[-1]
        self.dt = float(ds.attrs["dt"])
        self.normalizer = Normalizer.from_attrs(ds.attrs) if normalize else None
        if self.window > self.n_time:
            raise ValueError(f"window {self.window} is longer than the trajectories ({self.n_time} steps)")
        self.starts_per_traj = self.n_time - self.window + 1
        self._data = None
        self._ds = None

    def __len__(self) -> int:
        return len(self.trajectories) * self.starts_per_traj

    def locate(self, index: int) -> tuple[int, int]:
        """(trajectory index in the store, start step) of item `index`."""
        j, start = divmod(int(index), self.starts_per_traj)
        return int(self.trajectories[j]), start

    def trajectory(self, j: int) -> torch.Tensor:
        """The whole j-th trajectory of this split, (T, D), normalized if asked."""
        return self._prepare(self._array()[j] if self.in_memory else self._read(self.trajectories[j], 0, self.n_time))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        j, start = divmod(int(index), self.starts_per_traj)
        if self.in_memory:
            block = self._array()[j, start:start + self.window]
        else:
            block = self._read(self.trajectories[j], start, start + self.window)
        return {"x": self._prepare(block)}

    def batch(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """Several items stacked, (B, window, D): the fast path for in-memory sampling."""
        if not self.in_memory:
            return {"x": torch.stack([self[i]["x"] for i in indices])}
        j, start = np.divmod(np.asarray(indices), self.starts_per_traj)
        offsets = start[:, None] + np.arange(self.window)[None, :]
        return {"x": self._prepare(self._array()[j[:, None], offsets])}

    def _prepare(self, block: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(block)).to(torch.float64)
        if self.normalizer is not None:
            x = self.normalizer.normalize(x)
        return x.to(self.dtype)

    def _store(self):
        # Opened on first use, so each DataLoader worker opens its own handle.
        if self._ds is None:
            self._ds = validate(self.path, check_values=False)
        return self._ds

    def _array(self) -> np.ndarray:
        if self._data is None:
            self._data = self._store()[STATE].isel({TRAJ: self.trajectories}).values
        return self._data

    def _read(self, traj: int, start: int, stop: int) -> np.ndarray:
        return self._store()[STATE].isel({TRAJ: int(traj), TIME: slice(start, stop)}).values
