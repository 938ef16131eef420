"""Names the warehouse accepts: URL schemes (which warehouse class serves a URL) and plain SQL
identifiers. No project imports, so tasks/settings.py can validate against it at start-up."""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# SQLAlchemy URL scheme -> warehouse kind (tasks/warehouse/factory.py maps a kind to its class)
WAREHOUSE_SCHEMES = {
    "duckdb": "duckdb",
    "postgresql": "postgresql",
    "postgresql+psycopg2": "postgresql",
    "redshift": "redshift",
    "redshift+psycopg2": "redshift",
}


def validate_identifier(value: str, what: str) -> str:
    """Refuse anything but a plain SQL identifier (it is later quoted by SQLAlchemy)."""
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(f"{what} must match {IDENTIFIER.pattern} (got {value!r})")
    return value


def warehouse_kind(url: str) -> str:
    """'duckdb' | 'postgresql' | 'redshift' for a SQLAlchemy URL, or ValueError."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in WAREHOUSE_SCHEMES:
        known = ", ".join(sorted(WAREHOUSE_SCHEMES))
        raise ValueError(f"unknown warehouse scheme {scheme!r}; expected one of: {known}")
    return WAREHOUSE_SCHEMES[scheme]
