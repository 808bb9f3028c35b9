"""CF-convention attributes, written down once for the data package.

The GloFAS NetCDF writer puts `CF_COORD_ATTRS` on the files it writes and the grid generator on
the stores it writes, so a generated store and an ingested GloFAS file describe their
coordinates alike; the ingest reader keeps a file's attrs of the `CF_KEYS` (its encoding attrs,
``scale_factor`` and the like, are spent once xarray has decoded the values).
"""

from __future__ import annotations

CF_COORD_ATTRS = {
    "lat": {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude", "axis": "Y"},
    "lon": {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude", "axis": "X"},
    "time": {"standard_name": "time", "long_name": "time", "axis": "T"},  # units: xarray encodes datetimes
}
CF_KEYS = ("units", "long_name", "standard_name", "axis", "calendar")
