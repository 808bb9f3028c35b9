"""CF-convention attributes, written down once for the data package.

The GloFAS NetCDF writer puts `CF_COORD_ATTRS` (the river grid's, described with the basin in
`dynlearn.systems.river`) on the files it writes and the grid generator on the stores it writes,
so a generated store and an ingested GloFAS file describe their coordinates alike; the ingest
reader keeps a file's attrs of the `CF_KEYS` (its encoding attrs, ``scale_factor`` and the
like, are spent once xarray has decoded the values).
"""

from __future__ import annotations

from dynlearn.systems.river import CF_COORD_ATTRS as CF_COORD_ATTRS

CF_KEYS = ("units", "long_name", "standard_name", "axis", "calendar")
