"""A store reads and writes an index whose shard has not started yet (one another server has just
created, a replica being promoted): the node answers 503 until a copy starts, and the store waits
for it instead of failing the request; a shard that never starts becomes StoreUnavailable. The
shard is held back for real with an allocation filter naming no node, then let go."""

from __future__ import annotations

import threading

import pytest

from docstore.opensearch import queries as q
from docstore.opensearch import store as store_module
from docstore.opensearch.store import OpenSearchStore
from docstore.protocol import StoreUnavailable
from docstore.schema import DocumentInfo

pytestmark = pytest.mark.opensearch

NOWHERE = "index.routing.allocation.require._name"


@pytest.fixture
def store(opensearch_store: OpenSearchStore) -> OpenSearchStore:
    return opensearch_store  # a fresh prefix, its indices deleted afterwards (tests/fixtures/stores.py)


def _create_unstarted(store: OpenSearchStore, index: str) -> None:
    """Create `index` as another server would, its primary held unassigned."""
    settings = {**store.index_settings(index), NOWHERE: "no-such-node"}
    mappings = q.docs_mapping() if index == store.docs_index else q.pages_mapping(None)
    body = {"settings": settings, "mappings": mappings}
    store.client.indices.create(index=index, body=body, wait_for_active_shards=0)


def _start_later(store: OpenSearchStore, index: str, after: float) -> threading.Timer:
    timer = threading.Timer(
        after, lambda: store.client.indices.put_settings(index=index, body={NOWHERE: None})
    )
    timer.start()
    return timer


def _info() -> DocumentInfo:
    return DocumentInfo(
        doc_id="d1", collection="c", source="/minutes.md", content_hash="h", page_count=1, pages_stored=0,
        complete=False,
    )  # fmt: skip


def test_reads_and_writes_wait_for_a_shard_that_starts(store: OpenSearchStore) -> None:
    _create_unstarted(store, store.docs_index)
    _create_unstarted(store, store.pages_index)
    with pytest.raises(Exception) as refused:  # the node itself refuses while the shard is down
        store.client.count(index=store.pages_index)
    assert "503" in str(refused.value)
    timers = [_start_later(store, index, 1.0) for index in (store.docs_index, store.pages_index)]
    try:
        assert store.count() == 0
        assert store.get_document("d1") is None
        store.begin_document(_info())
        assert store.get_document("d1") is not None
    finally:
        for timer in timers:
            timer.join()


def test_a_shard_that_never_starts_becomes_store_unavailable(
    store: OpenSearchStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "SHARD_WAIT_SECONDS", 1.0)
    _create_unstarted(store, store.pages_index)
    with pytest.raises(StoreUnavailable, match="no started copy of a shard"):
        store.count()
