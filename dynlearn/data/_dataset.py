"""A lazy windowed torch Dataset over one split of a store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .._errors import ConfigError
from ._chunks import readable
from ._normalization import Normalizer, cell_statistics
from ._schema import TIME, TRAJ, climatological_forcing, forcing_variables, layout_of, split_indices, validate


# Store kinds whose states are fields; models may read them with a channel axis.
FIELD_KINDS = ("field1d", "field2d", "grid")


def in_layout(x: torch.Tensor, layout: str, *, channels: bool = False) -> torch.Tensor:
    """Store-shaped steps (B, T, [C,] *state_shape) in a model layout: ``"vector"`` flattens each
    step to (B, T, D); ``"field"`` keeps the spatial axes after a channel axis (added when the
    data have none, `channels` False)."""
    if layout == "vector":
        return x.reshape(*x.shape[:2], -1)
    return x if channels else x.unsqueeze(2)


class WindowDataset(Dataset):
    """Windows of `window` consecutive steps from the segments of one split, with their forcing.

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
        layout: ``"vector"`` (each step flattened to D numbers, what vector families read) or
            ``"field"`` (a channel axis before the spatial ones; field stores only); None: field
            for field and grid stores, vector for the others.
        normalize: standardize with the store's training-split statistics.
        normalizer: these statistics instead of the store's per-channel ones (e.g. `cell_normalizer`).
        dtype: dtype of the returned windows.
        in_memory: read the split once and keep it (small stores); otherwise read per item.
        check_values: scan the store for NaN/Inf (skip it only when the caller just did).
        climatology_from: windows shaped like forecasts issued at this step's start: from this
            step of each window on, the forcing is the training split's mean per cell
            (`climatological_forcing`) instead of the observed, as a forecast made without future
            weather sees it (None: the observed forcing throughout).
        horizon: read only the first `horizon` steps of each segment (a trajectory, or a period of
            a store split by time); None: all of them.

    Items are dicts of tensors, time first, for every store kind:
    ``"x"``: the states, (window, D) in the vector layout, (window, 1, X) / (window, 1, Y, X) /
    (window, 1, lat, lon) in the field layout (off-mask grid cells stay NaN);
    ``"u"``: the exogenous forcing at the same times, as stored (physical units): every other
    variable on the states' dims (a river grid's precipitation and evapotranspiration), stacked
    as channels, (window, U) or (window, U, *spatial), with U = 0 when the store has none;
    ``"index"``: (trajectory in the store or -1 for time splits, first time step), int64.
    """

    def __init__(self, path: str | Path, split: str, window: int, *, layout: str | None = None,
                 normalize: bool = True, dtype: torch.dtype = torch.float32, in_memory: bool = True,
                 check_values: bool = True, climatology_from: int | None = None,
                 normalizer: Normalizer | None = None, horizon: int | None = None) -> None:
        ds = validate(path, check_values=check_values)
        self.path = Path(path)
        self.split = split
        self.window = int(window)
        self.dtype = dtype
        self.in_memory = in_memory
        self.layout = layout_of(ds)
        kind = ds.attrs["kind"]
        self.item_layout = layout or ("field" if kind in FIELD_KINDS else "vector")
        if self.item_layout not in ("vector", "field") or (self.item_layout == "field" and kind not in FIELD_KINDS):
            raise ValueError(f"layout {layout!r} does not fit a {kind} store; use 'vector'"
                             + (" or 'field'" if kind in FIELD_KINDS else ""))
        self.by_trajectory = self.layout.split_dim == TRAJ
        # Dims of one time slice, in the order items are returned.
        self._item_dims = tuple(d for d in self.layout.dims if d not in (TRAJ, TIME))
        self.state_shape = tuple(ds.sizes[d] for d in self._item_dims)  # as stored, no channel axis
        self.dim = int(np.prod(self.state_shape))
        self.forcing_names = forcing_variables(ds)
        self.dt = float(ds.attrs["dt"])
        self.normalizer = (normalizer or Normalizer.from_attrs(ds.attrs)) if normalize else None
        self.segments = [(traj, start, stop if horizon is None else min(stop, start + horizon))
                         for traj, start, stop in _segments(ds, split, self.by_trajectory)]  # (traj or -1, start, stop)
        self.trajectories = np.array([s[0] for s in self.segments]) if self.by_trajectory \
            else np.arange(len(self.segments))
        self.n_time = max((stop - start for _, start, stop in self.segments), default=0)
        too_short = [s for s in self.segments if s[2] - s[1] < self.window]
        if too_short:
            raise ValueError(f"window {self.window} is longer than a {split} segment "
                             f"({too_short[0][2] - too_short[0][1]} steps); use a shorter window")
        counts = [stop - start - self.window + 1 for _, start, stop in self.segments]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._data = self._forcing_data = None
        self._ds = None
        self.climatology_from = climatology_from
        self._climatology = None
        if climatology_from is not None:
            if not 0 <= climatology_from < self.window:
                raise ValueError(f"climatology_from {climatology_from} is outside windows of {self.window} steps")
            if self.forcing_names:
                self._climatology = climatological_forcing(ds)  # (U, *state_shape)

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def item_shape(self) -> tuple[int, ...]:
        """One step of "x": (D,) in the vector layout, (1, *spatial) in the field layout."""
        return (self.dim,) if self.item_layout == "vector" else (1, *self.state_shape)

    @property
    def forcing_shape(self) -> tuple[int, ...]:
        """One step of "u": (U * cells,) in the vector layout, (U, *spatial) in the field layout."""
        n = len(self.forcing_names)
        return (n * self.dim,) if self.item_layout == "vector" else (n, *self.state_shape)

    def locate(self, index: int) -> tuple[int, int]:
        """(trajectory index in the store, or -1 for time splits; start step in the store) of item `index`."""
        j, offset = self._segment_of(np.asarray([index]))
        traj, start, _ = self.segments[int(j[0])]
        return int(traj), int(start + offset[0])

    def trajectory(self, j: int) -> dict[str, torch.Tensor]:
        """The whole j-th segment of this split as one item ("x", "u", "index"), normalized if asked."""
        traj, start, stop = self.segments[j]
        steps = np.arange(stop - start)[None, :]
        x, u = self._blocks(np.asarray([j]), steps)
        return {"x": self._prepare(x)[0], "u": self._forcing(u, x.shape[:2])[0],
                "index": torch.tensor([traj, start if not self.by_trajectory else 0], dtype=torch.int64)}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return {k: v[0] for k, v in self.batch(np.asarray([index])).items()}

    def batch(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """Several items stacked: "x" (B, window, ...), "u" (B, window, U, ...), "index" (B, 2)."""
        j, offset = self._segment_of(np.asarray(indices))
        steps = offset[:, None] + np.arange(self.window)[None, :]
        x, u = self._blocks(j, steps)
        if self._climatology is not None:
            u = u.copy()
            u[:, self.climatology_from:] = self._climatology
        firsts = np.array([0 if self.by_trajectory else self.segments[k][1] for k in j], dtype=np.int64)
        index = np.stack([np.array([self.segments[k][0] for k in j], dtype=np.int64), firsts + offset], axis=1)
        return {"x": self._prepare(x), "u": self._forcing(u, x.shape[:2]), "index": torch.from_numpy(index)}

    def _blocks(self, j: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """States (B, T, *state_shape) and forcing (B, T, U, *state_shape) of segments j at
        `steps` (B, T) counted from each segment's start."""
        if not self.in_memory:
            blocks = [self._read(int(a), int(row[0]), int(row[-1]) + 1) for a, row in zip(j, steps)]
            return np.stack([b[0] for b in blocks]), \
                np.stack([b[1] for b in blocks]) if self.forcing_names else None
        data, forcing = self._arrays()
        if self.by_trajectory:
            where = (j[:, None], steps)
        else:
            where = (np.array([self.segments[k][1] for k in j])[:, None] + steps,)
        return data[where], forcing[where] if forcing is not None else None

    def _segment_of(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        j = np.searchsorted(self._offsets, indices, side="right") - 1
        return j, indices - self._offsets[j]

    def _prepare(self, block: np.ndarray) -> torch.Tensor:
        """States (B, T, *state_shape) -> "x" in the item layout, standardized if asked."""
        x = torch.from_numpy(np.ascontiguousarray(block)).to(torch.float64)
        x = in_layout(x, self.item_layout)
        if self.normalizer is not None:  # along the state dimension of a vector, the channels of a field
            x = self.normalizer.normalize(x, axis=2 if self.item_layout == "field" else -1)
        return x.to(self.dtype)

    def _forcing(self, block: np.ndarray | None, lead: tuple[int, int]) -> torch.Tensor:
        """Forcing (B, T, U, *state_shape) -> "u" (B, T, ...) in the item layout (U = 0 without forcing)."""
        if block is None:
            return torch.zeros(*lead, *self.forcing_shape, dtype=self.dtype)
        return in_layout(torch.from_numpy(np.ascontiguousarray(block)).to(self.dtype), self.item_layout, channels=True)

    def _store(self):
        # Opened on first use, so each DataLoader worker opens its own handle.
        if self._ds is None:
            self._ds = validate(self.path, check_values=False)
        return self._ds

    def _variable(self, name: str | None = None):
        """A data variable (the states by default) with time first (after traj for ensembles)."""
        lead = (TRAJ, TIME) if self.by_trajectory else (TIME,)
        return self._store()[name or self.layout.variable].transpose(*lead, *self._item_dims)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The split's states and forcing (channels after time), read once."""
        if self._data is None:
            pick = {TRAJ: self.trajectories} if self.by_trajectory else {}
            with readable(self.path):
                self._data = self._variable().isel(pick).values
                self._forcing_data = self._stacked_forcing(pick)
        return self._data, self._forcing_data

    def _stacked_forcing(self, selection: dict) -> np.ndarray | None:
        if not self.forcing_names:
            return None
        axis = 2 if self.by_trajectory else 1
        return np.stack([self._variable(name).isel(selection).values for name in self.forcing_names], axis=axis)

    def _read(self, j: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        traj, first, _ = self.segments[j]
        selection = {TRAJ: int(traj), TIME: slice(start, stop)} if self.by_trajectory \
            else {TIME: slice(first + start, first + stop)}
        forcing = None
        with readable(self.path):
            if self.forcing_names:
                forcing = np.stack([self._variable(n).isel(selection).values for n in self.forcing_names], axis=1)
            return self._variable().isel(selection).values, forcing


def cell_normalizer(path: str | Path) -> Normalizer:
    """Per-cell statistics (1, *spatial) of a field or grid store's training split (`cell_statistics`)."""
    ds = validate(path, check_values=False)
    if ds.attrs["kind"] not in FIELD_KINDS:
        raise ConfigError(f"per-cell normalization needs a field or grid store, not a {ds.attrs['kind']} store; "
                          f"use trainer.normalization=channel")
    layout = layout_of(ds)
    lead = (TRAJ, TIME) if layout.split_dim == TRAJ else (TIME,)
    with readable(path):
        values = ds[layout.variable].isel({layout.split_dim: split_indices(ds, "train")}).transpose(*lead, ...).values
    return cell_statistics(values.reshape(-1, 1, *values.shape[len(lead):]))


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
