"""Errors whose message is meant for a person: one line, naming what is wrong.

The CLI prints ``str(error)`` of a :class:`PulsewatchError` and exits non-zero without a
traceback; retry conditions treat every subclass as permanent (retrying will not fix it).
"""


class PulsewatchError(Exception):
    """A problem the user can fix; its message is one line and holds no secret or row data."""


class ConfigError(PulsewatchError):
    """A setting is missing or invalid."""


class DataContractError(PulsewatchError):
    """Extracted data breaks the contract (columns, types, ranges, uniqueness)."""


class WarehouseError(PulsewatchError):
    """The warehouse cannot serve the request (missing table or column, unsupported scheme)."""


class ModelStoreError(PulsewatchError):
    """A model artifact is missing, corrupt or cannot be written."""


class NoChampionError(PulsewatchError):
    """Scoring was asked for but no champion model is registered."""


class LoadVerificationError(PulsewatchError):
    """A partition write did not leave the expected number of rows (the write was rolled back)."""


class LockTimeoutError(PulsewatchError):
    """A lock (a partition's, or DuckDB's file lock) was not granted within
    PULSEWATCH_LOCK_TIMEOUT_SECONDS: another session or process holds it."""
