"""The dashboard of attractor metrics (issue 15): its data layer reads run directories, never writes them."""

from dynlearn.dashboard._catalog import RunCatalog as RunCatalog
from dynlearn.dashboard._catalog import RunEntry as RunEntry
from dynlearn.dashboard._catalog import discover_runs as discover_runs
from dynlearn.dashboard._catalog import leaderboard as leaderboard
from dynlearn.dashboard._catalog import read_run as read_run

__all__ = ["RunCatalog", "RunEntry", "discover_runs", "leaderboard", "read_run"]
