"""An OpenSearch store's shared state (docstore.shared_state): side indices beside its pages, so
every API replica on the store shares them. `{prefix}-keys` holds API key records (the key's
SHA-256, never the key), `{prefix}-jobs`, `{prefix}-replicas`, `{prefix}-upload-names` and
`{prefix}-sessions` the record tables, `{prefix}-originals` uploaded files (docstore.opensearch.originals)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docstore.key_file import KeyFile
from docstore.opensearch.originals import IndexOriginals
from docstore.opensearch.side_index import IndexHost, SideIndex
from docstore.shared_state import KeyRecord, Record, RecordTable, SharedState

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
RECORD_MAPPINGS: dict[RecordTable, dict[str, Any]] = {
    "jobs": {
        "dynamic": "strict",
        "properties": {
            "job_id": {"type": "keyword"},
            "replica_id": {"type": "keyword"},
            "state": {"type": "keyword"},
            "updated_at": {"type": "double"},
            "job": {"type": "object", "enabled": False},  # the job's status, kept as is
        },
    },
    "replicas": {
        "dynamic": "strict",
        "properties": {
            "replica_id": {"type": "keyword"},
            "host": {"type": "keyword"},
            "pid": {"type": "integer"},
            "started_at": {"type": "double"},
            "heartbeat_at": {"type": "double"},
            "stopped_at": {"type": "double"},
        },
    },
    "upload-names": {
        "dynamic": "strict",
        "properties": {
            "name": {"type": "keyword"},
            "replica_id": {"type": "keyword"},
            "claimed_at": {"type": "double"},
        },
    },
    "sessions": {
        "dynamic": "strict",
        "properties": {
            "kind": {"type": "keyword"},
            "expires_at": {"type": "double"},
            "data": {"type": "object", "enabled": False},  # the session, kept as is
        },
    },
}


class IndexKeys:
    def __init__(self, store: IndexHost) -> None:
        self._index = SideIndex(store, "keys", KEYS_MAPPING)

    @property
    def where(self) -> str:
        return f"the store's index {self._index.index}"

    @property
    def remote(self) -> bool:
        return True

    def add(self, record: KeyRecord) -> bool:
        body = {
            "key_id": record.key_id, "key_hash": record.key_hash, "name": record.name,
            "groups": list(record.groups), "admin": record.admin, "created_at": record.created_at,
            "revoked_at": record.revoked_at,
        }  # fmt: skip
        # refresh: `folio keys list` right after lists it
        return self._index.put(record.key_id, body, create_only=True, refresh=True)

    def get(self, key_id: str) -> KeyRecord | None:
        found = self._index.get(key_id)
        return None if found is None else _key(found)

    def all(self) -> list[KeyRecord]:
        found = self._index.search({"match_all": {}}, size=10_000, sort=[{"created_at": "asc"}])
        return [_key(r) for r in found]

    def revoke(self, key_id: str, at: float) -> bool:
        while True:
            found = self._index.get(key_id)
            if found is None or found.source.get("revoked_at") is not None:
                return False
            if self._index.put(key_id, {**found.source, "revoked_at": at}, expect=found, refresh=True):
                return True

    def close(self) -> None:
        """The store belongs to whoever opened it."""


def _key(found: Record) -> KeyRecord:
    src = found.source
    revoked = src.get("revoked_at")
    return KeyRecord(
        key_id=found.id, key_hash=str(src["key_hash"]), name=src.get("name") or "",
        groups=tuple(src.get("groups") or ()), admin=bool(src.get("admin")),
        created_at=float(src["created_at"]), revoked_at=None if revoked is None else float(revoked),
    )  # fmt: skip


def index_shared_state(store: IndexHost, keys_file: Path | None = None) -> SharedState:
    keys = KeyFile(keys_file) if keys_file is not None else IndexKeys(store)
    return SharedState(
        keys, IndexOriginals(store), lambda table: SideIndex(store, table, RECORD_MAPPINGS[table])
    )
