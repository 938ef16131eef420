"""Which database errors a retry may cure: SQLSTATEs, SQLAlchemy's classes and driver texts.

The driver-specific half of tasks/retries.py's classification, kept here so that nothing
outside this package imports SQLAlchemy or a driver.
"""

from __future__ import annotations

import re

from sqlalchemy import exc as sa_exc

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


# Redshift: "ERROR: 1023 DETAIL: Serializable isolation violation on table - 100388, …"
_REDSHIFT_SERIALIZATION = re.compile(r"\b1023\b.*serializable isolation violation", re.DOTALL)


LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout expired (PostgreSQL)


def sqlstate(error: BaseException) -> str:
    """The SQLSTATE a driver error carries (ADBC: sqlstate, psycopg2: pgcode), or ''."""
    for candidate in (error, getattr(error, "orig", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return ""


def is_serialization_conflict(error: BaseException) -> bool:
    """Redshift's serializable isolation violation: SQLSTATE XX000 (internal error, which
    psycopg2 raises as InternalError) with "1023 … Serializable isolation violation" in the
    text -- not PostgreSQL's 40001. AWS's advice is to retry the cancelled transaction."""
    code = sqlstate(error)
    text = str(getattr(error, "orig", None) or error).lower()
    return code in ("XX000", "") and _REDSHIFT_SERIALIZATION.search(text) is not None


def is_transient_db_error(error: BaseException) -> bool | None:
    """True: a database error a retry may cure (a lost connection, a lock, throttling, a
    serialization conflict); False: one it will not (bad SQL, bad data, wrong credentials or
    names); None: nothing here says (the caller goes on with its other checks)."""
    if sqlstate(error) in _TRANSIENT_SQLSTATES or is_serialization_conflict(error):
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (sa_exc.ProgrammingError, sa_exc.IntegrityError, sa_exc.DataError)):
        return False
    text = f"{type(error).__name__}: {error}".lower()
    if any(marker in text for marker in _PERMANENT_TEXT):
        return False
    if isinstance(error, sa_exc.OperationalError) or "operational" in text or "io error" in text:
        return any(marker in text for marker in _TRANSIENT_TEXT)
    return None


# Missing privilege or ownership: PostgreSQL's 42501, or the texts PostgreSQL and Redshift use
# (Redshift refuses ANALYZE of a table the user does not own with "only table or database
# owner can analyze it", SQLSTATE XX000).
_PERMISSION_TEXT = re.compile(
    r"permission denied|must be owner|only table or database owner|insufficient privilege",
    re.IGNORECASE,
)


def is_permission_error(error: BaseException) -> bool:
    """A statement refused for want of a privilege (not a lost connection, not bad SQL)."""
    if sqlstate(error) == "42501":
        return True
    return _PERMISSION_TEXT.search(str(getattr(error, "orig", None) or error)) is not None
