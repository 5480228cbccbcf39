"""API keys, hashed at rest: `KeyStore` creates, verifies, lists and revokes them over the key
records of the store's shared state (docstore.shared_state: the store's keys index on OpenSearch,
shared by every replica; a keys file beside a SQLite store, or the file a server is given).

A key is `folio_<id>_<secret>` with 256 bits of randomness in the secret, so a plain SHA-256 of
the whole key is a safe stored form (slow password hashes only matter for low-entropy secrets).
The key itself is shown once, at creation. Keys read over the network are remembered once verified
for `cache_s` seconds (an unknown key too, which keeps a client retrying a bad key off the store),
so a revocation reaches every replica within that time; a keys file is read on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from cachetools import TTLCache
from pydantic import BaseModel, Field

from docstore.shared_state import KeyRecord, KeyRecords


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


class KeyStore:
    def __init__(self, records: KeyRecords, cache_s: float = 5.0) -> None:
        self._records = records
        self._lock = threading.Lock()
        # hash of a presented key -> its record, or None for an unknown or revoked key
        self._cache: TTLCache[str, ApiKey | None] | None = (
            TTLCache(maxsize=10_000, ttl=cache_s) if cache_s > 0 and records.remote else None
        )

    @property
    def where(self) -> str:
        return self._records.where

    def create(self, groups: list[str], admin: bool = False, name: str = "") -> tuple[str, ApiKey]:
        """Returns (the key in clear — show it once, the stored record)."""
        while True:
            key_id, key = new_key()
            record = KeyRecord(key_id=key_id, key_hash=hash_key(key), name=name, groups=tuple(groups),
                               admin=admin, created_at=time.time())  # fmt: skip
            if self._records.add(record):  # an id is never reused
                return key, _api_key(record)

    def verify(self, key: str) -> ApiKey | None:
        """The live key record for a presented key, or None (unknown or revoked)."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        digest = hash_key(key)
        if self._cache is not None:
            with self._lock:
                if digest in self._cache:
                    return self._cache[digest]
        found = self._records.get(key_id)
        record = None
        if found is not None and found.revoked_at is None and hmac.compare_digest(found.key_hash, digest):
            record = _api_key(found)
        if self._cache is not None:
            with self._lock:
                self._cache[digest] = record
        return record

    def active(self, key_id: str) -> ApiKey | None:
        """The live key of this id (a portal session holds the id, never the key)."""
        found = self._records.get(key_id) if key_id else None
        return _api_key(found) if found is not None and found.revoked_at is None else None

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        records = [_api_key(r) for r in self._records.all()]
        return [r for r in records if include_revoked or not r.revoked]

    def revoke(self, key_id: str) -> bool:
        """True when an active key was revoked."""
        if not self._records.revoke(key_id, time.time()):
            return False
        if self._cache is not None:
            with self._lock:
                self._cache.clear()  # this process at once; other replicas within cache_s
        return True

    def close(self) -> None:
        self._records.close()


def _api_key(record: KeyRecord) -> ApiKey:
    return ApiKey(
        key_id=record.key_id, name=record.name, groups=list(record.groups), admin=record.admin,
        created_at=record.created_at, revoked=record.revoked_at is not None,
    )  # fmt: skip
