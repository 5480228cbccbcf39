"""Bulk-load mode for a first load of many pages (`OpenSearchStore.bulk_load`): while it runs, the
pages and images indices are not refreshed (new pages stay hidden from searches until it ends) and
keep no replica (each page is indexed once; replicas are copied from the finished segments after,
cheaper than indexing every page on every copy), and page writes go a few bulk requests at a time.
k-NN graphs are built as the engine merges segments, as in any other write.

The settings an index had are recorded in the pages index's mapping `_meta` (LOAD_RECORD) before
they are changed, and put back from there when the load ends, however it ends. A loading process
that was killed leaves the record: the next bulk load keeps it as the settings to put back, and a
store's first page write outside a load puts them back at once."""

from __future__ import annotations

from typing import Any, Protocol

LOAD_RECORD = "folio_bulk_load"  # _meta key: {index: {setting: value before the load (None: unset)}}
# auto_expand_replicas would set the replicas back as soon as they were changed: it goes off too
LOAD_SETTINGS: dict[str, Any] = {
    "index.refresh_interval": "-1",
    "index.number_of_replicas": 0,
    "index.auto_expand_replicas": "false",
}
LOAD_THREADS = 3  # bulk requests in flight during a load (a pass of many pages spans several)


class LoadHost(Protocol):
    """What a load uses of its store (docstore.opensearch.store.OpenSearchStore)."""

    pages_index: str
    images_index: str

    @property
    def client(self) -> Any: ...

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any: ...

    def create_index(self, index: str, mappings: dict[str, Any] | None = None) -> None: ...

    def update_meta(self, key: str, value: Any) -> None: ...


def read_record(store: LoadHost) -> dict[str, dict[str, Any]]:
    """The settings a load in progress (or a killed one) will put back, by index; {} when none."""
    found = store.call(store.client.indices.get_mapping, index=store.pages_index, ignore=404)
    meta = found.get(store.pages_index, {}).get("mappings", {}).get("_meta", {})
    return dict(meta.get(LOAD_RECORD) or {})


def begin(store: LoadHost) -> None:
    """Record the settings of the store's existing pages and images indices (a killed load's record
    stays: it holds the settings from before that load), then switch them to LOAD_SETTINGS."""
    store.create_index(store.pages_index)  # the record lives in its mapping
    record = read_record(store)
    for index in (store.pages_index, store.images_index):
        if index not in record and store.call(store.client.indices.exists, index=index):
            record[index] = _settings(store, index)
    store.update_meta(LOAD_RECORD, record)
    for index in record:
        _put(store, index, LOAD_SETTINGS)


def join(store: LoadHost, index: str) -> None:
    """An index created during the load: record its settings and switch it too."""
    record = read_record(store)
    record.setdefault(index, _settings(store, index))
    store.update_meta(LOAD_RECORD, record)
    _put(store, index, LOAD_SETTINGS)


def end(store: LoadHost) -> bool:
    """Put back the recorded settings, make the loaded pages searchable and drop the record;
    False when there was no record."""
    record = read_record(store)
    if not record:
        return False
    for index, settings in record.items():
        if store.call(store.client.indices.exists, index=index):  # one deleted meanwhile has none
            _put(store, index, settings)
            store.call(store.client.indices.refresh, index=index)
    store.update_meta(LOAD_RECORD, None)
    return True


def _settings(store: LoadHost, index: str) -> dict[str, Any]:
    found = store.call(store.client.indices.get_settings, index=index, flat_settings=True)
    settings = found[index]["settings"]
    return {key: settings.get(key) for key in LOAD_SETTINGS}


def _put(store: LoadHost, index: str, settings: dict[str, Any]) -> None:
    store.call(store.client.indices.put_settings, index=index, body=settings)
