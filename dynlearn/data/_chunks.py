"""Chunk checksums, and one-line reports of chunks that cannot be read back.

New stores write their data arrays through Zstd and then a CRC32C checksum (zarr's codec), so a
chunk changed on disk after it was written is caught when it is read, instead of decoding into
wrong numbers or a codec's traceback. A read that fails anywhere names the store, the array and
the chunk, found by reading that store's chunks one by one (only after a failure: the happy path
pays nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

from .._errors import DataError

# What every data array of a new store is compressed with: Zstd (zarr's default), then the checksum.
CHECKSUMMED = (ZstdCodec(level=0, checksum=False), Crc32cCodec())


def checksummed(encoding_of: list[str]) -> dict:
    """xarray ``to_zarr`` encoding giving these variables the `CHECKSUMMED` codecs."""
    return {name: {"compressors": CHECKSUMMED} for name in encoding_of}


def verify_chunks(path: str | Path) -> None:
    """Read every chunk of every array of the store at `path` (checksums verified where written).

    Raises:
        DataError: one line naming the store, the array and the first chunk that cannot be read.
    """
    path = Path(path)
    for name, array in _arrays(zarr.open_group(str(path), mode="r", use_consolidated=False)):
        bad = _first_bad_chunk(array)
        if bad is not None:
            raise _corrupt(path, name, *bad)


@contextmanager
def readable(path: str | Path) -> Iterator[None]:
    """Turn a failed read inside the block into the one-line `DataError` naming the corrupt chunk."""
    try:
        yield
    except DataError:
        raise
    except Exception as error:  # a codec's or zarr's own error: find the chunk behind it
        path = Path(path)
        try:
            verify_chunks(path)
        except DataError as located:
            raise located from None
        raise DataError(f"store {path} cannot be read ({type(error).__name__}: {_first_line(error)}); "
                        "regenerate or re-ingest it") from None


def _arrays(group: zarr.Group, prefix: str = ""):
    for name, member in group.members():
        if isinstance(member, zarr.Group):
            yield from _arrays(member, f"{prefix}{name}/")
        else:
            yield f"{prefix}{name}", member


def _first_bad_chunk(array) -> tuple[tuple[int, ...], Exception] | None:
    for index in np.ndindex(*array.cdata_shape):
        region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, array.chunks))
        try:
            array[region]
        except Exception as error:
            return index, error
    return None


def _corrupt(path: Path, name: str, index: tuple[int, ...], error: Exception) -> DataError:
    return DataError(f"store {path}: chunk {'.'.join(map(str, index))} of array '{name}' cannot be read "
                     f"({type(error).__name__}: {_first_line(error)}); the store is corrupt: regenerate or "
                     "re-ingest it")


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:160]
