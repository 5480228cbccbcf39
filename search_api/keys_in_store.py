"""API keys in the OpenSearch store (`{prefix}-keys`), so every API replica on the store knows
every key. Records hold the key's SHA-256, never the key. A verified key is remembered for
`cache_s` seconds (an unknown key too, which keeps a client retrying a bad key off the store), so
a revocation reaches every replica within that time."""

from __future__ import annotations

import hmac
import threading
import time
from typing import Any

from cachetools import TTLCache

from docstore.opensearch.side_index import Record, SideIndex
from docstore.opensearch.store import OpenSearchStore
from search_api.keys import ApiKey, hash_key, key_id_of, new_key

KEYS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "key_id": {"type": "keyword"},
        "key_hash": {"type": "keyword"},
        "name": {"type": "keyword"},
        "groups": {"type": "keyword"},
        "admin": {"type": "boolean"},
        "created_at": {"type": "double"},
        "revoked_at": {"type": "double"},
    },
}


class StoreKeys:
    def __init__(self, store: OpenSearchStore, cache_s: float = 5.0) -> None:
        self._index = SideIndex(store, "keys", KEYS_MAPPING)
        self._lock = threading.Lock()
        # hash of a presented key -> its record, or None for an unknown or revoked key
        self._cache: TTLCache[str, ApiKey | None] | None = (
            TTLCache(maxsize=10_000, ttl=cache_s) if cache_s > 0 else None
        )

    @property
    def where(self) -> str:
        return f"the store's index {self._index.index}"

    def create(self, groups: list[str], admin: bool = False, name: str = "") -> tuple[str, ApiKey]:
        while True:
            key_id, key = new_key()
            record = ApiKey(key_id=key_id, name=name, groups=groups, admin=admin, created_at=time.time())
            body = {**record.model_dump(exclude={"revoked"}), "key_hash": hash_key(key), "revoked_at": None}
            # refresh: `folio keys list` right after lists it; create_only: an id is never reused
            if self._index.put(key_id, body, create_only=True, refresh=True):
                return key, record

    def verify(self, key: str) -> ApiKey | None:
        key_id = key_id_of(key)
        if key_id is None:
            return None
        digest = hash_key(key)
        if self._cache is not None:
            with self._lock:
                if digest in self._cache:
                    return self._cache[digest]
        found = self._index.get(key_id)
        record = None
        if found is not None and hmac.compare_digest(str(found.source["key_hash"]), digest):
            record = _record(found)
            if record.revoked:
                record = None
        if self._cache is not None:
            with self._lock:
                self._cache[digest] = record
        return record

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        found = self._index.search({"match_all": {}}, size=10_000, sort=[{"created_at": "asc"}])
        records = [_record(r) for r in found]
        return [r for r in records if include_revoked or not r.revoked]

    def revoke(self, key_id: str) -> bool:
        while True:
            found = self._index.get(key_id)
            if found is None or found.source.get("revoked_at") is not None:
                return False
            body = {**found.source, "revoked_at": time.time()}
            if self._index.put(key_id, body, expect=found, refresh=True):
                with self._lock:
                    if self._cache is not None:
                        self._cache.clear()  # this process at once; other replicas within cache_s
                return True

    def close(self) -> None:
        """The store belongs to whoever opened it."""


def _record(found: Record) -> ApiKey:
    src = found.source
    return ApiKey(
        key_id=found.id,
        name=src.get("name") or "",
        groups=list(src.get("groups") or []),
        admin=bool(src.get("admin")),
        created_at=float(src["created_at"]),
        revoked=src.get("revoked_at") is not None,
    )
