"""Errors a user can cause and fix.

Every such error carries one line that names the problem and the fix. The CLI prints that
line and exits with code 2; anything else is a bug and keeps its traceback.
"""


class DynlearnError(Exception):
    """A problem in the user's input (config, data, paths), with the fix in the message."""


class ConfigError(DynlearnError):
    """An unknown name, a misspelled override or an invalid value in the configuration."""


class DataError(DynlearnError):
    """A missing, partial or invalid store, or data with NaNs or wrong shapes."""


class TrainingDiverged(DynlearnError):
    """Training produced NaN/Inf or exploded; the last good checkpoint is kept."""
