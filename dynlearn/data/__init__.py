"""Stores (Zarr), their schema and validation, generation and ingest into them, windowed datasets, delay embedding."""

from ._cases import EvalCases as EvalCases
from ._cases import evaluation_cases as evaluation_cases
from ._cases import floor_cases as floor_cases
from ._cases import forecast_cases as forecast_cases
from ._dataset import FIELD_KINDS as FIELD_KINDS
from ._dataset import WindowDataset as WindowDataset
from ._dataset import in_layout as in_layout
from ._delay import choose_embedding as choose_embedding
from ._delay import delay_embed as delay_embed
from ._delay import false_nearest_neighbours_dimension as false_nearest_neighbours_dimension
from ._delay import false_neighbour_fractions as false_neighbour_fractions
from ._delay import mutual_information_delay as mutual_information_delay
from ._delay_store import embed_store as embed_store
from ._forecast_store import ForecastStore as ForecastStore
from ._forecast_store import open_forecast as open_forecast
from ._generate import GenerationSpec as GenerationSpec
from ._generate import generate_store as generate_store
from ._ingest import IngestSpec as IngestSpec
from ._ingest import ingest as ingest
from ._inits import ForecastInits as ForecastInits
from ._inits import forecast_inits as forecast_inits
from ._netcdf import read_glofas_netcdf as read_glofas_netcdf
from ._netcdf import write_glofas_netcdf as write_glofas_netcdf
from ._normalization import Normalizer as Normalizer
from ._schema import SCHEMA_VERSION as SCHEMA_VERSION
from ._schema import TIME as TIME
from ._schema import TRAJ as TRAJ
from ._schema import Layout as Layout
from ._schema import forcing_variables as forcing_variables
from ._schema import layout_of as layout_of
from ._schema import open_store as open_store
from ._schema import split_indices as split_indices
from ._schema import validate as validate
from ._store import chunk_generator as chunk_generator
from ._store import is_complete as is_complete

