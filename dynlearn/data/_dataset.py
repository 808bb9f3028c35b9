"""A lazy windowed torch Dataset over one split of a store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ._normalization import Normalizer
from ._schema import TIME, TRAJ, layout_of, split_indices, validate


class WindowDataset(Dataset):
    """Windows of `window` consecutive steps from the segments of one split.

    A segment is one trajectory of the split (ensembles split by ``traj``) or one contiguous
    period of the split (a single series, grids and stations split along ``time``). Windows never
    cross segments: item i is (segment j, start s) with s + window <= the segment's length. The store
    is validated on construction but its data are read only on first access (per DataLoader
    worker; use the ``forkserver`` or ``spawn`` start method, as Zarr's I/O thread deadlocks
    after ``fork``).

    Args:
        path: the store.
        split: 'train', 'val' or 'test'.
        window: steps per window (for next-step training: sequence length + 1).
        normalize: standardize with the store's training-split statistics.
        dtype: dtype of the returned windows.
        in_memory: read the split once and keep it (small stores); otherwise read per item.
        check_values: scan the store for NaN/Inf (skip it only when the caller just did).

    Items are ``{"x": (window, *state_shape)}`` tensors, time first: (window, D) for ODE
    states and series, (window, X) / (window, Y, X) for fields, (window, lat, lon) for grids and
    (window, station) for stations.
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
        self.layout = layout_of(ds)
        self.by_trajectory = self.layout.split_dim == TRAJ
        # Dims of one time slice, in the order items are returned.
        self._item_dims = tuple(d for d in self.layout.dims if d not in (TRAJ, TIME))
        self.state_shape = tuple(ds.sizes[d] for d in self._item_dims)
        self.dim = int(np.prod(self.state_shape))
        self.dt = float(ds.attrs["dt"])
        self.normalizer = Normalizer.from_attrs(ds.attrs) if normalize else None
        self.segments = _segments(ds, split, self.by_trajectory)  # (traj or -1, start, stop)
        self.trajectories = np.array([s[0] for s in self.segments]) if self.by_trajectory \
            else np.arange(len(self.segments))
        self.n_time = max((stop - start for _, start, stop in self.segments), default=0)
        too_short = [s for s in self.segments if s[2] - s[1] < self.window]
        if too_short:
            raise ValueError(f"window {self.window} is longer than a {split} segment "
                             f"({too_short[0][2] - too_short[0][1]} steps); use a shorter window")
        counts = [stop - start - self.window + 1 for _, start, stop in self.segments]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._data = None
        self._ds = None

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(trajectory index in the store, or -1 for time splits; start step in the store) of item `index`."""
        j, offset = self._segment_of(np.asarray([index]))
        traj, start, _ = self.segments[int(j[0])]
        return int(traj), int(start + offset[0])

    def trajectory(self, j: int) -> torch.Tensor:
        """The whole j-th segment of this split, (T, *state_shape), normalized if asked."""
        _, start, stop = self.segments[j]
        block = self._array()[j] if self.in_memory and self.by_trajectory else \
            self._array()[start:stop] if self.in_memory else self._read(j, 0, stop - start)
        return self._prepare(block)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return {"x": self.batch(np.asarray([index]))["x"][0]}

    def batch(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """Several items stacked, (B, window, *state_shape)."""
        j, offset = self._segment_of(np.asarray(indices))
        if not self.in_memory:
            return {"x": torch.stack([self._prepare(self._read(int(a), int(b), int(b) + self.window))
                                      for a, b in zip(j, offset)])}
        steps = offset[:, None] + np.arange(self.window)[None, :]
        if self.by_trajectory:
            return {"x": self._prepare(self._array()[j[:, None], steps])}
        starts = np.array([self.segments[k][1] for k in j])
        return {"x": self._prepare(self._array()[starts[:, None] + steps])}

    def _segment_of(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        j = np.searchsorted(self._offsets, indices, side="right") - 1
        return j, indices - self._offsets[j]

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

    def _variable(self):
        """The data variable with time first (after traj for ensembles)."""
        lead = (TRAJ, TIME) if self.by_trajectory else (TIME,)
        return self._store()[self.layout.variable].transpose(*lead, *self._item_dims)

    def _array(self) -> np.ndarray:
        if self._data is None:
            variable = self._variable()
            self._data = variable.isel({TRAJ: self.trajectories}).values if self.by_trajectory \
                else variable.values
        return self._data

    def _read(self, j: int, start: int, stop: int) -> np.ndarray:
        traj, first, _ = self.segments[j]
        if self.by_trajectory:
            return self._variable().isel({TRAJ: int(traj), TIME: slice(start, stop)}).values
        return self._variable().isel({TIME: slice(first + start, first + stop)}).values


def _segments(ds, split: str, by_trajectory: bool) -> list[tuple[int, int, int]]:
    """(trajectory or -1, first time step, stop) of each segment of `split`."""
    indices = split_indices(ds, split)
    if by_trajectory:
        return [(int(j), 0, ds.sizes[TIME]) for j in indices]
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) > 1)  # contiguous runs of time steps
    firsts = np.concatenate([[indices[0]], indices[breaks + 1]])
    lasts = np.concatenate([indices[breaks], [indices[-1]]])
    return [(-1, int(a), int(b) + 1) for a, b in zip(firsts, lasts)]
