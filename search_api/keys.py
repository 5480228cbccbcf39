"""API keys, hashed at rest: the `KeyStore` protocol and its SQLite file (`KeyFile`, beside a
SQLite store); `search_api.key_stores.open_keys` picks the file or the store's own keys index
(`search_api.keys_in_store.StoreKeys`, for an OpenSearch store shared by API replicas).

A key is `folio_<id>_<secret>` with 256 bits of randomness in the secret, so a plain SHA-256 of
the whole key is a safe stored form (slow password hashes only matter for low-entropy secrets).
The key itself is shown once, at creation."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    groups TEXT NOT NULL DEFAULT '',
    admin INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


class ApiKey(BaseModel):
    key_id: str
    name: str = ""
    groups: list[str] = Field(default_factory=list)
    admin: bool = False
    created_at: float
    revoked: bool = False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """(key id, the key in clear)."""
    key_id = secrets.token_hex(6)
    return key_id, f"folio_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(key: str) -> str | None:
    """The id part of a well-formed key (None for anything else)."""
    if not key.startswith("folio_") or len(key) > 200:
        return None
    key_id, sep, secret = key.removeprefix("folio_").partition("_")
    return key_id if sep and key_id and secret else None


def parse_groups(text: str | None) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c'] (order kept, duplicates dropped)."""
    out: list[str] = []
    for part in (text or "").split(","):
        group = part.strip()
        if group and group not in out:
            out.append(group)
    return out


class KeyStore(Protocol):
    """Where keys live; `where` says so in words (a file path, or the store's keys index)."""

    @property
    def where(self) -> str: ...

    def create(self, groups: list[str], admin: bool = False, name: str = "") -> tuple[str, ApiKey]:
        """Returns (the key in clear — show it once, the stored record)."""
        ...

    def verify(self, key: str) -> ApiKey | None:
        """The live key record for a presented key, or None (unknown or revoked)."""
        ...

    def list(self, include_revoked: bool = False) -> list[ApiKey]: ...

    def revoke(self, key_id: str) -> bool:
        """True when an active key was revoked."""
        ...

    def close(self) -> None: ...


class KeyFile:
    """Keys in a SQLite file. Thread-safe; the file is created on first use, not in the constructor."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @property
    def where(self) -> str:
        return str(self.path)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute(_SCHEMA)
            conn.commit()
            self._conn = conn
        return self._conn

    def create(self, groups: list[str], admin: bool = False, name: str = "") -> tuple[str, ApiKey]:
        key_id, key = new_key()
        record = ApiKey(key_id=key_id, name=name, groups=groups, admin=admin, created_at=time.time())
        with self._lock:
            db = self._db()
            db.execute(
                "INSERT INTO api_keys (key_id, key_hash, name, groups, admin, created_at) VALUES (?,?,?,?,?,?)",
                (key_id, hash_key(key), name, ",".join(groups), int(admin), record.created_at),
            )
            db.commit()
        return key, record

    def verify(self, key: str) -> ApiKey | None:
        if key_id_of(key) is None:
            return None
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT key_id, name, groups, admin, created_at, revoked_at FROM api_keys WHERE key_hash = ?",
                    (hash_key(key),),
                )
                .fetchone()
            )
        if row is None or row[5] is not None:
            return None
        return _record(row)

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT key_id, name, groups, admin, created_at, revoked_at FROM api_keys ORDER BY created_at"
                )
                .fetchall()
            )
        records = [_record(r) for r in rows]
        return [r for r in records if include_revoked or not r.revoked]

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            db = self._db()
            cur = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            )
            db.commit()
        return cur.rowcount > 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _record(row: tuple[str, str, str, int, float, float | None]) -> ApiKey:
    return ApiKey(
        key_id=row[0],
        name=row[1],
        groups=parse_groups(row[2]),
        admin=bool(row[3]),
        created_at=row[4],
        revoked=row[5] is not None,
    )
