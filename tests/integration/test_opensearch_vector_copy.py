"""The pages index keeps its vector out of the stored _source (an exact float32 copy rides
beside the text instead), and a pages index created before that layout still reads and writes."""

from __future__ import annotations

import pytest

from docstore.opensearch import queries as q
from docstore.opensearch.store import OpenSearchStore
from docstore.schema import Page, SearchMode, SearchRequest

pytestmark = pytest.mark.opensearch


def _page(n: int, vector: list[float]) -> Page:
    return Page(
        page_id=f"d{n}:1", doc_id=f"d{n}", collection="c", source=f"/d{n}.pdf", content_hash="h",
        page_number=1, page_count=1, title=f"Page {n}", text=f"solar panel report number {n}",
        embedding=vector,
    )  # fmt: skip


VECTORS = [[1.0, 0.0, 0.0, 0.0], [0.6, 0.8, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]


def _check_reads(store: OpenSearchStore) -> None:
    got = store.get_page("d1:1")
    assert got is not None and got.embedding == pytest.approx(VECTORS[1], abs=1e-7)
    for mode in SearchMode:
        hits = store.search(
            SearchRequest(query="solar report", vector=[1.0, 0.1, 0.0, 0.0], mode=mode, top_k=3)
        )
        assert {h.page.page_id for h in hits} == {"d0:1", "d1:1", "d2:1"}
        assert all(h.page.embedding is None for h in hits)  # hits never carry the vector
    knn = store.search(SearchRequest(query="", vector=[0.0, 0.0, 1.0, 0.0], mode=SearchMode.knn, top_k=1))
    assert knn[0].page.page_id == "d2:1"


def test_new_index_stores_the_float32_copy_not_the_json_vector(
    opensearch_url: str, opensearch_index_prefix: str
) -> None:
    store = OpenSearchStore(f"{opensearch_url}?prefix={opensearch_index_prefix}")
    try:
        store.upsert_pages([_page(i, v) for i, v in enumerate(VECTORS)])
        store.refresh()
        raw = store.client.get(index=store.pages_index, id="d0:1")["_source"]
        assert "embedding" not in raw and q.VECTOR_COPY in raw
        _check_reads(store)
    finally:
        store.client.indices.delete(index=f"{opensearch_index_prefix}-*")


def test_index_from_before_the_copy_still_works(opensearch_url: str, opensearch_index_prefix: str) -> None:
    store = OpenSearchStore(f"{opensearch_url}?prefix={opensearch_index_prefix}")
    try:
        legacy = q.pages_mapping(4)
        del legacy["_source"], legacy["properties"][q.VECTOR_COPY]  # the earlier layout
        store.client.indices.create(
            index=store.pages_index, body={"settings": q.index_settings(knn=True), "mappings": legacy}
        )
        store.upsert_pages([_page(i, v) for i, v in enumerate(VECTORS)])  # strict mapping: no copy sent
        store.refresh()
        raw = store.client.get(index=store.pages_index, id="d0:1")["_source"]
        assert q.VECTOR_COPY not in raw and raw["embedding"] == VECTORS[0]
        _check_reads(store)
    finally:
        store.client.indices.delete(index=f"{opensearch_index_prefix}-*")
