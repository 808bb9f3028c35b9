"""Held-out cases for free-run evaluation: a context to start from and the truth that follows.

Ensembles (split by trajectory) give one case per trajectory of the split, starting at its first
state. A single recorded series (split by contiguous time periods) gives several cases inside
its period: consecutive chunks of equal length, each a context followed by its truth, so the
truths of all cases together cover the period.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from .._errors import DataError
from ._schema import SPLITS, TIME, TRAJ, layout_of, split_indices

# Fewest true steps per case: D_H smooths spectra over 20 frequency bins, and D_stsp needs a
# few hundred points in the histogram, so shorter truths measure nothing.
MIN_CASE_STEPS = 500
# The split whose trajectories give the true-vs-true floor of generated data; stores without
# one (ingested ensembles, series) use the validation split.
FLOOR_SPLIT = "floor"


@dataclass(frozen=True)
class EvalCases:
    """K held-out cases, in the store's units (or normalized, see `map`).

    Attributes:
        contexts: observations up to each start, (K, C, *state_shape).
        truths: the n observations after each context, (K, n, *state_shape).
        origins: (trajectory, or -1 for a time split; step of the first context observation)
            per case, so two evaluations can tell whether they used the same data.
        split: the split the cases come from.
    """

    contexts: np.ndarray
    truths: np.ndarray
    origins: tuple[tuple[int, int], ...]
    split: str

    def __len__(self) -> int:
        return len(self.origins)

    @property
    def n_steps(self) -> int:
        return self.truths.shape[1]

    def map(self, fn) -> EvalCases:
        """The same cases with `fn` applied to contexts and truths (e.g. normalization)."""
        return replace(self, contexts=fn(self.contexts), truths=fn(self.truths))

    def inner_contexts(self, per_case: int) -> np.ndarray | None:
        """Contexts ending at `per_case` evenly spaced times inside each truth, (K·per_case, C, ...)
        ordered by time, then case; None for none: true states far from the cases' own starts."""
        c, n = self.contexts.shape[1], self.n_steps
        ends = [(j + 1) * n // (per_case + 1) for j in range(per_case)]
        blocks = [self.truths[:, e - c:e] for e in ends if e >= c]
        return np.concatenate(blocks) if blocks else None


def evaluation_cases(ds: xr.Dataset, split: str, *, n_cases: int, n_steps: int,
                     context: int = 1, min_steps: int = MIN_CASE_STEPS) -> EvalCases:
    """Up to `n_cases` cases of `split` with up to `n_steps` true steps each.

    Args:
        ds: a validated store.
        split: 'train', 'val', 'test' or 'floor'.
        n_cases: cases wanted (fewer when the split holds fewer trajectories or periods).
        n_steps: true steps per case wanted (fewer when the data are shorter).
        context: observations in each context.
        min_steps: fewest true steps a case may have (the invariants need MIN_CASE_STEPS;
            the field protocol's short forecasts fewer).

    Raises:
        DataError: the split is missing or too short for a case of `min_steps` true steps.
    """
    layout = layout_of(ds)
    data = ds[layout.variable]
    if layout.split_dim == TRAJ:
        trajectories = split_indices(ds, split)[:n_cases]
        _check(len(trajectories) > 0 and ds.sizes[TIME] >= context + min_steps, split,
               ds.sizes[TIME] if len(trajectories) else 0, context, min_steps)
        n = min(n_steps, ds.sizes[TIME] - context)
        block = data.isel({TRAJ: trajectories, TIME: slice(0, context + n)}).values
        return EvalCases(block[:, :context], block[:, context:], tuple((int(j), 0) for j in trajectories), split)
    first, stop = _longest_period(split_indices(ds, split))
    length = stop - first
    _check(length >= context + min_steps, split, length, context, min_steps)
    k = max(1, min(n_cases, length // (context + min(n_steps, min_steps))))
    n = min(n_steps, length // k - context)
    starts = [first + i * (context + n) for i in range(k)]
    series = data.transpose(TIME, ...).values
    block = np.stack([series[s:s + context + n] for s in starts])
    return EvalCases(block[:, :context], block[:, context:], tuple((-1, s) for s in starts), split)


def floor_cases(ds: xr.Dataset, test: EvalCases) -> EvalCases | None:
    """True cases independent of `test`, as many and as long, for the true-vs-true floor.

    Generated stores hold a floor split of their own; others use the validation split. Returns
    None when no split can give cases as long as the test cases.
    """
    split = FLOOR_SPLIT if (ds["split"].values == SPLITS.index(FLOOR_SPLIT)).any() else "val"
    try:
        floor = evaluation_cases(ds, split, n_cases=len(test), n_steps=test.n_steps,
                                 context=test.contexts.shape[1])
    except DataError:
        return None
    return floor if floor.n_steps == test.n_steps else None


def _longest_period(indices: np.ndarray) -> tuple[int, int]:
    """(first, stop) of the longest contiguous run of time steps in `indices`."""
    if indices.size == 0:
        return 0, 0
    breaks = np.flatnonzero(np.diff(indices) > 1)
    firsts = np.concatenate([[indices[0]], indices[breaks + 1]])
    lasts = np.concatenate([indices[breaks], [indices[-1]]])
    i = int(np.argmax(lasts - firsts))
    return int(firsts[i]), int(lasts[i]) + 1


def _check(ok: bool, split: str, length: int, context: int, min_steps: int) -> None:
    if not ok:
        raise DataError(
            f"the store's {split} split has {length} steps per case; evaluation needs at least "
            f"{context + min_steps} ({context} context + {min_steps} true steps): use a longer "
            "series, a larger split fraction (ingest.split) or longer trajectories (data.n_steps)")
