"""Page writes the node cannot take yet are sent again, not dropped: a real node refuses them with
429 (an index blocked as if its disk were full) until the block is lifted, and the write then
lands, each page once; a block that stays makes the write fail with StoreUnavailable, and an item
refused for good (a write block, 403) raises at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from docstore.opensearch import store as store_module
from docstore.opensearch.store import OpenSearchStore
from docstore.protocol import StoreUnavailable
from docstore.schema import Page, page_id

pytestmark = pytest.mark.opensearch

BUSY = "index.blocks.read_only_allow_delete"  # refuses writes with 429, as a full disk does
SHUT = "index.blocks.write"  # refuses writes with 403


def _pages(count: int, text: str = "river flood map") -> list[Page]:
    return [
        Page(page_id=page_id("doc", n), doc_id="doc", source="/d.pdf", content_hash="h", page_number=n,
             page_count=count, text=f"{text} {n}", embedding=[1.0, 0.0, 0.0, float(n)])
        for n in range(1, count + 1)
    ]  # fmt: skip


@pytest.fixture
def store(opensearch_url: str, opensearch_index_prefix: str) -> Iterator[OpenSearchStore]:
    os_store = OpenSearchStore(f"{opensearch_url}?prefix={opensearch_index_prefix}")
    os_store.upsert_pages(_pages(2))  # the indices exist before any block
    try:
        yield os_store
    finally:
        os_store.client.indices.delete(index=f"{opensearch_index_prefix}-*", ignore_unavailable=True)
        os_store.close()


def _block(store: OpenSearchStore, setting: str, on: bool) -> None:
    store.client.indices.put_settings(index=store.pages_index, body={setting: True if on else None})


def test_writes_refused_for_a_while_are_sent_again_and_land_once(store: OpenSearchStore) -> None:
    _block(store, BUSY, True)
    lift = threading.Timer(1.5, _block, (store, BUSY, False))
    lift.start()
    try:
        store.upsert_pages(_pages(40, "harbour tide table"))
    finally:
        lift.join()
    assert store.count() == 40  # every page, none twice (two were there before: same ids)
    assert store.get_page(page_id("doc", 40)) is not None


def test_a_refusal_that_lasts_becomes_store_unavailable(
    store: OpenSearchStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BULK_RETRY_SECONDS", 2.0)
    _block(store, BUSY, True)
    try:
        with pytest.raises(StoreUnavailable, match="did not take 3 write"):
            store.upsert_pages(_pages(3, "never stored"))
    finally:
        _block(store, BUSY, False)


def test_a_refusal_for_good_raises_at_once(store: OpenSearchStore) -> None:
    from opensearchpy.helpers import BulkIndexError

    _block(store, SHUT, True)
    try:
        with pytest.raises(BulkIndexError):  # sent again until the deadline, it would end StoreUnavailable
            store.upsert_pages(_pages(3, "never stored"))
    finally:
        _block(store, SHUT, False)
