"""Ingest external data (HDF5, NetCDF, .npy, CSV) into a dynlearn store.

What each format becomes (one store holds one scalar quantity):

- ``pdebench`` (``.h5``/``.hdf5``): single-file sets ``tensor`` [N, T, X] -> ``field1d``;
  [N, T, X, Y] variables (``density``, ``Vx``, ...) or ``particles`` [N, T, X, Y, 1] -> ``field2d``;
  ``ingest.variable=vorticity`` computes it from ``velocity`` [N, T, X, Y, 2] (or ``Vx``/``Vy``);
  per-seed groups ``"0000"/data`` [T, X(, Y), C] -> ``field1d``/``field2d`` of channel
  ``ingest.channel`` (needed when C > 1). Vector fields are refused: the schema has no channel dim.
- ``well`` (The Well ``.hdf5``, 2-D sets): ``t0_fields/<ingest.variable>`` [B, T, X, Y] -> ``field2d``,
  coordinates from ``dimensions/``, parameters from the root attrs.
- ``netcdf`` (``.nc``): ``<variable>(time, lat, lon)`` -> ``grid`` with a ``mask(lat, lon)``;
  ``<variable>(station, time)`` -> ``stations``.
- ``csv``: wide station series (first column time, one column per station) -> ``stations``;
  with ``ingest.kind=ode`` (or ``series``) one series of states (a time column, one column per
  state dimension) -> ``series``, split into contiguous train/val/test periods.
- ``npy``: (time, dim) or (1, time, dim) -> ``series``; (traj, time, dim) -> ``ode`` (``field1d``
  with ``ingest.kind=field1d``); (traj, time, y, x) -> ``field2d``; needs ``ingest.dt``.

Floating-point data keep their dtype (float32 stays float32); integers become float64.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .._errors import ConfigError, DataError
from ._ingest_write import write_store
from ._schema import LAYOUTS
from ._store import check_reusable, store_attrs, store_lock

FORMATS = ("pdebench", "well", "netcdf", "csv", "npy")
_EXTENSIONS = {".h5": "hdf5", ".hdf5": "hdf5", ".hdf": "hdf5", ".nc": "netcdf", ".nc4": "netcdf",
               ".netcdf": "netcdf", ".csv": "csv", ".npy": "npy"}


@dataclass(frozen=True)
class IngestSpec:
    """Options of one ingest (``ingest.*`` in the config).

    Attributes:
        format: one of `FORMATS`; None detects it from the extension (and, for HDF5, the content).
        variable: the variable to ingest (a dataset, field or NetCDF variable); None picks the
            format's default (``tensor``; the first ``t0_fields`` entry; ``discharge``/``dis24``/``dis``).
        channel: the channel of a multi-channel PDEBench per-seed ``data`` array.
        kind: the store kind; only needed for a 3-D .npy that is a 1-D field (``field1d``) and
            for a CSV that is one series of states (``ode`` or ``series``, stored as ``series``).
        dt: time step, for files without a time coordinate (.npy, PDEBench without ``t``).
        units: units of the variable; required for station CSV (and NetCDF without a ``units`` attr).
        split: train/val/test fractions, by trajectory for ensembles, by contiguous periods of
            time for a series, grids and stations.
    """

    format: str | None = None
    variable: str | None = None
    channel: int | None = None
    kind: str | None = None
    dt: float | None = None
    units: str | None = None
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise ConfigError(f"unknown ingest.format {self.format!r}; use one of {', '.join(FORMATS)} (or null)")
        if self.kind is not None and self.kind not in LAYOUTS:
            raise ConfigError(f"unknown ingest.kind {self.kind!r}; use one of {', '.join(LAYOUTS)} (or null)")
        if self.dt is not None and not self.dt > 0:
            raise ConfigError(f"ingest.dt must be positive, got {self.dt}")
        split = tuple(self.split) if isinstance(self.split, (list, tuple)) else ()
        if (len(split) != 3 or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and f >= 0
                                       for f in split) or abs(sum(split) - 1) > 1e-6 or not split[0] > 0):
            raise ConfigError(f"ingest.split must be three fractions >= 0 summing to 1 (train > 0), got "
                              f"{self.split!r}; e.g. ingest.split=[0.7,0.15,0.15]")
        object.__setattr__(self, "split", tuple(float(f) for f in split))


def ingest(source: str | Path, store_path: str | Path, spec: IngestSpec = IngestSpec()) -> Path:
    """Read `source` into a new store at `store_path`, or reuse the store made from it before.

    The store is built in a temporary folder next to `store_path`, finalized and renamed into
    place, so an error leaves nothing behind. A complete store made from the same file (path,
    size, modification time) with the same options is reused; anything else at `store_path`
    is never overwritten.

    Args:
        source: the file to read (see the module docstring for the formats).
        store_path: the store directory to create (``<name>.zarr``).
        spec: the ingest options.

    Returns:
        The store path.

    Raises:
        DataError: the file is missing, unreadable or invalid, or `store_path` is taken.
    """
    source, store_path = Path(source), Path(store_path)
    if not source.is_file():
        raise DataError(f"source {source} does not exist or is not a file; fix source=<path>")
    config_hash = _config_hash(source, spec)
    with store_lock(store_path):  # one writer per store; a second ingest waits, then reuses it
        return _ingest(source, store_path, spec, config_hash)


def _ingest(source: Path, store_path: Path, spec: IngestSpec, config_hash: str) -> Path:
    if store_path.exists():
        check_reusable(store_path, config_hash, complete=True, problem="was made from another source or other options",
                       fix="delete it, or set name=<new name> to keep both")
        return store_path
    fmt = detect_format(source, spec.format)
    read = _reader(fmt)
    data = read(source, spec)
    # A single recorded series of ODE states (asked for as ``ode``) is stored as ``series``.
    if spec.kind not in (None, data.kind) and (spec.kind, data.kind) != ("ode", "series"):
        raise DataError(f"{source} holds a {data.kind} dataset, not {spec.kind}; drop ingest.kind or fix it")
    write_store(store_path, data, _attrs(source, store_path, fmt, spec, data, config_hash), spec.split)
    return store_path


def detect_format(source: Path, forced: str | None = None) -> str:
    """The format of `source`: `forced`, else from its extension (HDF5: Well or PDEBench by content)."""
    if forced is not None:
        return forced
    family = _EXTENSIONS.get(source.suffix.lower())
    if family is None:
        raise DataError(f"cannot tell the format of {source.name} from its extension; set ingest.format to "
                        f"one of {', '.join(FORMATS)}")
    if family != "hdf5":
        return family
    import h5py

    try:
        with h5py.File(source, "r") as f:
            return "well" if "t0_fields" in f and "dataset_name" in f.attrs else "pdebench"
    except OSError:
        raise DataError(f"{source} is not a readable HDF5 file; check the file or set ingest.format") from None


def _reader(fmt: str):
    if fmt == "pdebench":
        from ._ingest_hdf5 import read_pdebench as read
    elif fmt == "well":
        from ._ingest_hdf5 import read_well as read
    elif fmt == "netcdf":
        from ._ingest_netcdf import read_netcdf as read
    elif fmt == "csv":
        from ._ingest_tables import read_csv as read
    else:
        from ._ingest_tables import read_npy as read
    return read


def _config_hash(source: Path, spec: IngestSpec) -> str:
    stat = source.stat()
    identity = {"source": str(source.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                "options": dataclasses.asdict(spec)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _attrs(source: Path, store_path: Path, fmt: str, spec: IngestSpec, data, config_hash: str) -> dict:
    """`store_attrs` of an ingested store: nothing was simulated; the reader's attrs (dt, system,
    params, state_names, source, ...) override the defaults, and the file and options are kept."""
    attrs = store_attrs(kind=data.kind, system=store_path.name.removesuffix(".zarr"), params={},
                        state_names=[LAYOUTS[data.kind].variable], dt=data.attrs.get("dt"), dt_simulated=None,
                        solver="ingested", seed=None, lyapunov_time=None, units=data.units, config_hash=config_hash)
    attrs.update(data.attrs)
    attrs["source"] = {"path": str(source.resolve()), "format": fmt, **attrs.get("source", {})}
    attrs["ingest"] = {**dataclasses.asdict(spec), "split": list(spec.split)}
    return attrs
