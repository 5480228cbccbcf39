"""The OpenSearch node Folio runs against (scripts/opensearch-local, Docker, or
FOLIO_OPENSEARCH_URL): the k-NN plugin answers Lucene-engine vector queries, and Folio's
analyzers exist and split text the way the store relies on."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from docstore.analysis import stem_text
from docstore.opensearch import queries as q
from docstore.schema import Filters
from tests.fixtures.opensearch import opensearch_version

pytestmark = pytest.mark.opensearch

DIM = 4


def _unit(*xs: float) -> list[float]:
    vec = list(xs) + [0.0] * (DIM - len(xs))
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec]


DOCS: list[dict[str, Any]] = [
    {"page_id": "solar:1", "doc_id": "solar", "collection": "energy", "language": "en", "acl": [],
     "title": "Solar panels", "text": "Photovoltaic panels convert sunlight into electricity.",
     "embedding": _unit(1, 0)},
    {"page_id": "wind:1", "doc_id": "wind", "collection": "energy", "language": "en", "acl": ["eng"],
     "title": "Wind turbines", "text": "Turbines convert the wind's energy; a panel of experts agrees.",
     "embedding": _unit(1, 0.3)},
    {"page_id": "lib:1", "doc_id": "lib", "collection": "culture", "language": "zh", "acl": [],
     "title": "", "text": "北京大学图书馆的开放时间", "embedding": _unit(0, 1)},
    {"page_id": "rain:1", "doc_id": "rain", "collection": "culture", "language": "ja", "acl": [],
     "title": "", "text": "東京都の天気予報によると明日は雨です", "embedding": _unit(0.2, 1)},
]  # fmt: skip


@pytest.fixture
def index(opensearch_url: str) -> Iterator[tuple[Any, str]]:
    from opensearchpy import OpenSearch

    client = OpenSearch(opensearch_url, timeout=60)
    name = f"folio-node-test-{uuid.uuid4().hex[:10]}"
    body = {"settings": q.index_settings(knn=True), "mappings": q.pages_mapping(DIM)}
    client.indices.create(index=name, body=body)
    for doc in DOCS:
        stems = stem_text(f"{doc['title']} {doc['text']}", doc["language"])
        client.index(index=name, id=doc["page_id"], body={**doc, q.STEM_FIELD: stems})
    client.indices.refresh(index=name)
    try:
        yield client, name
    finally:
        client.indices.delete(index=name, ignore_unavailable=True)
        client.close()


def _ids(client: Any, index: str, body: dict[str, Any]) -> list[str]:
    return [h["_id"] for h in client.search(index=index, body=body)["hits"]["hits"]]


def test_node_reports_the_version_asked_for(opensearch_url: str) -> None:
    from opensearchpy import OpenSearch

    client = OpenSearch(opensearch_url)
    try:
        # FOLIO_TEST_OPENSEARCH_VERSION, else scripts/opensearch-local's default
        assert client.info()["version"]["number"] == opensearch_version()
        assert client.cluster.health()["status"] in ("green", "yellow")
    finally:
        client.close()


def test_vector_field_is_a_lucene_hnsw_knn_vector(index: tuple[Any, str]) -> None:
    client, name = index
    mapping = client.indices.get_mapping(index=name)[name]["mappings"]["properties"]["embedding"]
    assert mapping["type"] == "knn_vector" and mapping["dimension"] == DIM
    assert mapping["method"]["engine"] == "lucene" and mapping["method"]["space_type"] == "cosinesimil"


def test_analyzers_bigram_cjk_and_stem_english(index: tuple[Any, str]) -> None:
    client, name = index

    def tokens(analyzer: str, text: str) -> list[str]:
        found = client.indices.analyze(index=name, body={"analyzer": analyzer, "text": text})
        return [t["token"] for t in found["tokens"]]

    assert tokens("folio_text", "北京大学") == ["北京", "京大", "大学"]
    assert tokens("folio_text", "ＡＢＣ ﬁle AND") == ["abc", "file", "and"]  # width, ligature, no stop words
    # The stemmed field holds terms docstore.analysis made: indexed as they come.
    assert tokens("whitespace", stem_text("Panels converting", "en")) == ["panel", "convert"]


def test_bm25_ranks_title_and_text_matches(index: tuple[Any, str]) -> None:
    client, name = index
    langs = ["en", "ja", "zh"]  # the languages of the index's pages
    bm25 = q.build_bm25_query
    assert _ids(client, name, bm25("panels", languages=langs)) == ["solar:1", "wind:1"]  # title+text, then stem
    assert _ids(client, name, bm25("图书馆", languages=langs)) == ["lib:1"]
    assert _ids(client, name, bm25("天気予報", languages=langs)) == ["rain:1"]
    assert _ids(client, name, bm25("panels", Filters(groups=[]), languages=langs)) == ["solar:1"]


def test_knn_ranks_by_cosine(index: tuple[Any, str]) -> None:
    client, name = index
    result = client.search(index=name, body=q.build_knn_query(_unit(1, 0.1), 4))
    hits = result["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["solar:1", "wind:1", "rain:1", "lib:1"]
    assert all(a["_score"] > b["_score"] for a, b in zip(hits, hits[1:], strict=False))
    assert "embedding" not in hits[0]["_source"]


def test_filtered_knn_returns_k_matching_documents(index: tuple[Any, str]) -> None:
    client, name = index
    # The two nearest pages are in "energy"; filtering inside kNN still returns k culture pages.
    body = q.build_knn_query(_unit(1, 0.1), 2, Filters(collection="culture"))
    assert _ids(client, name, body) == ["rain:1", "lib:1"]
    # ACL: the "eng" page is hidden from other groups, and the next visible page takes its place.
    body = q.build_knn_query(_unit(1, 0.3), 2, Filters(groups=["sales"]))
    assert _ids(client, name, body) == ["solar:1", "rain:1"]
    body = q.build_knn_query(_unit(1, 0.3), 2, Filters(groups=["eng"]))
    assert _ids(client, name, body) == ["wind:1", "solar:1"]
