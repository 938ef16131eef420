"""Where model artifacts live: a local folder (default) or S3 (`PULSEWATCH_MODEL_STORE=s3://…`).

Artifacts are written atomically (temporary file, then rename) and identified by a version id;
their SHA-256 is recorded in the registry and verified on every load.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tasks import s3
from tasks.errors import ConfigError, ModelStoreError
from tasks.settings import Settings

if TYPE_CHECKING:  # LightGBM is imported when a model is loaded (doctor, the CLI do not)
    from tasks.model import PulseModel

ARTIFACT_NAME = "model.json"


class ModelStore(Protocol):
    def put(self, version: str, payload: bytes) -> str: ...
    def get(self, uri: str) -> bytes: ...
    def check_writable(self) -> None: ...


@dataclass(frozen=True)
class StoredModel:
    version: str
    uri: str
    sha256: str


class LocalModelStore:
    """A folder: <root>/<version>/model.json."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def put(self, version: str, payload: bytes) -> str:
        folder = self.root / version
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / ARTIFACT_NAME
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(payload)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return str(target)

    def get(self, uri: str) -> bytes:
        try:
            return Path(uri).read_bytes()
        except FileNotFoundError:
            raise ModelStoreError(f"model artifact {uri} is missing") from None

    def check_writable(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / f".write-probe-{secrets.token_hex(4)}"
        probe.write_bytes(b"ok")
        probe.unlink()


class S3ModelStore:
    """s3://bucket/prefix/<version>/model.json, written with its SHA-256 as object metadata
    (the registry's copy is the one verified on load)."""

    def __init__(self, uri: str) -> None:
        try:
            self.location = s3.S3Location.parse(uri)
        except ValueError as error:
            raise ConfigError(f"PULSEWATCH_MODEL_STORE: {error}") from None

    def put(self, version: str, payload: bytes) -> str:
        key = self.location.key(version, ARTIFACT_NAME)
        s3.put_bytes(self.location, key, payload, Metadata={"sha256": sha256(payload)})
        return f"s3://{self.location.bucket}/{key}"

    def get(self, uri: str) -> bytes:
        location = s3.S3Location.parse(uri)
        try:
            return s3.get_bytes(location.bucket, location.prefix)
        except Exception as error:
            if type(error).__name__ in ("NoSuchKey", "NoSuchBucket") or "NoSuchKey" in str(error):
                raise ModelStoreError(f"model artifact {uri} is missing") from None
            raise

    def check_writable(self) -> None:
        key = self.location.key(f".write-probe-{secrets.token_hex(4)}")
        s3.put_bytes(self.location, key, b"ok")
        s3.client().delete_object(Bucket=self.location.bucket, Key=key)


def model_store(settings: Settings) -> ModelStore:
    if settings.model_store.startswith("s3://"):
        return S3ModelStore(settings.model_store)
    return LocalModelStore(settings.model_store)


def new_version(now: datetime | None = None) -> str:
    """Sortable, unique version id, e.g. m20261129T053012-3fa9c1."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"m{stamp}-{secrets.token_hex(3)}"


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def save_model(store: ModelStore, model: PulseModel, version: str) -> StoredModel:
    payload = model.to_bytes()
    return StoredModel(version=version, uri=store.put(version, payload), sha256=sha256(payload))


def load_model(store: ModelStore, stored: StoredModel) -> PulseModel:
    """Read and verify an artifact; a checksum mismatch names the version."""
    payload = store.get(stored.uri)
    actual = sha256(payload)
    if actual != stored.sha256:
        raise ModelStoreError(
            f"model {stored.version}: checksum mismatch for {stored.uri} "
            f"(registry {stored.sha256[:12]}, artifact {actual[:12]})"
        )
    from tasks.model import PulseModel

    try:
        return PulseModel.from_bytes(payload)
    except (ValueError, KeyError) as error:
        raise ModelStoreError(f"model {stored.version}: unreadable artifact ({error})") from None
