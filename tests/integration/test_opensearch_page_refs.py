"""Every page in the OpenSearch pages index carries its reference (`rerank_ref`, a keyword in
`_source`) for a search pipeline's rerank processor to send; an index from before the field gets it
mapped on its next write, and its older pages get it from the one-off update docs/operations.md
shows (run here as written there)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from docstore.candidates import page_ref
from docstore.opensearch import queries as q
from docstore.opensearch.store import OpenSearchStore
from docstore.schema import Page, SearchMode, SearchRequest
from tests.fixtures.paths import REPO

pytestmark = pytest.mark.opensearch


def _page(doc: str, text: str) -> Page:
    return Page(
        page_id=f"{doc}:1", doc_id=doc, source=f"/{doc}.pdf", content_hash="h", page_number=1,
        page_count=1, text=text,
    )  # fmt: skip


@pytest.fixture
def store(opensearch_url: str, opensearch_index_prefix: str) -> Iterator[OpenSearchStore]:
    s = OpenSearchStore(f"{opensearch_url}?prefix={opensearch_index_prefix}")
    try:
        yield s
    finally:
        s.client.indices.delete(index=f"{opensearch_index_prefix}-*", expand_wildcards="all")
        s.close()


def _source(store: OpenSearchStore, page_id: str) -> dict[str, object]:
    return dict(store.client.get(index=store.pages_index, id=page_id)["_source"])


def _documented_requests() -> list[tuple[str, str, dict[str, object]]]:
    """(method, path, body) of the console block in docs/operations.md's page-reference section."""
    text = (REPO / "docs" / "operations.md").read_text()
    section = text[text.index("### Page references in an OpenSearch index") :]
    block = section[section.index("```console\n") + len("```console\n") :]
    block = block[: block.index("```")]
    requests = []
    for chunk in re.split(r"\n(?=(?:PUT|POST) )", block.strip()):
        line, _, body = chunk.partition("\n")
        method, path = line.split(" ", 1)
        requests.append((method, path, json.loads(body)))
    return requests


def test_a_new_index_maps_the_reference_and_every_page_carries_it(store: OpenSearchStore) -> None:
    store.upsert_pages([_page("a", "solar panels"), _page("b", "wind turbines")])
    store.refresh()
    mapping = store.client.indices.get_mapping(index=store.pages_index)[store.pages_index]["mappings"]
    assert mapping["properties"][q.REF_FIELD] == {"type": "keyword"}
    assert q.REF_FIELD not in mapping["_source"].get("excludes", [])
    assert _source(store, "a:1")[q.REF_FIELD] == page_ref("a:1") == "folio-page:a:1"
    # the field is searchable as a keyword, and reads give plain pages
    found = store.client.search(
        index=store.pages_index, body={"query": {"term": {q.REF_FIELD: "folio-page:b:1"}}}
    )
    assert [h["_id"] for h in found["hits"]["hits"]] == ["b:1"]
    assert store.get_page("a:1") == _page("a", "solar panels")
    hits = store.search(SearchRequest(query="solar", mode=SearchMode.bm25, top_k=5))
    assert [h.page.page_id for h in hits] == ["a:1"]


def test_an_index_from_before_the_field_gets_it_on_write_and_by_the_documented_update(
    store: OpenSearchStore,
) -> None:
    legacy = q.pages_mapping(None)
    del legacy["properties"][q.REF_FIELD]  # the layout before page references (strict mapping)
    store.client.indices.create(
        index=store.pages_index, body={"settings": q.index_settings(knn=True), "mappings": legacy}
    )
    old = _page("old", "an old page").model_dump(exclude={"image", "thumbnail", "word_boxes", "embedding"})
    store.client.index(index=store.pages_index, id="old:1", body=old, refresh=True)

    store.upsert_pages([_page("new", "a new page")])  # maps the field, then writes it
    store.refresh()
    assert _source(store, "new:1")[q.REF_FIELD] == "folio-page:new:1"
    assert q.REF_FIELD not in _source(store, "old:1")
    assert store.get_page("old:1") is not None

    requests = _documented_requests()
    assert [(m, p.split("?")[0]) for m, p, _ in requests] == [
        ("PUT", "<prefix>-pages/_mapping"),
        ("POST", "<prefix>-pages/_update_by_query"),
    ]
    assert requests[1][2] == q.REF_BACKFILL  # the doc shows the body the code defines
    for method, path, body in requests:  # as written, on this index (mapping it again is harmless)
        url = "/" + path.replace("<prefix>", store.prefix)
        store.client.transport.perform_request(method, url, body=body)
    assert _source(store, "old:1")[q.REF_FIELD] == "folio-page:old:1"
    assert _source(store, "new:1")[q.REF_FIELD] == "folio-page:new:1"
    again = store.client.transport.perform_request("POST", "/" + requests[1][1].replace("<prefix>", store.prefix),
                                                   body=requests[1][2])  # fmt: skip
    assert again["updated"] == 0  # only pages without a reference are touched
