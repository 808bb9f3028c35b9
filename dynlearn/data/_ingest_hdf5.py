"""Readers for PDEBench and The Well HDF5 files (layouts: reference/data_metrics.md §3.3, §3.4).

HDF5 arrays index space as [..., X, Y]; dynlearn fields are (..., y, x), so 2-D data are
transposed on the way in. Files are reopened for each block, so nothing stays open on error.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .._errors import DataError
from ._ingest_checks import check_length, check_time, float_dtype, time_step
from ._ingest_write import Source

# PDEBench root datasets that are coordinates or per-sample constants, not fields.
_NOT_FIELDS = {"x-coordinate", "y-coordinate", "z-coordinate", "t-coordinate", "t", "force", "nu"}
_VECTOR_HINT = ("the schema stores one scalar field per store (no channel dim yet): ingest "
                "ingest.variable=vorticity (computed from the velocity) or a scalar field")


def read_pdebench(path: Path, spec) -> Source:
    """A PDEBench file: the single-file layout or the per-seed group layout."""
    with h5py.File(path, "r") as f:
        seeds = sorted(k for k in f if isinstance(f[k], h5py.Group) and "data" in f[k])
        if seeds:
            return _per_seed(path, f, seeds, spec)
        return _single_file(path, f, spec)


def _single_file(path: Path, f: h5py.File, spec) -> Source:
    fields = sorted(k for k in f if isinstance(f[k], h5py.Dataset) and k not in _NOT_FIELDS)
    name = spec.variable or ("tensor" if "tensor" in f else fields[0] if len(fields) == 1 else None)
    if name is None and not fields:
        raise DataError(f"{path.name} holds no PDEBench field (tensor, or [N, T, X(, Y)] datasets); check the file")
    if name is None:
        derived = ", or vorticity (from the velocity)" if "velocity" in f or "Vx" in f else ""
        raise DataError(f"{path.name} holds several fields ({', '.join(fields)}{derived}); choose one with "
                        "ingest.variable=")
    if name == "vorticity" and name not in f:
        return _vorticity(path, f, spec)
    if name not in fields:
        raise DataError(f"{path.name} has no field {name!r}; fields present: {', '.join(fields) or 'none'}")
    shape, dtype = f[name].shape, float_dtype(f[name].dtype, f"{path.name}:{name}")
    if len(shape) == 5 and shape[-1] == 1:
        shape, squeeze = shape[:-1], True
    elif len(shape) == 5:
        raise DataError(f"{path.name}:{name} has {shape[-1]} components; {_VECTOR_HINT}")
    else:
        squeeze = False
    if len(shape) not in (3, 4):
        raise DataError(f"{path.name}:{name} has shape {shape}; ingest reads [N, T, X] (1-D) or [N, T, X, Y] (2-D)")

    def read(start: int, stop: int, steps: slice = slice(None)) -> np.ndarray:
        with h5py.File(path, "r") as g:
            block = g[name][start:stop, steps]
        block = block[..., 0] if squeeze else block
        return block if block.ndim == 3 else block.transpose(0, 1, 3, 2)  # [N, T, X, Y] -> (traj, time, y, x)

    return _field(path, f, name, shape, dtype, read, spec)


def _vorticity(path: Path, f: h5py.File, spec) -> Source:
    """ω = ∂v/∂x − ∂u/∂y from ``velocity`` [N, T, X, Y, 2] (or ``Vx``, ``Vy``), second-order differences."""
    if "velocity" in f:
        shape = f["velocity"].shape[:-1]
        components = lambda g, a, b, t: (g["velocity"][a:b, t, ..., 0], g["velocity"][a:b, t, ..., 1])  # noqa: E731
    elif "Vx" in f and "Vy" in f:
        shape = f["Vx"].shape
        components = lambda g, a, b, t: (g["Vx"][a:b, t], g["Vy"][a:b, t])  # noqa: E731
    else:
        raise DataError(f"{path.name} has no velocity (velocity or Vx/Vy) to compute the vorticity from; "
                        f"fields present: {', '.join(k for k in f if k not in _NOT_FIELDS)}")
    if len(shape) != 4:
        raise DataError(f"{path.name}: the velocity has shape {shape} + components; vorticity needs [N, T, X, Y]")
    dtype = float_dtype(f["velocity" if "velocity" in f else "Vx"].dtype, path.name)
    x, y = _space(f, "x", shape[2], path), _space(f, "y", shape[3], path)

    def read(start: int, stop: int, steps: slice = slice(None)) -> np.ndarray:
        with h5py.File(path, "r") as g:
            u, v = (c.astype(np.float64) for c in components(g, start, stop, steps))
        omega = np.gradient(v, x, axis=2, edge_order=2) - np.gradient(u, y, axis=3, edge_order=2)
        return omega.transpose(0, 1, 3, 2).astype(dtype)

    source = _field(path, f, "vorticity", shape, dtype, read, spec)
    source.variable_attrs["comment"] = "computed from the velocity with second-order central differences"
    return source


def _field(path: Path, f: h5py.File, name: str, shape, dtype, read, spec) -> Source:
    """A single-file field [N, T, X(, Y)] with its coordinates."""
    time = _time(f, shape[1], path, spec)
    coords = {"traj": np.arange(shape[0]), "time": time, "x": _space(f, "x", shape[2], path)}
    if len(shape) == 4:
        coords["y"] = _space(f, "y", shape[3], path)
        shape = (shape[0], shape[1], shape[3], shape[2])
    params = {k: v.item() for k, v in f.attrs.items() if isinstance(v, np.generic) and np.isreal(v)}
    dt, _ = time_step(time)
    return Source(kind="field1d" if len(shape) == 3 else "field2d", shape=tuple(shape), dtype=dtype, read=read,
                  coords=coords, variable_attrs={"long_name": name}, units=spec.units or "dimensionless",
                  attrs={"dt": dt, "params": params, "state_names": [name], "source": {"variable": name}})


def _time(f: h5py.File, n: int, path: Path, spec) -> np.ndarray:
    if "t-coordinate" in f:
        t = f["t-coordinate"][:]
        t = t[:-1] if t.ndim == 1 and t.size == n + 1 else t  # PDEBench 1-D files store T + 1 time edges
    elif "t" in f:
        t = f["t"][:]
        if t.ndim == 2:  # [N, T]: one time axis per sample, which must agree
            if not np.allclose(t, t[:1]):
                raise DataError(f"{path.name}: the time axis t differs between samples; ingest needs one time axis")
            t = t[0]
    elif spec.dt is not None:
        t = np.arange(n) * spec.dt
    else:
        raise DataError(f"{path.name} has no time coordinate (t-coordinate or t); set ingest.dt=<time step>")
    return check_time(check_length("time", t, n, path.name).astype(np.float64), path.name)


def _space(f: h5py.File, axis: str, n: int, path: Path) -> np.ndarray:
    """``<axis>-coordinate`` if present, else cell centres of [0, 1] (PDEBench NS files store none)."""
    name = f"{axis}-coordinate"
    if name in f:
        return check_length(axis, f[name][:], n, path.name).astype(np.float64)
    return (np.arange(n) + 0.5) / n


def _per_seed(path: Path, f: h5py.File, seeds: list[str], spec) -> Source:
    first = f[seeds[0]]["data"]
    shape = first.shape
    for seed in seeds:
        if f[seed]["data"].shape != shape:
            raise DataError(f"{path.name}: seed {seed} has data of shape {f[seed]['data'].shape}, seed {seeds[0]} "
                            f"{shape}; all seeds must match")
    if len(shape) not in (3, 4):
        raise DataError(f"{path.name}: {seeds[0]}/data has shape {shape}; ingest reads [T, X, C] or [T, X, Y, C]")
    channel = spec.channel if spec.channel is not None else 0 if shape[-1] == 1 else None
    if channel is None or not 0 <= channel < shape[-1]:
        raise DataError(f"{path.name}: data have {shape[-1]} channels; choose one with "
                        f"ingest.channel=<0..{shape[-1] - 1}> (the schema stores one scalar field per store)")
    dtype = float_dtype(first.dtype, f"{path.name}:{seeds[0]}/data")
    grid = f[seeds[0]].get("grid", {})
    missing = [a for a in ("t", "x", "y")[:len(shape) - 1] if a not in grid]
    if missing:
        raise DataError(f"{path.name}: {seeds[0]}/grid lacks {', '.join(missing)}; the per-seed layout needs "
                        "grid/x(, grid/y) and grid/t")
    time = check_time(check_length("time", grid["t"][:], shape[0], path.name).astype(np.float64), path.name)
    coords = {"traj": np.arange(len(seeds)), "time": time}
    for axis, n in zip("xy", shape[1:-1]):
        coords[axis] = check_length(axis, grid[axis][:], n, path.name).astype(np.float64)

    def read(start: int, stop: int, steps: slice = slice(None)) -> np.ndarray:
        with h5py.File(path, "r") as g:
            block = np.stack([g[s]["data"][steps, ..., channel] for s in seeds[start:stop]])
        return block if block.ndim == 3 else block.transpose(0, 1, 3, 2)

    spatial = shape[1:-1][::-1]
    dt, _ = time_step(time)
    return Source(kind="field1d" if len(spatial) == 1 else "field2d", shape=(len(seeds), shape[0], *spatial),
                  dtype=dtype, read=read, coords=coords, units=spec.units or "dimensionless",
                  variable_attrs={"long_name": f"data channel {channel}"},
                  attrs={"dt": dt, "state_names": [f"channel {channel}"],
                         "source": {"variable": "data", "channel": channel, "seeds": [seeds[0], seeds[-1]]}})


def read_well(path: Path, spec) -> Source:
    """A 2-D The Well file: one scalar ``t0_fields`` entry as ``field2d``."""
    with h5py.File(path, "r") as f:
        dataset = _text(f.attrs["dataset_name"])
        if int(f.attrs.get("n_spatial_dims", 0)) != 2:
            raise DataError(f"{path.name} is a {f.attrs.get('n_spatial_dims')}-D Well set; ingest reads 2-D sets only")
        t0 = f["t0_fields"]
        names = [_text(n) for n in t0.attrs.get("field_names", [])] or list(t0)
        name = spec.variable or (names[0] if names else None)
        if name not in t0:
            vectors = [k for group in ("t1_fields", "t2_fields") if group in f for k in f[group]]
            if name in vectors:
                raise DataError(f"{path.name}: {name} is a vector/tensor field; {_VECTOR_HINT} ({', '.join(t0)})")
            raise DataError(f"{path.name} has no scalar field {name!r}; t0_fields present: {', '.join(t0) or 'none'}")
        shape, dtype = t0[name].shape, float_dtype(t0[name].dtype, f"{path.name}:{name}")
        if len(shape) != 4:
            raise DataError(f"{path.name}: t0_fields/{name} has shape {shape}; ingest reads [B, T, X, Y] "
                            "(time-varying, sample-varying 2-D fields)")
        dims = f["dimensions"]
        spatial = [_text(d) for d in dims.attrs.get("spatial_dims", ["x", "y"])]
        if sorted(spatial) != ["x", "y"]:
            raise DataError(f"{path.name} has spatial dims {spatial}; ingest reads cartesian (x, y) Well sets")
        time = dims["time"][:]
        if time.ndim == 2:  # sample-varying time: one axis per trajectory, which must agree
            if not np.allclose(time, time[:1]):
                raise DataError(f"{path.name}: the time axis differs between trajectories; ingest needs one")
            time = time[0]
        time = check_time(check_length("time", time, shape[1], path.name).astype(np.float64), path.name)
        coords = {"traj": np.arange(shape[0]), "time": time}
        for axis, n in zip(spatial, shape[2:]):
            coords[axis] = check_length(axis, dims[axis][:], n, path.name).astype(np.float64)
        param_names = [_text(p) for p in f.attrs.get("simulation_parameters", [])]
        params = {p: np.asarray(f.attrs[p]).item() for p in param_names if p in f.attrs}
        grid_type = _text(f.attrs.get("grid_type", "cartesian"))
    order = (0, 1, 3, 2) if spatial == ["x", "y"] else (0, 1, 2, 3)  # -> (traj, time, y, x)

    def read(start: int, stop: int, steps: slice = slice(None)) -> np.ndarray:
        with h5py.File(path, "r") as g:
            return g["t0_fields"][name][start:stop, steps].transpose(order)

    dt, _ = time_step(time)
    return Source(kind="field2d", shape=tuple(shape[i] for i in order), dtype=dtype, read=read, coords=coords,
                  variable_attrs={"long_name": name}, units=spec.units or "dimensionless",
                  attrs={"system": dataset, "params": params, "dt": dt, "state_names": [name],
                         "grid_type": grid_type, "source": {"variable": f"t0_fields/{name}"}})


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
