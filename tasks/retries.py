"""Which failures are worth retrying: lost connections and throttling, never bad SQL or bad data."""

from __future__ import annotations

from typing import Any

from tasks.errors import PulsewatchError

_TRANSIENT_TEXT = (
    "connection",
    "server closed",
    "terminating connection",
    "could not connect",
    "timeout",
    "timed out",
    "throttl",
    "too many requests",
    "slowdown",
    "could not set lock",
    "conflicting lock",
    "temporarily unavailable",
)

# Connection errors that no retry cures: wrong credentials or names. Checked first, because
# their text also says "connection to server ... failed".
_PERMANENT_TEXT = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "permission denied",
    "invalid password",
)


# SQLSTATEs a retry may cure, whatever exception class a driver wraps them in (ADBC 1.8 raises
# a lost backend during COPY as ProgrammingError): connection failures (class 08, but not
# 08P01, a protocol violation, which a COPY of the wrong column type also raises), the server
# shutting down or starting (57P01-57P03), serialization failure, deadlock, too many
# connections, lock not available.
_TRANSIENT_SQLSTATES = (
    "08000", "08001", "08003", "08004", "08006",
    "57P01", "57P02", "57P03", "40001", "40P01", "53300", "55P03",
)  # fmt: skip


def _sqlstate(error: BaseException) -> str:
    """The SQLSTATE a driver error carries (ADBC: sqlstate, psycopg2: pgcode), or ''."""
    for candidate in (error, getattr(error, "orig", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return ""


def is_transient(error: BaseException | None) -> bool:
    """True for errors a retry may cure (network, throttling, a locked file)."""
    if error is None or isinstance(error, PulsewatchError):
        return False
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    if _sqlstate(error) in _TRANSIENT_SQLSTATES:
        return True
    from sqlalchemy import exc as sa_exc

    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (sa_exc.ProgrammingError, sa_exc.IntegrityError, sa_exc.DataError)):
        return False
    text = f"{type(error).__name__}: {error}".lower()
    if any(marker in text for marker in _PERMANENT_TEXT):
        return False
    if isinstance(error, sa_exc.OperationalError) or "operational" in text or "io error" in text:
        return any(marker in text for marker in _TRANSIENT_TEXT)
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
