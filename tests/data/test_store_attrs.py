"""Store attrs: generated (ODE, grid) and ingested stores carry the schema's attrs with the values
their writer knows, and a generated grid store exported as GloFAS NetCDF ingests back as itself."""

import datetime

import numpy as np
import pytest

from dynlearn import __version__
from dynlearn.data import (
    SCHEMA_VERSION,
    GenerationSpec,
    IngestSpec,
    generate_store,
    ingest,
    validate,
    write_glofas_netcdf,
)
from dynlearn.systems import make_system

COMMON = {"dynlearn_store", "schema_version", "kind", "system", "params", "state_names", "dt", "dt_simulated",
          "solver", "seed", "lyapunov_time", "units", "config_hash", "dynlearn_version", "created", "complete"}
RIVER = {"ny": 12, "nx": 10, "river_threshold_km2": 60.0}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A Lorenz-63 store, a river store and a .npy ensemble ingested, and when the writing began."""
    root = tmp_path_factory.mktemp("attrs")
    began = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    lorenz = generate_store(root / "lorenz.zarr", make_system("lorenz63"),
                            GenerationSpec(n_train=2, n_val=1, n_test=1, n_floor=1, n_steps=30, chunk_steps=10,
                                           save_every=2, transient_time=1.0, seed=4), config_hash="lorenz-hash")
    river = generate_store(root / "river.zarr", make_system("river", **RIVER),
                           GenerationSpec(n_train=28, n_val=6, n_test=6, n_steps=40, chunk_steps=20,
                                          transient_time=5.0, seed=3), config_hash="river-hash")
    np.save(root / "ensemble.npy", np.random.default_rng(0).normal(size=(6, 20, 3)))
    ingested = ingest(root / "ensemble.npy", root / "ensemble.zarr", IngestSpec(dt=0.1))
    return {"lorenz": lorenz, "river": river, "ingested": ingested, "began": began}


def test_every_writer_gives_the_schema_attrs_and_the_same_provenance(stores):
    for name in ("lorenz", "river", "ingested"):
        attrs = validate(stores[name]).attrs
        assert COMMON <= set(attrs), name
        assert attrs["dynlearn_store"] is True and attrs["complete"] is True, name
        assert attrs["schema_version"] == SCHEMA_VERSION and attrs["dynlearn_version"] == __version__, name
        created = datetime.datetime.fromisoformat(attrs["created"])
        assert created.tzinfo == datetime.timezone.utc and attrs["created"].endswith("+00:00"), name
        assert stores["began"] <= created <= datetime.datetime.now(datetime.timezone.utc), name


@pytest.mark.parametrize(("name", "expected"), [
    ("lorenz", {"kind": "ode", "system": "lorenz63", "params": {"sigma": 10.0, "rho": 28.0, "beta": 8 / 3},
                "state_names": ["x", "y", "z"], "dt": 0.02, "dt_simulated": 0.01, "solver": "rk4", "seed": 4,
                "lyapunov_time": make_system("lorenz63").lyapunov_time, "units": "dimensionless",
                "config_hash": "lorenz-hash"}),
    ("river", {"kind": "grid", "system": "river", "state_names": ["discharge"], "dt": 1.0, "dt_units": "days",
               "dt_simulated": 1.0, "solver": "bucket+routing", "seed": 3, "lyapunov_time": None,
               "units": "m3 s-1", "config_hash": "river-hash"}),
    ("ingested", {"kind": "ode", "system": "ensemble", "params": {}, "state_names": ["x0", "x1", "x2"], "dt": 0.1,
                  "dt_simulated": None, "solver": "ingested", "seed": None, "lyapunov_time": None,
                  "units": "dimensionless"}),
])
def test_what_each_writer_knows(stores, name, expected):
    attrs = validate(stores[name]).attrs
    assert {key: attrs[key] for key in expected} == expected
    if name != "ingested":  # a generated store keeps its spec and its system's description whole
        assert attrs["generation"]["seed"] == expected["seed"]
        assert attrs["system_description"]["name"] == expected["system"]


def test_generated_grid_store_exported_as_glofas_ingests_back_as_itself(stores, tmp_path):
    generated = validate(stores["river"])
    export = generated[["discharge", "mask"]].drop_vars("split")
    export.attrs = {}  # the store's attrs (nested dicts) are no NetCDF attrs
    path = write_glofas_netcdf(export, tmp_path / "river.nc", packed=False)
    ingested = validate(ingest(path, tmp_path / "river.zarr", IngestSpec(split=(0.7, 0.15, 0.15))))
    for name in ("discharge", "mask", "split", "time", "lat", "lon"):
        np.testing.assert_array_equal(ingested[name].values, generated[name].values)
    for name in ("time", "lat", "lon"):  # one CF table for the generator and the NetCDF writer
        assert ingested[name].attrs == generated[name].attrs, name
    for name in ("norm_mean", "norm_std"):  # the same numbers, merged over other blocks
        assert ingested.attrs[name] == pytest.approx(generated.attrs[name], rel=1e-12), name
