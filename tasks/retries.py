"""Which failures are worth retrying: lost connections and throttling, never bad SQL or bad data."""

from __future__ import annotations

from typing import Any

from tasks.errors import PulsewatchError
from tasks.warehouse.errors import is_transient_db_error


def is_transient(error: BaseException | None) -> bool:
    """True for errors a retry may cure (network, throttling, a locked file)."""
    if error is None or isinstance(error, PulsewatchError):
        return False
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    database = is_transient_db_error(error)  # SQLSTATEs, SQLAlchemy classes, driver texts
    if database is not None:
        return database
    try:
        from botocore.exceptions import ClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if isinstance(error, BotoConnectionError):
            return True
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "")
            return code in {
                "Throttling",
                "ThrottlingException",
                "SlowDown",
                "RequestTimeout",
                "ServiceUnavailable",
                "InternalError",
                "RequestLimitExceeded",
            }
    except ImportError:  # pragma: no cover - boto3 is a runtime dependency
        pass
    return False


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry only when the failure is transient."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        try:
            error = state.result(raise_on_failure=False)
        except Exception:  # the result may be unavailable; then do not retry
            return False
    return is_transient(error if isinstance(error, BaseException) else None)


# Keyword arguments shared by every task that does warehouse or storage I/O.
IO_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [2, 10, 30],
    "retry_condition_fn": retry_transient,
}
