"""Word boxes in an OpenSearch store live in the images index beside the page image, never in the
pages index that searches read; an images index from before the field gets it mapped on the
first write of a page with word boxes, and its older pages read as having none."""

from __future__ import annotations

import pytest

from docstore.opensearch import queries as q
from docstore.opensearch.store import OpenSearchStore
from docstore.schema import SearchMode, SearchRequest
from docstore.word_boxes import WordBox, encode_word_boxes
from tests.contract.helpers import page

pytestmark = pytest.mark.opensearch

BOXES = encode_word_boxes([WordBox(0, 5, 0.1, 0.2, 0.3, 0.25), WordBox(6, 12, 0.32, 0.2, 0.5, 0.25)])


def _properties(store: OpenSearchStore, index: str) -> dict[str, object]:
    return dict(store.client.indices.get_mapping(index=index)[index]["mappings"]["properties"])


def test_an_images_index_from_before_word_boxes_gets_the_field_on_write(
    opensearch_store: OpenSearchStore,
) -> None:
    store = opensearch_store
    legacy = q.images_mapping()
    del legacy["properties"][q.WORD_BOXES_FIELD]  # the layout before word boxes (strict mapping)
    body = {"settings": store.index_settings(store.images_index), "mappings": legacy}
    store.client.indices.create(index=store.images_index, body=body)
    store.upsert_pages([page("old", 1, "solar panels", image=b"\x89PNG-old")])  # the mapping stays as it was
    assert q.WORD_BOXES_FIELD not in _properties(store, store.images_index)

    later = OpenSearchStore(store.url)  # a later writer maps it, then writes
    later.upsert_pages([page("new", 1, "solar panels", image=b"\x89PNG-new", word_boxes=BOXES)])
    later.close()
    assert _properties(store, store.images_index)[q.WORD_BOXES_FIELD] == {"type": "binary"}
    assert store.get_word_boxes(["old:1", "new:1"]) == {"new:1": BOXES}
    new = store.get_page("new:1")
    assert new is not None and new.word_boxes == BOXES and new.image == b"\x89PNG-new"


def test_word_boxes_stay_out_of_the_pages_index(opensearch_store: OpenSearchStore) -> None:
    store = opensearch_store
    store.upsert_pages([page("a", 1, "solar panels", image=b"\x89PNG-a", word_boxes=BOXES)])
    store.refresh()
    assert q.WORD_BOXES_FIELD not in _properties(store, store.pages_index)
    assert q.WORD_BOXES_FIELD not in store.client.get(index=store.pages_index, id="a:1")["_source"]
    hits = store.search(SearchRequest(query="solar", mode=SearchMode.bm25))
    assert [(h.page.page_id, h.page.word_boxes) for h in hits] == [("a:1", None)]
    assert store.get_word_boxes(["a:1"]) == {"a:1": BOXES}
