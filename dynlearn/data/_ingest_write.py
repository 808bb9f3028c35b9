"""Write a `Source` read by an ingest reader into a store: streamed, checked, all or nothing.

Readers (`_ingest_hdf5`, `_ingest_netcdf`, `_ingest_tables`) turn a file into a `Source`: the
data as blocks along the layout's first dimension, already in the layout's dim order, plus
coordinates and attrs. This module streams those blocks into a Zarr group built in a temporary
folder next to the target, checks them (NaN only where a mask allows, consistent shapes),
accumulates the train-split statistics, finalizes (``complete`` + consolidated metadata) and
only then renames the folder into place.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from .._errors import DataError
from ..atomic import atomic_directory
from ._chunks import CHECKSUMMED
from ._ingest_checks import ENSEMBLES, BlockChecks, check_periods
from ._schema import LAYOUTS, MASK, SPLIT, SPLITS
from ._store import finalize_store

_BLOCK_BYTES = 64 * 2**20  # data read and checked per block
_CHUNK_BYTES = 4 * 2**20  # target size of one (uncompressed) Zarr chunk


@dataclass
class Source:
    """A dataset read from a file, in a store layout, not yet written.

    Attributes:
        kind: the store kind (a key of `LAYOUTS`).
        shape: shape of the data variable, in the layout's dim order.
        dtype: dtype stored (float32 or float64).
        read: ``read(start, stop)`` -> the data for ``[start:stop]`` along the first dim;
            ensemble readers also take ``read(start, stop, steps)`` with a slice of time steps.
        coords: coordinate values by name; a 1-D array of a layout dim, or ``(dim, values)``.
        coord_attrs: attrs of coordinates (units, standard_name, ...), by name.
        variable_attrs: attrs of the data variable (long_name, ...).
        units: units of the data variable.
        attrs: store attrs set by the reader (system, params, dt, state_names, source, ...).
        mask: a boolean mask from the file (grids: over (lat, lon)), or None.
    """

    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype
    read: Callable[[int, int], np.ndarray]
    coords: dict = field(default_factory=dict)
    coord_attrs: dict = field(default_factory=dict)
    variable_attrs: dict = field(default_factory=dict)
    units: str = "dimensionless"
    attrs: dict = field(default_factory=dict)
    mask: np.ndarray | None = None


def split_labels(n: int, fractions: tuple[float, float, float]) -> np.ndarray:
    """0/1/2 (train/val/test) for `n` items in order: the first ~f_train train, then val, then test.

    The boundaries are the cumulative fractions times `n`, rounded half up.
    """
    bounds = np.floor(np.cumsum(fractions)[:2] * n + 0.5 + 1e-9).astype(int)  # 1e-9: 0.7 * 25 is 17.4999...
    return np.searchsorted(bounds, np.arange(n), side="right").astype(np.int8)


def write_store(path: Path, source: Source, attrs: dict, fractions: tuple[float, float, float]) -> None:
    """Write `source` to a new store at `path` with store attrs `attrs` (all or nothing).

    Args:
        path: the store to create (must not exist).
        source: what a reader made of the file.
        attrs: store attrs beside the reader's (schema, hash, provenance).
        fractions: train/val/test fractions along the layout's split dim (`split_labels`).
    """
    split = _split(source, fractions)  # refused before anything is created
    with atomic_directory(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr: string dtypes and consolidation are not in the v3 spec yet
        stats = _write(tmp, source, split)
        finalize_store(tmp, {**attrs, **stats})


def _split(source: Source, fractions) -> np.ndarray:
    """0/1/2 labels along the layout's split dim, refused if the train split is empty (or, for a
    series, any period is shorter than 2 steps)."""
    layout = LAYOUTS[source.kind]
    n = source.shape[layout.dims.index(layout.split_dim)]
    split = split_labels(n, fractions)
    if not (split == 0).any():
        raise DataError(f"the train split is empty ({n} {layout.split_dim} entries); "
                        "raise the train fraction in ingest.split or ingest more data")
    if source.kind == "series":
        check_periods(split, fractions)
    return split


def _write(tmp: Path, source: Source, split: np.ndarray) -> dict:
    layout = LAYOUTS[source.kind]
    coords = {name: (value if isinstance(value, tuple) else (name, np.asarray(value)))
              for name, value in source.coords.items()}
    coords[SPLIT] = (layout.split_dim, split)
    template = xr.Dataset(coords=coords)
    for name, extra in source.coord_attrs.items():
        template[name].attrs.update(extra)
    template[SPLIT].attrs.update({"flag_values": [0, 1, 2], "flag_meanings": " ".join(SPLITS[:3])})
    template.to_zarr(str(tmp), mode="w-", zarr_format=3, consolidated=False)

    group = zarr.open_group(str(tmp), mode="r+", use_consolidated=False)
    non_index = [name for name in coords if name not in layout.dims]
    array = group.create_array(
        layout.variable, shape=source.shape, chunks=_chunks(source), dtype=source.dtype, fill_value=np.nan,
        dimension_names=layout.dims, compressors=CHECKSUMMED,
        attributes={**source.variable_attrs, "units": source.units, "coordinates": " ".join(non_index)})
    train = split == 0
    check = BlockChecks(source, train)
    for start, stop, steps in _blocks(source):
        index = (slice(start, stop),) if steps is None else (slice(start, stop), steps)
        block = np.asarray(source.read(start, stop) if steps is None else source.read(start, stop, steps))
        expected = _block_shape(source, start, stop, steps)
        if block.shape != expected:
            raise DataError(f"the source gave a block of shape {block.shape} where {expected} was expected; "
                            "its variables disagree in shape, fix the file")
        check.add(block, start)
        array[index] = block.astype(source.dtype, copy=False)
    mask = check.mask()
    if mask is not None:
        mask_dims = ("lat", "lon") if source.kind == "grid" else layout.dims
        group.create_array(MASK, data=mask, dimension_names=mask_dims,
                           attributes={"long_name": "true where the data are valid (river cells / observed)"})
    return check.stats()


def _blocks(source: Source):
    """(start, stop, steps) blocks of about `_BLOCK_BYTES`: whole outer entries, or for a long
    trajectory (a 512² NS run is ~1 GB) one trajectory and a window of time steps."""
    n, itemsize = source.shape[0], source.dtype.itemsize
    per_outer = int(np.prod(source.shape[1:], dtype=np.int64)) * itemsize
    if source.kind in ENSEMBLES and per_outer > _BLOCK_BYTES:
        per_step = max(1, per_outer // source.shape[1])
        window = max(1, _BLOCK_BYTES // per_step)
        for start in range(n):
            for t in range(0, source.shape[1], window):
                yield start, start + 1, slice(t, min(t + window, source.shape[1]))
        return
    rows = max(1, _BLOCK_BYTES // max(1, per_outer))
    for start in range(0, n, rows):
        yield start, min(start + rows, n), None


def _block_shape(source: Source, start: int, stop: int, steps: slice | None) -> tuple[int, ...]:
    if steps is None:
        return (stop - start, *source.shape[1:])
    return (stop - start, steps.stop - steps.start, *source.shape[2:])


def _chunks(source: Source) -> tuple[int, ...]:
    """One trajectory (or a block of grid steps / stations) and as many time steps as fit ~4 MiB."""
    shape, itemsize = source.shape, source.dtype.itemsize
    if source.kind in ENSEMBLES:
        per_step = int(np.prod(shape[2:], dtype=np.int64)) * itemsize
        outer = min(shape[0], 4) if source.kind == "ode" else 1
        return (outer, max(1, min(shape[1], _CHUNK_BYTES // max(1, outer * per_step))), *shape[2:])
    if source.kind == "grid":
        return (max(1, min(shape[0], _CHUNK_BYTES // (shape[1] * shape[2] * itemsize))), *shape[1:])
    return (max(1, min(shape[0], _CHUNK_BYTES // (shape[1] * itemsize))), shape[1])
