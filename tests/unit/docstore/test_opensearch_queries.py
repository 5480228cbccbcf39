"""The OpenSearch request builders, URL parsing and record conversion, checked as plain data."""

from __future__ import annotations

import base64

import pytest

from docstore.analysis import STEM_WEIGHT
from docstore.fusion import fusion_depth, knn_depth
from docstore.opensearch import queries as q
from docstore.opensearch import search as s
from docstore.opensearch.records import hits_from, images_from_source, page_actions, page_from_source
from docstore.opensearch.url import parse_opensearch_url
from docstore.schema import Filters, Page, SearchMode, SearchRequest


def _page(**kw: object) -> Page:
    base: dict[str, object] = dict(
        page_id="d:1",
        doc_id="d",
        source="/x.pdf",
        content_hash="h",
        page_number=1,
        page_count=1,
        text="hello",
    )
    base.update(kw)
    return Page.model_validate(base)


def test_every_vector_mapping_uses_the_lucene_engine_with_cosine() -> None:
    field = q.pages_mapping(384)["properties"]["embedding"]
    assert field == {
        "type": "knn_vector",
        "dimension": 384,
        "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
    }
    assert "embedding" not in q.pages_mapping(None)["properties"]
    # the JSON vector is not stored; its exact float32 copy is
    assert q.pages_mapping(384)["_source"] == {"excludes": ["embedding", q.STEM_FIELD]}
    assert q.pages_mapping(384)["properties"][q.VECTOR_COPY] == {"type": "binary"}
    with pytest.raises(ValueError):
        q.knn_vector_field(0)


def test_pages_index_declares_knn_and_the_cjk_aware_analyzers() -> None:
    settings = q.index_settings(knn=True)["index"]
    assert settings["knn"] is True
    analyzers = settings["analysis"]["analyzer"]
    assert analyzers["folio_text"]["tokenizer"] == "standard"
    assert analyzers["folio_text"]["filter"] == ["cjk_width", "lowercase", "cjk_bigram"]
    assert set(analyzers) == {"folio_text"}  # the stemmed field is analysed in Python (docstore.analysis)
    assert analyzers["folio_text"]["char_filter"] == ["folio_ligatures", "folio_word_breaks"]
    breaks = settings["analysis"]["char_filter"]["folio_word_breaks"]
    assert breaks["type"] == "pattern_replace" and breaks["replacement"] == " "
    for joiner in "'’.,:;":  # where Unicode word breaking joins ("library's", "1.5") and analysis splits
        assert joiner in q.WORD_JOINERS
    # FTS5's BM25, as a scripted similarity: the pages index's default, so every text field has it
    similarity = settings["similarity"]["default"]
    assert similarity["type"] == "scripted"
    assert "Math.log((n - df + 0.5) / (df + 0.5))" in similarity["weight_script"]["source"]
    assert "1e-6" in similarity["weight_script"]["source"]
    assert "2.2" in similarity["script"]["source"]  # k1 + 1, k1 = 1.2
    props = q.pages_mapping(8)["properties"]
    assert props["title"]["copy_to"] == props["text"]["copy_to"] == ["content"]
    assert props[q.STEM_FIELD] == {
        "type": "text",
        "analyzer": "whitespace",
    }  # terms made by docstore.analysis
    assert "knn" not in q.index_settings()["index"]  # images/docs indices need no k-NN
    assert "similarity" not in q.index_settings()["index"]  # nor the pages' BM25


def test_acl_clause_allows_public_pages_and_shared_groups() -> None:
    assert q.acl_clause(None) is None
    public = {"bool": {"must_not": [{"exists": {"field": "acl"}}]}}
    assert q.acl_clause([]) == public
    assert q.acl_clause(["hr", "eng"]) == {
        "bool": {"should": [public, {"terms": {"acl": ["hr", "eng"]}}], "minimum_should_match": 1}
    }


def test_filters_become_term_clauses_and_documents_ignore_language() -> None:
    f = Filters(collection="c", doc_id="d", language="de", groups=["g"])
    clauses = q.filter_clauses(f)
    assert clauses[:3] == [
        {"term": {"collection": "c"}},
        {"term": {"doc_id": "d"}},
        {"term": {"language": "de"}},
    ]
    assert clauses[3] == q.acl_clause(["g"])
    assert {"term": {"language": "de"}} not in q.filter_clauses(f, language=False)
    assert q.filter_clauses(None) == [] and q.filter_clauses(Filters()) == []
    assert q.build_docs_query(Filters())["query"] == {"match_all": {}}


def test_bm25_query_is_plain_text_over_content_and_stems_with_filters() -> None:
    body = q.build_bm25_query('Panels AND "b', Filters(collection="c"), size=5, offset=10, languages=["en"])
    assert (body["from"], body["size"]) == (10, 5)
    exact, stemmed = body["query"]["bool"]["must"][0]["bool"]["should"]
    # no query-string syntax: operators are words; English stop words ("and") only on the exact field
    assert exact == {"match": {"content": {"query": "panels b"}}}
    # a lone letter is searched on the exact field only; stems count STEM_WEIGHT times
    assert stemmed == {"match": {q.STEM_FIELD: {"query": "panel", "boost": STEM_WEIGHT}}}
    assert body["query"]["bool"]["filter"] == [{"term": {"collection": "c"}}]
    assert body["_source"] is True  # unfiltered: the stored source holds no JSON vector
    assert q.build_bm25_query("x", source=False)["_source"] is False
    # a query made only of stop words is searched on the exact field alone
    only_stops = q.build_bm25_query("to be or not", languages=["en"])["query"]["bool"]["must"][0]["bool"][
        "should"
    ]
    assert only_stops == [{"match": {"content": {"query": "to be or not"}}}]
    assert q.build_bm25_query("*** ()")["query"]["bool"]["must"] == [{"match_none": {}}]


def test_knn_query_filters_inside_the_knn_clause_not_after() -> None:
    body = q.build_knn_query([0.1, 0.2], 13, Filters(groups=[]), offset=10)
    knn = body["query"]["knn"]["embedding"]
    assert knn["k"] == 13 and knn["vector"] == [0.1, 0.2]
    assert knn["filter"] == {"bool": {"filter": [q.acl_clause([])]}}
    assert "post_filter" not in body and (body["from"], body["size"]) == (10, 3)
    assert "filter" not in q.build_knn_query([1.0], 3)["query"]["knn"]["embedding"]
    with pytest.raises(ValueError):
        q.build_knn_query([1.0], 0)


def test_hybrid_msearch_asks_each_ranking_to_its_fusion_depth_without_pages() -> None:
    lines = s.build_hybrid_msearch("p-pages", "q", [1.0], Filters(doc_id="d"), want=300)
    assert lines[0] == lines[2]
    assert lines[0]["index"] == "p-pages" and lines[0]["request_cache"] is True
    assert lines[0]["preference"] == s.preference_for("q", Filters(doc_id="d"))
    assert lines[1]["size"] == 600 and "_source" not in lines[1]
    assert lines[1]["stored_fields"] == "_none_" and lines[1]["docvalue_fields"] == ["page_id"]
    assert lines[1]["query"]["bool"]["filter"] == [{"term": {"doc_id": "d"}}]
    knn = lines[3]["query"]["knn"]["embedding"]
    assert knn["k"] == 600 and knn["filter"] == {"bool": {"filter": [{"term": {"doc_id": "d"}}]}}
    assert lines[3]["docvalue_fields"] == ["page_id"] and "_source" not in lines[3]
    assert len(s.build_hybrid_msearch("i", "q", None, None, want=600)) == 2  # no vector: BM25 only
    assert [fusion_depth(w) for w in (1, 10, 100, 101, 600, 5000)] == [200, 200, 200, 202, 1200, 2000]
    assert [knn_depth(w) for w in (1, 10, 25, 26, 100, 600, 5000)] == [50, 50, 50, 52, 200, 1200, 2000]
    small = s.build_hybrid_msearch("p-pages", "q", [1.0], None, want=10)
    assert small[1]["size"] == 200 and small[3]["query"]["knn"]["embedding"]["k"] == 50


def test_preference_is_stable_per_query_and_filters_and_never_reserved() -> None:
    first = s.preference_for("Fourier", Filters(collection="a"))
    assert first == s.preference_for("Fourier", Filters(collection="a")) and not first.startswith("_")
    assert first != s.preference_for("Fourier", Filters(collection="b"))
    assert first != s.preference_for("fourier", Filters(collection="a"))


def test_msearch_rankings_keep_order_and_scores_and_raise_real_failures() -> None:
    result = {
        "responses": [
            {
                "hits": {
                    "hits": [
                        {"_score": 2.0, "fields": {"page_id": ["a"]}},
                        {"_score": 1, "fields": {"page_id": ["b"]}},
                    ]
                }
            },
            {},  # filter_path drops `hits` when a search found nothing
            {"error": {"type": "index_not_found_exception", "reason": "no such index"}},
        ]
    }
    assert s.rankings(result) == [[("a", 2.0), ("b", 1.0)], []]
    with pytest.raises(RuntimeError, match="search_phase_execution_exception"):
        s.rankings({"responses": [{"error": {"type": "search_phase_execution_exception", "reason": "r"}}]})


def test_page_lookup_checks_acl_in_the_query() -> None:
    body = q.build_pages_lookup(["d:1"], ["hr"])
    assert body["query"]["bool"]["filter"] == [{"terms": {"page_id": ["d:1"]}}, q.acl_clause(["hr"])]
    assert body["size"] == 1 and "_source" not in body  # the whole source unless told
    lookup = q.build_pages_lookup(["d:1", "d:2"], None, ["page_id", "image"])
    assert lookup["query"]["bool"]["filter"] == [{"terms": {"page_id": ["d:1", "d:2"]}}]
    assert lookup["size"] == 2 and lookup["_source"] == ["page_id", "image"]


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "prefix"),
    [
        ("opensearch://localhost:9200", "http", "localhost", 9200, "folio"),
        ("opensearchs://search.example:443?prefix=team-a", "https", "search.example", 443, "team-a"),
        ("http://127.0.0.1:9250?prefix=folio-test-1", "http", "127.0.0.1", 9250, "folio-test-1"),
        ("https://h", "https", "h", 9200, "folio"),
    ],
)
def test_store_urls_parse(url: str, scheme: str, host: str, port: int, prefix: str) -> None:
    target = parse_opensearch_url(url)
    assert (target.scheme, target.hosts, target.prefix) == (scheme, [(host, port)], prefix)
    options = target.client_options()
    assert options["use_ssl"] == (scheme == "https") and "http_auth" not in options


def test_credentials_and_options_in_the_url() -> None:
    target = parse_opensearch_url("opensearchs://admin:p%40ss@h:9200?verify=false&refresh=wait_for")
    assert target.client_options()["http_auth"] == ("admin", "p@ss")
    assert target.verify_certs is False and target.refresh == "wait_for"
    assert "p@ss" not in target.address and "admin" not in target.address


@pytest.mark.parametrize(
    "url",
    ["sqlite:///x.db", "opensearch://", "opensearch://h:99999", "opensearch://h?prefix=Upper",
     "opensearch://h?prefix=a*b", "opensearch://h?refresh=sometimes", "opensearch://h?bogus=1",
     "opensearch://h?verify=maybe", "opensearch://h?prefix="],
)  # fmt: skip
def test_bad_urls_raise_a_clear_value_error(url: str) -> None:
    with pytest.raises(ValueError):
        parse_opensearch_url(url)


def test_page_actions_split_images_out_and_clear_stale_ones() -> None:
    with_image = _page(image=b"\x89PNG", thumbnail=b"JPG", acl=["hr"], embedding=[1.0, 0.0])
    without = _page(page_id="d:2", page_number=2)
    actions = list(page_actions([with_image, without], "p-pages", "p-images"))
    assert [(a.get("_op_type", "index"), a["_index"], a["_id"]) for a in actions] == [
        ("index", "p-pages", "d:1"),
        ("index", "p-images", "d:1"),
        ("index", "p-pages", "d:2"),
        ("delete", "p-images", "d:2"),
    ]
    assert "image" not in actions[0]["_source"] and actions[0]["_source"]["embedding"] == [1.0, 0.0]
    assert page_from_source(actions[0]["_source"]).embedding == [1.0, 0.0]  # read from the copy
    old = list(page_actions([with_image], "p", "i", vector_copy=False))[0]["_source"]
    assert q.VECTOR_COPY not in old and page_from_source(old).embedding == [1.0, 0.0]
    image_doc = actions[1]["_source"]
    assert image_doc["acl"] == ["hr"] and base64.b64decode(image_doc["image"]) == b"\x89PNG"
    assert images_from_source(image_doc) == {"image": b"\x89PNG", "thumbnail": b"JPG"}
    assert [a["_index"] for a in page_actions([without], "p-pages", None)] == ["p-pages"]


def test_hits_are_ranked_from_the_offset_with_marked_snippets() -> None:
    source = _page(text="the reranker scores pages").model_dump(exclude={"image", "thumbnail", "embedding"})
    hits = hits_from([(source, 2.5), (source, 1.0)], SearchRequest(query="reranker", offset=4))
    assert [h.rank for h in hits] == [5, 6] and hits[0].score == 2.5
    assert "<mark>reranker</mark>" in hits[0].snippet
    plain = hits_from([(source, 2.5)], SearchRequest(query="reranker", snippets=False))
    assert plain[0].snippet == "" and plain[0].page.text == "the reranker scores pages"


def test_store_is_lazy_and_an_unreachable_node_raises_store_unavailable() -> None:
    from docstore.opensearch.store import OpenSearchStore
    from docstore.protocol import Store, StoreUnavailable
    from docstore.store import open_store

    store = open_store("opensearch://127.0.0.1:1?prefix=nowhere")  # nothing listens on port 1
    assert isinstance(store, OpenSearchStore) and isinstance(store, Store)  # built without I/O
    assert store.ping() is False
    with pytest.raises(StoreUnavailable, match="cannot reach OpenSearch at http://127.0.0.1:1"):
        store.count()
    with pytest.raises(StoreUnavailable):
        store.search(SearchRequest(query="x", mode=SearchMode.bm25))
    store.close()
