"""A small index of records beside a store's page indices (``{prefix}-{name}``), for what API
servers share through the store (docstore.opensearch.shared_state): keys, upload jobs, replica
heartbeats, upload name claims, uploaded originals.

Records are read and written by id, which OpenSearch serves in real time (no refresh needed),
with optimistic concurrency (a record's ``seq_no``/``primary_term``) so two replicas never
overwrite each other blindly. The index is created on first write with the store's index
settings (so it gets the store's shards and replicas), and a read of a missing index finds
nothing. Connection and auth failures surface as ``StoreUnavailable``, as in the store."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any, Protocol

from docstore.shared_state import Record


class IndexHost(Protocol):
    """What a side index uses of its store (docstore.opensearch.store.OpenSearchStore)."""

    prefix: str

    @property
    def client(self) -> Any: ...

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any: ...

    def create_index(self, index: str, mappings: dict[str, Any] | None = None) -> None: ...

    def bulk(self, actions: Iterable[dict[str, Any]], refresh: bool | str | None = None) -> None: ...

    def search_index(self, index: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]: ...


class SideIndex:
    def __init__(self, store: IndexHost, name: str, mappings: dict[str, Any]) -> None:
        self.store = store
        self.index = f"{store.prefix}-{name}"
        self._mappings = mappings

    def get(self, record_id: str) -> Record | None:
        store = self.store
        found = store.call(store.client.get, index=self.index, id=record_id, ignore=404)
        if not found.get("found"):
            return None
        return Record(record_id, dict(found["_source"]), (int(found["_seq_no"]), int(found["_primary_term"])))

    def put(
        self,
        record_id: str,
        body: dict[str, Any],
        *,
        expect: Record | None = None,
        create_only: bool = False,
        refresh: bool = False,
    ) -> bool:
        """Write a record; False when `expect` (the record as read) or `create_only` lost a race."""
        from opensearchpy import ConflictError

        self.store.create_index(self.index, self._mappings)
        options: dict[str, Any] = {"refresh": "true" if refresh else "false"}
        if expect is not None:
            options.update(if_seq_no=expect.version[0], if_primary_term=expect.version[1])
        if create_only:
            options["op_type"] = "create"
        try:
            self.store.call(self.store.client.index, index=self.index, id=record_id, body=body, **options)
        except ConflictError:
            return False
        return True

    def delete(self, record_ids: Iterable[str], refresh: bool = False) -> None:
        """Delete records by id (ids that are gone already are fine)."""
        actions = [{"_op_type": "delete", "_index": self.index, "_id": i} for i in record_ids]
        if actions:
            self.store.bulk(actions, refresh=refresh)

    def bulk_put(
        self, records: Iterable[tuple[str, dict[str, Any]]], batch: int = 100, refresh: bool = False
    ) -> None:
        """Write many records (each replaces its id), `batch` at a time, so big records (an
        original's chunks) are never all in memory at once."""
        self.store.create_index(self.index, self._mappings)
        actions = ({"_index": self.index, "_id": i, "_source": body} for i, body in records)
        while group := list(itertools.islice(actions, batch)):
            self.store.bulk(group, refresh=refresh)

    def search(self, query: dict[str, Any], size: int = 1000, sort: list[Any] | None = None) -> list[Record]:
        """Records matching `query` (only those visible to search: written over a second ago, or
        with refresh)."""
        body: dict[str, Any] = {"query": query, "size": size, "seq_no_primary_term": True}
        if sort:
            body["sort"] = sort
        result = self.store.search_index(self.index, body)
        return [
            Record(h["_id"], dict(h["_source"]), (int(h.get("_seq_no", 0)), int(h.get("_primary_term", 0))))
            for h in result["hits"]["hits"]
        ]

    def older_than(self, field: str, before: float, where: dict[str, list[str]] | None = None) -> list[str]:
        filters: list[dict[str, Any]] = [{"range": {field: {"lt": before}}}]
        filters += [{"terms": {name: values}} for name, values in (where or {}).items()]
        return [r.id for r in self.search({"bool": {"filter": filters}})]
