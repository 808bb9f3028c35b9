"""Ingest: each format lands in the schema with its values, coordinates, split and train statistics.

Every fixture is written here from the published layout (PDEBench, The Well, GloFAS-style
NetCDF, station CSV, .npy); the expected values are computed from the fixture independently.
"""

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dynlearn import DataError
from dynlearn.data import validate
from dynlearn.data._ingest import IngestSpec, ingest
from tests.helpers import tree


def counts(n, fractions=(0.7, 0.15, 0.15)):
    """The documented split: first round(0.7 n) train, up to round(0.85 n) val, the rest test."""
    b1, b2 = (int(np.floor(f * n + 0.5 + 1e-9)) for f in (fractions[0], fractions[0] + fractions[1]))
    return [0] * b1 + [1] * (b2 - b1) + [2] * (n - b2)


def assert_train_stats(ds, train_values, axis=None):
    train_values = np.asarray(train_values, dtype=np.float64)
    np.testing.assert_allclose(ds.attrs["norm_mean"], np.atleast_1d(np.nanmean(train_values, axis=axis)), rtol=1e-10)
    np.testing.assert_allclose(ds.attrs["norm_std"], np.atleast_1d(np.nanstd(train_values, axis=axis)), rtol=1e-10)


def assert_ingested_attrs(ds, kind, system, fmt):
    assert ds.attrs["kind"] == kind and ds.attrs["system"] == system and ds.attrs["complete"] is True
    assert ds.attrs["solver"] == "ingested" and ds.attrs["seed"] is None and ds.attrs["dt_simulated"] is None
    assert ds.attrs["source"]["format"] == fmt


def refused(tmp_path, source, spec, match):
    """Ingest fails with one line matching `match` and leaves no store and no temp folder."""
    data = tmp_path / "data"
    before = tree(data)
    with pytest.raises(DataError, match=match) as info:
        ingest(source, data / "bad.zarr", spec)
    assert "\n" not in str(info.value)
    assert tree(data) == before and not any("bad.zarr" in p for p in before)


# --- PDEBench ---------------------------------------------------------------------------------

@pytest.fixture
def pdebench_1d(tmp_path, rng):
    n, t, x = 20, 11, 16
    tensor = rng.normal(size=(n, t, x)).astype(np.float32)
    path = tmp_path / "1D_Advection_Sols_beta0.1.hdf5"
    with h5py.File(path, "w") as f:
        f["tensor"] = tensor
        f["x-coordinate"] = ((np.arange(x) + 0.5) / x).astype(np.float32)
        f["t-coordinate"] = np.linspace(0, 2.0, t + 1).astype(np.float32)  # PDEBench stores T + 1 times
    return path, tensor


def test_pdebench_1d(tmp_path, pdebench_1d):
    path, tensor = pdebench_1d
    ds = validate(ingest(path, tmp_path / "data" / "adv.zarr"))
    assert_ingested_attrs(ds, "field1d", "adv", "pdebench")
    assert ds["u"].dtype == np.float32  # float32 stays float32
    np.testing.assert_array_equal(ds["u"].values, tensor)
    np.testing.assert_array_equal(ds["time"].values, np.linspace(0, 2.0, 12).astype(np.float32)[:-1])
    np.testing.assert_array_equal(ds["x"].values, ((np.arange(16) + 0.5) / 16).astype(np.float32))
    assert list(ds["split"].values) == counts(20) == [0] * 14 + [1] * 3 + [2] * 3
    assert_train_stats(ds, tensor[:14])
    assert ds.attrs["dt"] == pytest.approx(2.0 / 11, rel=1e-6)


def test_small_blocks_give_the_same_store(tmp_path, pdebench_1d, rng, monkeypatch):
    """Streaming in many blocks (time windows of one trajectory, single grid steps) changes nothing."""
    import dynlearn.data._ingest_write as writer

    path, tensor = pdebench_1d
    grid = tmp_path / "glofas.nc"
    glofas(grid, rng)
    whole = [validate(ingest(p, tmp_path / "data" / f"{p.stem}.zarr")) for p in (path, grid)]
    monkeypatch.setattr(writer, "_BLOCK_BYTES", 500)  # < one trajectory (704 B): 7-step windows
    parts = [validate(ingest(p, tmp_path / "small" / f"{p.stem}.zarr")) for p in (path, grid)]
    for a, b in zip(whole, parts):
        name = "u" if "u" in a else "discharge"
        np.testing.assert_array_equal(a[name].values, b[name].values)
        np.testing.assert_allclose(a.attrs["norm_mean"], b.attrs["norm_mean"], rtol=1e-12)
        np.testing.assert_allclose(a.attrs["norm_std"], b.attrs["norm_std"], rtol=1e-12)
    np.testing.assert_array_equal(parts[0]["u"].values, tensor)


def test_pdebench_mismatched_coordinate_refused(tmp_path, pdebench_1d):
    path, _ = pdebench_1d
    with h5py.File(path, "r+") as f:
        del f["x-coordinate"]
        f["x-coordinate"] = np.arange(15.0)
    refused(tmp_path, path, IngestSpec(), "coordinate x has shape")


@pytest.fixture
def pdebench_ns(tmp_path):
    """2-D incompressible NS layout: velocity [B, T, X, Y, 2], particles [B, T, X, Y, 1], t [B, T]."""
    b, t, nx, ny = 4, 3, 12, 10
    x, y = (np.arange(nx) + 0.5) / nx, (np.arange(ny) + 0.5) / ny
    scale = 1.0 + np.arange(b)[:, None] + 0.5 * np.arange(t)[None, :]  # (B, T)
    X, Y = np.meshgrid(x, y, indexing="ij")  # [X, Y]
    velocity = np.stack([-Y**2 * scale[..., None, None], X**2 * scale[..., None, None]], axis=-1)
    particles = (X + 10 * Y)[None, None, :, :, None] * scale[..., None, None, None]
    path = tmp_path / "ns_incom_inhom_2d_512-0.h5"
    with h5py.File(path, "w") as f:
        f["velocity"] = velocity.astype(np.float32)
        f["particles"] = particles.astype(np.float32)
        f["force"] = np.zeros((b, nx, ny, 2), np.float32)
        f["t"] = np.tile(np.arange(t) * 0.005, (b, 1))
    return path, x, y, scale, particles


def test_pdebench_ns_vorticity_and_scalar_field(tmp_path, pdebench_ns):
    path, x, y, scale, particles = pdebench_ns
    ds = validate(ingest(path, tmp_path / "data" / "ns.zarr", IngestSpec(variable="vorticity")))
    # u = -y² s, v = x² s: ω = ∂v/∂x - ∂u/∂y = 2 s (x + y), exact for second-order differences.
    expected = 2 * scale[..., None, None] * (x[None, :] + y[:, None])  # (traj, time, y, x)
    assert ds["vorticity"].dims == ("traj", "time", "y", "x") and ds["vorticity"].dtype == np.float32
    np.testing.assert_allclose(ds["vorticity"].values, expected, rtol=1e-5)
    np.testing.assert_allclose(ds["x"].values, x) and np.testing.assert_allclose(ds["y"].values, y)
    np.testing.assert_allclose(ds["time"].values, [0, 0.005, 0.01])
    ds = validate(ingest(path, tmp_path / "data" / "tracer.zarr", IngestSpec(variable="particles")))
    np.testing.assert_array_equal(ds["vorticity"].values, particles[..., 0].astype(np.float32).transpose(0, 1, 3, 2))
    assert ds.attrs["state_names"] == ["particles"]


def test_pdebench_velocity_needs_a_channel_dim(tmp_path, pdebench_ns):
    refused(tmp_path, pdebench_ns[0], IngestSpec(variable="velocity"), "2 components.*vorticity")
    refused(tmp_path, pdebench_ns[0], IngestSpec(variable="pressure"), "no field 'pressure'; fields present: "
            "particles, velocity")


def test_pdebench_per_seed_groups(tmp_path, rng):
    t, nx, ny, c = 5, 8, 6, 2
    data = rng.normal(size=(10, t, nx, ny, c)).astype(np.float32)
    path = tmp_path / "2D_diff-react_NA_NA.h5"
    with h5py.File(path, "w") as f:
        for seed in range(10):
            group = f.create_group(f"{seed:04d}")
            group["data"] = data[seed]
            group["grid/x"] = np.linspace(-1, 1, nx)
            group["grid/y"] = np.linspace(-1, 1, ny)
            group["grid/t"] = np.linspace(0, 5, t)
    refused(tmp_path, path, IngestSpec(), "2 channels; choose one with ingest.channel")
    ds = validate(ingest(path, tmp_path / "data" / "dr.zarr", IngestSpec(channel=1)))
    np.testing.assert_array_equal(ds["vorticity"].values, data[..., 1].transpose(0, 1, 3, 2))
    np.testing.assert_array_equal(ds["time"].values, np.linspace(0, 5, t))
    np.testing.assert_array_equal(ds["y"].values, np.linspace(-1, 1, ny))
    assert list(ds["split"].values) == counts(10)
    assert_train_stats(ds, data[:7, ..., 1])


# --- The Well ---------------------------------------------------------------------------------

@pytest.fixture
def well(tmp_path, rng):
    b, t, w, h = 6, 4, 8, 5
    fields = {name: rng.normal(size=(b, t, w, h)).astype(np.float32) for name in ("tracer", "pressure")}
    path = tmp_path / "shear_flow_Reynolds_1e4_Schmidt_1e0.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs.update({"dataset_name": "shear_flow", "n_spatial_dims": 2, "n_trajectories": b,
                        "grid_type": "cartesian", "simulation_parameters": ["Reynolds", "Schmidt"],
                        "Reynolds": 1e4, "Schmidt": 1.0})
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        for name, values in (("time", np.arange(t) * 0.1), ("x", np.linspace(0, 1, w)), ("y", np.linspace(0, 2, h))):
            dims[name] = values.astype(np.float32)
            dims[name].attrs.update({"sample_varying": False, "time_varying": name == "time"})
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = ["tracer", "pressure"]
        for name, values in fields.items():
            t0[name] = values
            t0[name].attrs.update({"dim_varying": [True, True], "sample_varying": True, "time_varying": True})
        f["t1_fields/velocity"] = np.zeros((b, t, w, h, 2), np.float32)
        f.create_group("boundary_conditions")
        f.create_group("scalars")
    return path, fields


def test_well_field2d_with_params(tmp_path, well):
    path, fields = well
    ds = validate(ingest(path, tmp_path / "data" / "shear.zarr"))
    assert_ingested_attrs(ds, "field2d", "shear_flow", "well")
    assert ds.attrs["params"] == {"Reynolds": 1e4, "Schmidt": 1.0}
    assert ds.attrs["state_names"] == ["tracer"] and ds["vorticity"].dtype == np.float32
    np.testing.assert_array_equal(ds["vorticity"].values, fields["tracer"].transpose(0, 1, 3, 2))
    np.testing.assert_array_equal(ds["y"].values, np.linspace(0, 2, 5).astype(np.float32))
    np.testing.assert_allclose(ds.attrs["dt"], 0.1, rtol=1e-6)
    assert list(ds["split"].values) == counts(6)
    assert_train_stats(ds, fields["tracer"][:4])
    ds = validate(ingest(path, tmp_path / "data" / "p.zarr", IngestSpec(variable="pressure")))
    np.testing.assert_array_equal(ds["vorticity"].values, fields["pressure"].transpose(0, 1, 3, 2))


def test_well_refuses_vectors_and_unknown_fields(tmp_path, well):
    refused(tmp_path, well[0], IngestSpec(variable="velocity"), "vector/tensor field")
    refused(tmp_path, well[0], IngestSpec(variable="density"), "t0_fields present: pressure, tracer")


# --- NetCDF (GloFAS-style grid) ----------------------------------------------------------------

def glofas(path, rng, *, with_mask=False, gap=False, hole=False):
    """discharge(time, lat, lon) packed as int16 with scale/offset, _FillValue, NaN off the river."""
    nt, nlat, nlon = 40, 6, 7
    river = np.zeros((nlat, nlon), bool)
    river[np.arange(nlat), np.arange(nlat) % nlon] = True
    river[2, 3:6] = True
    values = 100 + 50 * rng.random((nt, nlat, nlon))
    values[:, ~river] = np.nan
    if gap:
        values[5, 0, 0] = np.nan  # a river cell with a gap
    if hole:
        values[7, 2, 4] = np.nan
    ds = xr.Dataset(
        {"dis24": (("time", "latitude", "longitude"), values,
                   {"units": "m3 s-1", "long_name": "Mean discharge in the last 24 hours"})},
        coords={"time": pd.date_range("2000-01-01", periods=nt, freq="D"),
                "latitude": ("latitude", np.linspace(50.0, 49.5, nlat), {"units": "degrees_north",
                                                                         "standard_name": "latitude"}),
                "longitude": ("longitude", np.linspace(6.0, 6.6, nlon), {"units": "degrees_east"})})
    if with_mask:
        ds["mask"] = (("latitude", "longitude"), river.astype(np.int8))
    ds["dis24"].encoding = {"dtype": "int16", "scale_factor": 0.01, "add_offset": 100.0, "_FillValue": -32767}
    ds["time"].encoding = {"units": "days since 2000-01-01", "calendar": "standard"}
    ds.to_netcdf(path, engine="h5netcdf")
    return values, river


def test_netcdf_grid(tmp_path, rng):
    path = tmp_path / "glofas.nc"
    values, river = glofas(path, rng)
    ds = validate(ingest(path, tmp_path / "data" / "rhine.zarr"))
    assert_ingested_attrs(ds, "grid", "rhine", "netcdf")
    assert ds["discharge"].dims == ("time", "lat", "lon")
    np.testing.assert_array_equal(ds["mask"].values, river)
    stored = ds["discharge"].values
    assert np.isnan(stored[:, ~river]).all()
    np.testing.assert_allclose(stored[:, river], values[:, river], atol=0.005 + 1e-9)  # half a packing step
    with xr.open_dataset(path, engine="h5netcdf") as source:  # exactly what unpacking gives
        unpacked = source["dis24"].values
        np.testing.assert_array_equal(stored, unpacked)
    np.testing.assert_array_equal(ds["time"].values, pd.date_range("2000-01-01", periods=40, freq="D").values)
    np.testing.assert_array_equal(ds["lat"].values, np.linspace(50.0, 49.5, 6))
    assert ds["lat"].attrs["standard_name"] == "latitude" and ds["lon"].attrs["units"] == "degrees_east"
    assert ds.attrs["units"] == ds["discharge"].attrs["units"] == "m3 s-1"
    assert ds.attrs["dt"] == 1.0 and ds.attrs["dt_units"] == "days"
    assert list(ds["split"].values) == counts(40) == [0] * 28 + [1] * 6 + [2] * 6
    assert_train_stats(ds, unpacked[:28][:, river])


def test_netcdf_mask_variable(tmp_path, rng):
    path = tmp_path / "glofas_masked.nc"
    values, river = glofas(path, rng, with_mask=True)
    ds = validate(ingest(path, tmp_path / "data" / "masked.zarr"))
    np.testing.assert_array_equal(ds["mask"].values, river)
    path = tmp_path / "glofas_hole.nc"
    glofas(path, rng, with_mask=True, hole=True)
    refused(tmp_path, path, IngestSpec(), r"NaN/Inf at time step 7, cell \(2, 4\) where the mask")


def test_netcdf_refusals(tmp_path, rng):
    path = tmp_path / "glofas_gap.nc"
    glofas(path, rng, gap=True)
    refused(tmp_path, path, IngestSpec(), r"cell \(0, 0\) is NaN at some times only")
    path = tmp_path / "glofas.nc"
    glofas(path, rng)
    refused(tmp_path, path, IngestSpec(variable="tp"), "no variable tp; variables present: dis24")


def test_netcdf_stations(tmp_path, rng):
    values = rng.random((4, 25)) * 30
    values[2, 10] = np.nan
    ids = ["GRDC_6335020", "GRDC_6335500", "GRDC_6421500", "GRDC_6607650"]
    ds = xr.Dataset({"discharge": (("station", "time"), values, {"units": "m3/s"})},
                    coords={"station": ids, "time": pd.date_range("1990-01-01", periods=25, freq="D")})
    ds.to_netcdf(tmp_path / "grdc.nc", engine="h5netcdf")
    stored = validate(ingest(tmp_path / "grdc.nc", tmp_path / "data" / "grdc.zarr"))
    assert_ingested_attrs(stored, "stations", "grdc", "netcdf")
    np.testing.assert_array_equal(stored["discharge"].values, values)
    assert list(stored["station_id"].values) == ids and list(stored["station"].values) == [0, 1, 2, 3]
    np.testing.assert_array_equal(stored["mask"].values, np.isfinite(values))
    assert list(stored["split"].values) == counts(25)
    assert list(stored["split"].values[17:19]) == [0, 1]  # 0.7 * 25 = 17.5 rounds up
    assert_train_stats(stored, values[:, :18])


# --- CSV stations and .npy -----------------------------------------------------------------------

def test_csv_stations(tmp_path, rng):
    days = pd.date_range("2001-01-01", periods=20, freq="D")
    values = 10 + rng.random((20, 3))
    values[3, 1] = values[17, 2] = np.nan  # missing observations
    table = pd.DataFrame(values, columns=["GRDC_1160815", "US_09447000", "GRDC_6335020"])
    table.insert(0, "date", days.strftime("%Y-%m-%d"))
    path = tmp_path / "stations.csv"
    table.to_csv(path, index=False)
    refused(tmp_path, path, IngestSpec(), "set ingest.units")
    ds = validate(ingest(path, tmp_path / "data" / "grdc.zarr", IngestSpec(units="m3/s")))
    assert_ingested_attrs(ds, "stations", "grdc", "csv")
    assert ds["discharge"].dims == ("station", "time") and ds.attrs["units"] == "m3/s"
    np.testing.assert_allclose(ds["discharge"].values, values.T, rtol=1e-15)
    assert list(ds["station_id"].values) == ["GRDC_1160815", "US_09447000", "GRDC_6335020"]
    assert list(ds["station"].values) == [0, 1, 2]
    np.testing.assert_array_equal(ds["mask"].values, np.isfinite(values.T))
    np.testing.assert_array_equal(ds["time"].values, days.values)
    assert list(ds["split"].values) == counts(20)
    assert_train_stats(ds, values[:14])


def test_npy_ode_and_fields(tmp_path, rng):
    ode = rng.normal(size=(20, 30, 3))
    np.save(tmp_path / "ode.npy", ode)
    refused(tmp_path, tmp_path / "ode.npy", IngestSpec(), "set ingest.dt")
    ds = validate(ingest(tmp_path / "ode.npy", tmp_path / "data" / "ode.zarr", IngestSpec(dt=0.05)))
    assert_ingested_attrs(ds, "ode", "ode", "npy")
    np.testing.assert_array_equal(ds["state"].values, ode)
    np.testing.assert_allclose(ds["time"].values, np.arange(30) * 0.05)
    assert list(ds["split"].values) == counts(20)
    assert_train_stats(ds, ode[:14].reshape(-1, 3), axis=0)  # per state dimension
    ds = validate(ingest(tmp_path / "ode.npy", tmp_path / "data" / "f1.zarr", IngestSpec(dt=0.05, kind="field1d")))
    assert ds.attrs["kind"] == "field1d" and ds.attrs["norm_mean"] == pytest.approx([ode[:14].mean()], rel=1e-12)
    field = rng.integers(-5, 5, size=(4, 6, 5, 7))  # integers become float64
    np.save(tmp_path / "field.npy", field)
    ds = validate(ingest(tmp_path / "field.npy", tmp_path / "data" / "f2.zarr", IngestSpec(dt=1.0)))
    assert ds["vorticity"].dtype == np.float64
    np.testing.assert_array_equal(ds["vorticity"].values, field)


@pytest.mark.parametrize("case", ["wrong dimensionality", "NaN", "complex dtype", "unknown format"])
def test_npy_refusals(tmp_path, rng, case):
    array, name, match = {
        "wrong dimensionality": (rng.normal(size=30), "a.npy", "has shape \\(30,\\)"),
        "NaN": (np.where(np.arange(60).reshape(2, 10, 3) == 40, np.nan, 1.0), "a.npy", "NaN/Inf in trajectory 1"),
        "complex dtype": (np.ones((4, 5, 2), complex), "a.npy", "not a real number type"),
        "unknown format": (np.ones((4, 5, 2)), "a.npyz", "set ingest.format"),
    }[case]
    with open(tmp_path / name, "wb") as f:
        np.save(f, array)
    refused(tmp_path, tmp_path / name, IngestSpec(dt=0.1), match)


def test_store_reused_only_for_the_same_source_and_options(tmp_path, rng):
    np.save(tmp_path / "a.npy", rng.normal(size=(10, 8, 2)))
    store = ingest(tmp_path / "a.npy", tmp_path / "data" / "a.zarr", IngestSpec(dt=0.1))
    before = (store / "zarr.json").stat().st_mtime_ns
    assert ingest(tmp_path / "a.npy", store, IngestSpec(dt=0.1)) == store
    assert (store / "zarr.json").stat().st_mtime_ns == before
    with pytest.raises(DataError, match="another source or other options; delete it, or set name="):
        ingest(tmp_path / "a.npy", store, IngestSpec(dt=0.2))
    (tmp_path / "data" / "other.zarr").mkdir()
    with pytest.raises(DataError, match="is not a dynlearn store"):
        ingest(tmp_path / "a.npy", tmp_path / "data" / "other.zarr", IngestSpec(dt=0.1))
    assert tree(tmp_path / "data") == {"a.zarr", "other.zarr"} | {f"a.zarr/{p}" for p in tree(store)}
