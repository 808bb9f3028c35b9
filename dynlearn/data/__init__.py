"""Stores (Zarr), their schema and validation, generation into them, and windowed datasets."""

from ._dataset import WindowDataset as WindowDataset
from ._generate import GenerationSpec as GenerationSpec
from ._generate import generate_store as generate_store
from ._ingest import IngestSpec as IngestSpec
from ._ingest import ingest as ingest
from ._netcdf import read_netcdf as read_netcdf
from ._netcdf import write_glofas_netcdf as write_glofas_netcdf
from ._normalization import Normalizer as Normalizer
from ._schema import SCHEMA_VERSION as SCHEMA_VERSION
from ._schema import split_indices as split_indices
from ._schema import validate as validate
from ._store import is_complete as is_complete

open_store = validate  # the read path: validate, then a lazy xarray Dataset

