"""What the API servers on one store share through it, behind one capability of the store:
`Store.shared_state()`. Each backend chooses where it keeps them:

- an OpenSearch store (docstore.opensearch.shared_state): indices beside its pages
  (`{prefix}-keys`, `{prefix}-jobs`, `{prefix}-replicas`, `{prefix}-upload-names`,
  `{prefix}-sessions`, `{prefix}-originals`), so every replica on the store sees them;
- a SQLite store (docstore.sqlite.shared_state): keys in `keys.db` beside its file, the records
  in its own table `shared_records` (every process on the file sees them), and an upload's
  original where it was indexed from.

A keys file given to `shared_state(keys_file=...)` holds the keys instead, on either backend."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from docstore.originals import Originals

# The record tables and their records' fields (an OpenSearch store's mappings fix them):
#   jobs          upload jobs: job_id, replica_id, state, updated_at, job (kept as is)
#   replicas      heartbeats: replica_id, host, pid, started_at, heartbeat_at, stopped_at
#   upload-names  names claimed while their upload is indexed: name, replica_id, claimed_at
#   sessions      signed-in browsers and pending sign-ins: kind, expires_at, data (kept as is)
RecordTable = Literal["jobs", "replicas", "upload-names", "sessions"]


@dataclass(frozen=True)
class Record:
    id: str
    source: dict[str, Any]
    version: tuple[int, ...]  # what a conditional write compares; opaque to callers


class Records(Protocol):
    """Records by id, read in real time, written with optimistic concurrency so two writers never
    overwrite each other blindly."""

    def get(self, record_id: str) -> Record | None: ...

    def put(
        self, record_id: str, body: dict[str, Any], *, expect: Record | None = None, create_only: bool = False
    ) -> bool:
        """Write a record (replacing any); False when the record is no longer `expect` (as read),
        or when `create_only` finds one there already."""
        ...

    def delete(self, record_ids: Iterable[str]) -> None:
        """Delete records by id (ids that are gone already are fine)."""
        ...

    def older_than(self, field: str, before: float, where: dict[str, list[str]] | None = None) -> list[str]:
        """Ids (up to 1000) of the records whose number `field` is below `before` and whose
        `where` fields each hold one of the values listed."""
        ...


@dataclass(frozen=True)
class KeyRecord:
    """An API key as stored: its SHA-256, never the key."""

    key_id: str
    key_hash: str
    name: str
    groups: tuple[str, ...]
    admin: bool
    created_at: float
    revoked_at: float | None = None


class KeyRecords(Protocol):
    @property
    def where(self) -> str:
        """Where the keys live, in words (a file path, or the store's keys index)."""
        ...

    @property
    def remote(self) -> bool:
        """Whether reads cross the network (then a verified key may be trusted for a while)."""
        ...

    def add(self, record: KeyRecord) -> bool:
        """False when a key with its id exists already (an id is never reused)."""
        ...

    def get(self, key_id: str) -> KeyRecord | None: ...

    def all(self) -> list[KeyRecord]:
        """Every key, revoked ones too, oldest first."""
        ...

    def revoke(self, key_id: str, at: float) -> bool:
        """True when an active key was revoked."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SharedState:
    """A store's shared state: its key records, its uploaded originals, and its record tables."""

    keys: KeyRecords
    originals: Originals
    records: Callable[[RecordTable], Records]
