"""GloFAS-style NetCDF4: packing bounds, the on-disk encoding (read back with h5py), round trips
(through the reader and through ingest), atomic replacement and one-line errors."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from dynlearn._errors import DataError
from dynlearn.data import IngestSpec, ingest, read_glofas_netcdf, validate, write_glofas_netcdf
from dynlearn.data._netcdf import packing
from dynlearn.systems.river import RiverConfig, simulate_river_dataset

FLOATS = ("discharge", "precipitation", "evapotranspiration", "upstream_area", "elevation")


@pytest.fixture(scope="module")
def river() -> xr.Dataset:
    config = RiverConfig(ny=20, nx=16, lat_north=47.0, lon_west=7.0)
    return simulate_river_dataset(config, 45, torch.Generator().manual_seed(11), "2010-02-20")


def test_packing_maps_the_range_onto_the_integers():
    values = np.array([-3.0, 0.5, 7.0, np.nan])
    enc = packing(values, "int16")
    scale, offset = enc["scale_factor"], enc["add_offset"]
    assert scale == pytest.approx(10.0 / (2 * 32767)) and offset == pytest.approx(2.0)
    assert (-3.0 - offset) / scale == pytest.approx(-32767) and (7.0 - offset) / scale == pytest.approx(32767)
    assert enc["_FillValue"] == -32768  # outside the packed range, so never a value
    assert packing(np.full(4, 2.5), "int32")["scale_factor"] == 1.0


def test_packed_file_is_gzip_int16_with_cf_attributes(river, tmp_path):
    path = write_glofas_netcdf(river, tmp_path / "dis.nc")
    with h5py.File(path, "r") as f:
        for name in FLOATS:
            var = f[name]
            assert var.dtype == np.int16 and var.compression == "gzip", name
            assert {"scale_factor", "add_offset", "_FillValue"} <= set(var.attrs), name
            assert var.id.get_storage_size() < var.size * 2, name  # smaller than raw int16
        assert f["mask"].dtype == np.int8
        assert f["time"].attrs["units"] == "days since 2010-02-20"
        np.testing.assert_array_equal(f["time"][:], np.arange(45))
        assert f["lat"].attrs["units"] == "degrees_north"
        assert f["lon"].attrs["units"] == "degrees_east"
        fill = f["discharge"].attrs["_FillValue"]
        assert (f["discharge"][:] == fill).sum() == 45 * (~river["mask"].values).sum()  # fill exactly off-mask


@pytest.mark.parametrize("pack_dtype", ["int16", "int32"])
def test_round_trip_is_exact_to_half_a_packing_step(river, tmp_path, pack_dtype):
    path = write_glofas_netcdf(river, tmp_path / "dis.nc", pack_dtype=pack_dtype)
    back = read_glofas_netcdf(path)
    for name in FLOATS:
        scale = back[name].encoding["scale_factor"]
        error = np.nanmax(np.abs(back[name].values - river[name].values))
        assert error <= scale / 2 * (1 + 1e-6), name
        assert back[name].attrs["units"] == river[name].attrs["units"]
    expected_scale = packing(river["discharge"].values, pack_dtype)["scale_factor"]
    assert back["discharge"].encoding["scale_factor"] == expected_scale
    assert (np.isnan(back["discharge"].values) == ~river["mask"].values[None]).all()  # NaN exactly off-mask
    assert back["mask"].dtype == bool and (back["mask"].values == river["mask"].values).all()
    assert (back["ldd"].values == river["ldd"].values).all()
    assert (back["time"].values == river["time"].values).all()
    np.testing.assert_array_equal(back["lat"].values, river["lat"].values)
    np.testing.assert_array_equal(back["lon"].values, river["lon"].values)
    assert back.attrs["basin"] == river.attrs["basin"]


def test_unpacked_round_trip_is_exact(river, tmp_path):
    back = read_glofas_netcdf(write_glofas_netcdf(river, tmp_path / "dis.nc", packed=False))
    for name in FLOATS:
        np.testing.assert_array_equal(back[name].values, river[name].values)  # NaNs in the same places


def test_write_replaces_atomically_and_leaves_no_temporary_file(river, tmp_path):
    path = write_glofas_netcdf(river, tmp_path / "dis.nc")
    before = path.read_bytes()
    broken = river.assign(bad=(("lat",), np.array([{"a": 1}] * river.sizes["lat"], dtype=object)))
    with pytest.raises(ValueError, match="bad"):
        write_glofas_netcdf(broken, path)
    assert path.read_bytes() == before  # the old file survives a failed write
    write_glofas_netcdf(river.isel(time=slice(0, 10)), path)
    assert read_glofas_netcdf(path).sizes["time"] == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dis.nc"]


def test_reader_errors_are_one_line_data_errors(tmp_path):
    with pytest.raises(DataError, match="no NetCDF file") as error:
        read_glofas_netcdf(tmp_path / "missing.nc")
    assert "\n" not in str(error.value)
    (tmp_path / "text.nc").write_text("not a netcdf file")
    with pytest.raises(DataError, match="not a readable NetCDF4"):
        read_glofas_netcdf(tmp_path / "text.nc")
    station = xr.Dataset({"discharge": (("station", "time"), np.ones((2, 3)))},
                         coords={"time": pd.date_range("2000-01-01", periods=3),
                                 "lat": ("station", [1.0, 2.0]), "lon": ("station", [3.0, 4.0])})
    station.to_netcdf(tmp_path / "station.nc", engine="h5netcdf")
    with pytest.raises(DataError, match="has dims"):
        read_glofas_netcdf(tmp_path / "station.nc")


def test_reader_renames_latitude_longitude(tmp_path):
    ds = xr.Dataset({"dis24": (("time", "latitude", "longitude"), np.arange(12.0).reshape(1, 3, 4))},
                    coords={"time": pd.date_range("2000-01-01", periods=1), "latitude": [3.0, 2.0, 1.0],
                            "longitude": [0.0, 1.0, 2.0, 3.0]})
    ds.to_netcdf(tmp_path / "glofas.nc", engine="h5netcdf")
    back = read_glofas_netcdf(tmp_path / "glofas.nc")
    assert back["dis24"].dims == ("time", "lat", "lon")
    np.testing.assert_array_equal(back["dis24"].values, ds["dis24"].values)


def test_writer_needs_lat_lon(tmp_path):
    with pytest.raises(DataError, match="lat and lon"):
        write_glofas_netcdf(xr.Dataset({"q": (("x",), np.ones(3))}), tmp_path / "q.nc")


@pytest.mark.parametrize("packed", [False, True])
def test_ingest_stores_exactly_what_the_file_decodes_to(river, tmp_path, packed):
    """write_glofas_netcdf, then ingest: the store holds the decoded file bit for bit (unpacked,
    that is the simulated dataset itself), its mask, dates and grid, and the file's CF attrs."""
    path = write_glofas_netcdf(river, tmp_path / "dis.nc", packed=packed)
    store = validate(ingest(path, tmp_path / "data" / "basin.zarr"))
    np.testing.assert_array_equal(store["discharge"].values, read_glofas_netcdf(path)["discharge"].values)
    if not packed:
        np.testing.assert_array_equal(store["discharge"].values, river["discharge"].values)
    np.testing.assert_array_equal(store["mask"].values, river["mask"].values)
    for name in ("time", "lat", "lon"):
        np.testing.assert_array_equal(store[name].values, river[name].values)
    assert store["lat"].attrs == {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude",
                                  "axis": "Y"}
    assert store["time"].attrs == {"standard_name": "time", "long_name": "time", "axis": "T"}
    assert store["discharge"].attrs["long_name"] == "daily mean river discharge"
    assert store.attrs["units"] == "m3 s-1" and store.attrs["dt"] == 1.0 and store.attrs["dt_units"] == "days"


def test_unreadable_file_names_the_ingest_fix(tmp_path):
    (tmp_path / "text.nc").write_text("not a netcdf file")
    with pytest.raises(DataError, match="not a readable NetCDF4 file .*; check the file or set ingest.format"):
        ingest(tmp_path / "text.nc", tmp_path / "data" / "text.zarr", IngestSpec())
