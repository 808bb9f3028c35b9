"""Where batch forecasts start: initial conditions (with their context windows) in one split of a store.

A segment is one trajectory of the split (ensembles, split by ``traj``) or one contiguous period
of it (a series, grids and stations, split along ``time``). Inside every segment an init is a
time step ``t0`` with `context` observations up to and including it (``t0 - context + 1 .. t0``);
inits are every `stride` steps from the first such step. The forecast of lead ``l`` is for step
``t0 + l``; what the segment holds there is its observation, NaN once the segment ends. A driven
store (one with forcing) needs the forcing over every lead, so there an init also needs
``t0 + lead`` inside its segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .._errors import DataError
from ._schema import TIME, TRAJ, forcing_variables, layout_of, split_indices


@dataclass(frozen=True)
class ForecastInits:
    """N forecast origins in one split of a store, in the order they are forecast.

    Attributes:
        traj: (N,) the init's trajectory in the store, -1 for a time split.
        step: (N,) the init's time step in the store ``t0`` (its last context observation).
        stop: (N,) the end (exclusive) of the init's segment: no observation from there on.
        context: observations read before (and including) each init.
        lead: steps forecast from each init.
        split: the split they come from.
    """

    traj: np.ndarray
    step: np.ndarray
    stop: np.ndarray
    context: int
    lead: int
    split: str

    def __len__(self) -> int:
        return len(self.step)

    def read(self, ds: xr.Dataset, rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The inputs and observations of inits `rows`, as stored (physical units).

        Reads each segment's stretch once per call (the inits of a chunk overlap when the
        stride is shorter than context + lead).

        Returns:
            contexts (n, context, *state_shape); observed (n, lead, *state_shape), NaN past the
            segment's end; forcing (n, context + lead, U, *state_shape) over the context and every
            lead, or None for a store without forcing.
        """
        layout = layout_of(ds)
        names = forcing_variables(ds)
        steps, stops, trajs = self.step[rows], self.stop[rows], self.traj[rows]
        contexts, observed, forcing = [], [], []
        # (trajectory, end) names a segment: a trajectory, or one period of a time split. The
        # inits are ordered by segment, so each one's inits are consecutive rows.
        for traj, stop in dict.fromkeys(zip(trajs.tolist(), stops.tolist())):
            t0 = steps[(trajs == traj) & (stops == stop)]
            first, last = int(t0[0]) - self.context + 1, min(int(t0[-1]) + self.lead + 1, stop)
            window = {TIME: slice(first, last)} | ({TRAJ: traj} if traj >= 0 else {})
            block = ds[layout.variable].isel(window).transpose(TIME, ...).values
            padded = np.full((int(t0[-1]) + self.lead + 1 - first, *block.shape[1:]), np.nan)
            padded[:last - first] = block  # NaN once the segment ends
            windows = (t0 - first)[:, None] + np.arange(1 - self.context, self.lead + 1)[None, :]
            contexts.append(padded[windows[:, :self.context]])
            observed.append(padded[windows[:, self.context:]])
            if names:  # a driven store's inits have their forcing inside the segment
                drive = np.stack([ds[n].isel(window).transpose(TIME, ...).values for n in names], axis=1)
                forcing.append(drive[windows])
        return np.concatenate(contexts), np.concatenate(observed), np.concatenate(forcing) if names else None


def forecast_inits(ds: xr.Dataset, split: str, *, context: int, stride: int, lead: int) -> ForecastInits:
    """The inits of `split`: every `stride` steps of each segment, each with `context` observations.

    Args:
        ds: an open store.
        split: 'train', 'val', 'test' or 'floor'.
        context: observations read before (and including) each init, >= 1.
        stride: steps between consecutive inits of a segment, >= 1.
        lead: steps to forecast; a driven store needs its forcing over all of them.

    Raises:
        DataError: the split holds no segment long enough for one init (one line, with the fix).
    """
    layout = layout_of(ds)
    driven = bool(forcing_variables(ds))
    indices = split_indices(ds, split)
    if layout.split_dim == TRAJ:
        segments = [(int(j), 0, ds.sizes[TIME]) for j in indices]
    else:
        breaks = np.flatnonzero(np.diff(indices) > 1)
        firsts = np.concatenate([indices[:1], indices[breaks + 1]])
        lasts = np.concatenate([indices[breaks], indices[-1:]])
        segments = [(-1, int(a), int(b) + 1) for a, b in zip(firsts, lasts)]
    traj, step, stop = [], [], []
    for j, first, end in segments:
        last = end - 1 - (lead if driven else 0)  # the last step an init may take
        starts = np.arange(first + context - 1, last + 1, stride)
        traj += [j] * len(starts)
        step += starts.tolist()
        stop += [end] * len(starts)
    if not step:
        need = f"{context} observations of context" + (f" and {lead} steps of forcing after it" if driven else "")
        raise DataError(f"the store's {split} split has no segment with {need}; lower forecast.context"
                        + (" or forecast.lead" if driven else "") + ", or pick another forecast.split")
    traj, step, stop = (np.asarray(values, dtype=np.int64) for values in (traj, step, stop))
    return ForecastInits(traj, step, stop, context, lead, split)
