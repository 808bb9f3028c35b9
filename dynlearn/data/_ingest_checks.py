"""Checks on ingested data, block by block: NaN rules, coordinates, dtypes, train statistics."""

from __future__ import annotations

import numpy as np

from .._errors import DataError
from ._moments import Moments
from ._schema import SPLITS

ENSEMBLES = ("ode", "field1d", "field2d")  # kinds split by trajectory, with no mask
PER_DIMENSION = ("ode", "series")  # kinds normalized per state dimension


class BlockChecks:
    """NaN rules and train statistics, accumulated block by block (Chan's parallel variance).

    Args:
        source: the `Source` being written (its kind, shape and file mask).
        train: boolean (n,) along the split dim, true on the train split.
    """

    def __init__(self, source, train: np.ndarray) -> None:
        self.source, self.train = source, train
        self.width = source.shape[-1] if source.kind in PER_DIMENSION else 1  # else one value for the field
        self.moments = Moments.empty(self.width)
        self.all_finite = self.any_finite = None  # grids without a mask variable
        self.finite_parts: list[np.ndarray] = []  # stations: where observed

    def add(self, block: np.ndarray, start: int) -> None:
        kind, finite = self.source.kind, np.isfinite(block)
        if kind in ENSEMBLES:
            if not finite.all():
                where = start + int(np.argwhere(~finite)[0][0])
                raise DataError(f"the source has NaN/Inf in trajectory {where}; trajectory ensembles have no mask: "
                                "drop or fill those trajectories and ingest again")
            self._moments(block[self.train[start:start + len(block)]], None)
        elif kind == "series":  # split along time, blocks along time
            if not finite.all():
                where = start + int(np.argwhere(~finite)[0][0])
                raise DataError(f"the source has NaN/Inf at time step {where}; a series has no mask: fill the gap "
                                "(e.g. interpolate) and ingest again")
            self._moments(block[self.train[start:start + len(block)]], None)
        elif kind == "grid":
            time_train = self.train[start:start + len(block)]
            if self.source.mask is not None:
                bad = ~finite & self.source.mask
                if bad.any():
                    t, i, j = np.argwhere(bad)[0]
                    raise DataError(f"NaN/Inf at time step {start + t}, cell ({i}, {j}) where the mask variable "
                                    "says river; fix the data or the mask and ingest again")
                valid = finite & self.source.mask
            else:
                valid = finite
                all_f, any_f = finite.all(axis=0), finite.any(axis=0)
                self.all_finite = all_f if self.all_finite is None else self.all_finite & all_f
                self.any_finite = any_f if self.any_finite is None else self.any_finite | any_f
            self._moments(block[time_train], valid[time_train])
        else:  # stations: split along time, blocks along stations
            self.finite_parts.append(finite)
            self._moments(block[:, self.train], finite[:, self.train])

    def _moments(self, values: np.ndarray, valid: np.ndarray | None) -> None:
        rows = values.reshape(-1, self.width)
        self.moments = self.moments.add(rows, None if valid is None else valid.reshape(-1, self.width))

    def mask(self) -> np.ndarray | None:
        if self.source.kind == "grid":
            if self.source.mask is not None:
                return np.asarray(self.source.mask, dtype=bool)
            gaps = self.any_finite & ~self.all_finite
            if gaps.any():
                i, j = np.argwhere(gaps)[0]
                raise DataError(f"cell ({i}, {j}) is NaN at some times only (gaps in the record); fill the gaps, "
                                "or add a mask(lat, lon) variable to the file, and ingest again")
            if not self.all_finite.any():
                raise DataError("every grid cell has NaN at some time; there is no river cell to learn from")
            return self.all_finite
        if self.source.kind == "stations":
            finite = np.concatenate(self.finite_parts, axis=0)
            return None if finite.all() else finite
        return None

    def stats(self) -> dict:
        if not self.moments.count.all():
            raise DataError("the train split has no finite values; change ingest.split or the data")
        return {"norm_mean": self.moments.mean.tolist(), "norm_std": self.moments.std.tolist()}


def check_time(time: np.ndarray, where: str) -> np.ndarray:
    """The time coordinate, refused unless strictly increasing."""
    time = np.asarray(time)
    if time.ndim != 1:
        raise DataError(f"{where} has a {time.ndim}-D time coordinate; a 1-D one is needed")
    if time.size > 1 and not np.all(time[1:] > time[:-1]):
        first = int(np.argmax(~(time[1:] > time[:-1])))
        raise DataError(f"{where} has a time coordinate that does not increase (at step {first + 1}); "
                        "sort or deduplicate the times and ingest again")
    return time


def check_regular(time: np.ndarray, where: str, rtol: float = 1e-6) -> None:
    """Refuse a time coordinate whose steps differ from their median by more than `rtol` of it.

    Models of a series learn a step of one fixed length; a gap or jitter would silently break that.
    Rows are counted from 1 (the first data row), as a person reading the file would.
    """
    steps = np.diff(time)
    if np.issubdtype(time.dtype, np.datetime64):
        steps = steps / np.timedelta64(1, "s")
    if steps.size < 2:
        return
    dt = np.median(steps)
    off = np.abs(steps - dt) > rtol * dt
    if off.any():
        i = int(np.argmax(off))
        raise DataError(f"{where}: irregular time step at row {i + 2} (time {time[i]} -> {time[i + 1]}, step "
                        f"{steps[i]:g}, the others {dt:g}); resample the series to a regular step and ingest again")


def check_periods(split: np.ndarray, fractions) -> None:
    """Refuse the split labels (0/1/2 per time step) of a series unless each period has two steps
    (one step to learn from)."""
    counts = np.bincount(split, minlength=3)
    short = int(np.argmax(counts < 2))
    if counts[short] < 2:
        raise DataError(f"ingest.split={list(fractions)} leaves the {SPLITS[short]} period {counts[short]} of the "
                        f"{split.size} time steps; each needs at least 2: change ingest.split or ingest more steps")


def time_step(time: np.ndarray) -> tuple[float | None, str | None]:
    """The median step of a time coordinate, and its units (days for datetimes)."""
    if time.size < 2:
        return None, None
    steps = np.diff(time)
    if np.issubdtype(time.dtype, np.datetime64):
        return float(np.median(steps / np.timedelta64(1, "s"))) / 86400.0, "days"
    return float(np.median(steps)), None


def check_length(name: str, values: np.ndarray, size: int, where: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or values.size != size:
        raise DataError(f"{where}: coordinate {name} has shape {values.shape} but the data have {size} points "
                        f"along it; fix the file")
    return values


def float_dtype(dtype, where: str) -> np.dtype:
    """float32 and float64 stay as they are; float16 becomes float32, integers float64."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.dtype(np.float32) if dtype.itemsize < 4 else dtype
    if dtype.kind in "iu":
        return np.dtype(np.float64)
    raise DataError(f"{where} has dtype {dtype}, which is not a real number type; store floats or integers")
