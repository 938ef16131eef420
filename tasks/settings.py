"""Configuration, read once from the environment (and `.env`) into a typed Settings object.

Secrets are `SecretStr`, so they print as '**********'. Nothing happens at import time:
call :func:`get_settings` when a run starts.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tasks.errors import ConfigError

# The warehouse package owns the URL schemes and identifier rules; it never imports settings.
from tasks.warehouse.names import IDENTIFIER, validate_identifier, warehouse_kind

__all__ = ["IDENTIFIER", "Settings", "get_settings", "load_settings", "validate_identifier"]
DEFAULT_WAREHOUSE_URL = "duckdb:///.pulsewatch/warehouse.duckdb"


class Settings(BaseSettings):
    """Every PULSEWATCH_* variable of ../shared/DESIGN.md (its external contract)."""

    model_config = SettingsConfigDict(
        env_prefix="PULSEWATCH_", env_file=".env", extra="ignore", populate_by_name=True
    )

    warehouse_url: SecretStr = SecretStr(DEFAULT_WAREHOUSE_URL)
    warehouse_block: str | None = None
    # `schema` would shadow a pydantic attribute, hence the alias.
    warehouse_schema: str | None = Field(default=None, alias="PULSEWATCH_SCHEMA")
    model_store: str = ".pulsewatch/models"
    s3_staging: str | None = None
    redshift_iam_role: str | None = None
    slack_webhook_url: SecretStr | None = None
    prefect_ui_url: str | None = None
    work_dir: str = ".pulsewatch/work"
    # "show": contract errors name an example employee_id (a laptop); by default they name
    # the table, column, count and month, and the keys stay in the warehouse (source_issues)
    error_keys: Literal["hide", "show"] = "hide"
    # How long a write waits for its partition's lock (or DuckDB's file lock) before giving up.
    lock_timeout_seconds: float = Field(default=300.0, gt=0, le=86_400)

    @field_validator("warehouse_url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        warehouse_kind(url)
        if raw_at_in_credentials(url):
            # SQLAlchemy would end the password at the first '@' and read the rest of it as
            # the host name, which then appears in every connection error: say so, show nothing.
            raise ValueError(
                "the user or password contains a raw '@': percent-encode it as %40 "
                "(the URL is not shown)"
            )
        return value

    @field_validator("warehouse_schema")
    @classmethod
    def _schema_is_identifier(cls, value: str | None) -> str | None:
        return None if value in (None, "") else validate_identifier(value, "schema")

    @field_validator("s3_staging")
    @classmethod
    def _staging_is_s3(cls, value: str | None) -> str | None:
        if value and not value.startswith("s3://"):
            raise ValueError(f"must be an s3://bucket/prefix URI (got {value!r})")
        return value or None

    @property
    def warehouse_kind(self) -> str:
        return warehouse_kind(self.warehouse_url.get_secret_value())


def raw_at_in_credentials(url: str) -> bool:
    """Whether an '@' of the user or password was left unencoded: the host part (between the
    first '@' and the path) holds another one."""
    rest = url.split("://", 1)[-1].split("?", 1)[0]
    if "@" not in rest:
        return False
    host = rest.split("@", 1)[1].split("/", 1)[0]
    return "@" in host


def _env_name(loc: tuple) -> str:
    field = str(loc[0]) if loc else "?"
    if field.startswith("PULSEWATCH_"):
        return field
    alias = Settings.model_fields[field].alias if field in Settings.model_fields else None
    return alias or f"PULSEWATCH_{field.upper()}"


def load_settings() -> Settings:
    """Read and validate the configuration, turning the first problem into a one-line error."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise ConfigError(f"{_env_name(first.get('loc', ()))}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return load_settings()
